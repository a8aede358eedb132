// The Python program the test topology runs in its namespaces, as text (so
// it ships inside dist/ with no extra file): one process per namespace.
//
//   server NAME TCP_PORTS UDP_PORTS SCTP_PORTS   (ports comma-separated)
//     Listens on every port over IPv4 and IPv6. Answers each TCP or SCTP
//     connection (on accept, then once per line received) and each UDP
//     datagram with the line "NAME CLIENT_ADDRESS LOCAL_ADDRESS", where
//     LOCAL_ADDRESS is the address the packets were sent to: the VIP with
//     direct routing and tunnels, the backend's own with NAT. UDP answers are
//     sent from that address (so direct-routing replies come from the VIP).
//     Prints {"ready": true, "sctp": bool} once listening.
//   client
//     Reads JSON commands on stdin and answers each with one JSON line:
//     {"id", "op": "request", "requests": [...]} makes each request in turn
//     (a new socket, optional source address/port, connect, read the answer;
//     TCP then half-closes and waits for the server's close, SCTP closes) and
//     returns "results"; "open" keeps the connection ("conn" names it),
//     "ping" sends a line on a kept connection and reads the answer, "close"
//     ends it.
// Python rather than a process per request: starting a process costs ~0.3-1 s
// in the emulated VM, one request in a running agent a few milliseconds.
export const AGENT_SOURCE = String.raw`
import json, selectors, socket, struct, sys

IP_PKTINFO = getattr(socket, 'IP_PKTINFO', 8)
IPV6_RECVPKTINFO = getattr(socket, 'IPV6_RECVPKTINFO', 49)
IPV6_PKTINFO = getattr(socket, 'IPV6_PKTINFO', 50)
SCTP = getattr(socket, 'IPPROTO_SCTP', 132)


def out(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def server(name, tcp_ports, udp_ports, sctp_ports):
    sel = selectors.DefaultSelector()
    sctp_ok = True
    errors = []

    def listen(family, kind, proto, port, label):
        s = socket.socket(family, kind, proto)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind(('::' if family == socket.AF_INET6 else '0.0.0.0', port))
        if kind == socket.SOCK_DGRAM:
            if family == socket.AF_INET:
                s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            sel.register(s, selectors.EVENT_READ, ('udp', family))
        else:
            s.listen(128)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, ('listen', label))

    for fam in (socket.AF_INET, socket.AF_INET6):
        for p in tcp_ports:
            listen(fam, socket.SOCK_STREAM, 0, p, 'tcp')
        for p in udp_ports:
            listen(fam, socket.SOCK_DGRAM, 0, p, 'udp')
        for p in sctp_ports:
            try:
                listen(fam, socket.SOCK_STREAM, SCTP, p, 'sctp')
            except OSError as e:
                sctp_ok = False
                errors.append('sctp: ' + str(e))
    out({'ready': True, 'sctp': sctp_ok and bool(sctp_ports), 'errors': errors})

    def host(addr):
        h = addr[0]
        return h[7:] if h.startswith('::ffff:') else h

    while True:
        for key, _ in sel.select():
            s = key.fileobj
            kind = key.data[0]
            if kind == 'listen':
                try:
                    c, addr = s.accept()
                except OSError:
                    continue
                c.setblocking(False)
                line = (name + ' ' + host(addr) + ' ' + host(c.getsockname()) + '\n').encode()
                try:
                    c.send(line)
                except OSError:
                    c.close()
                    continue
                sel.register(c, selectors.EVENT_READ, ('conn', line))
            elif kind == 'conn':
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b''
                if not data:
                    sel.unregister(s)
                    s.close()
                else:
                    try:
                        s.send(key.data[1] * data.count(b'\n'))
                    except OSError:
                        pass
            else:
                family = key.data[1]
                try:
                    data, anc, _, addr = s.recvmsg(4096, 256)
                except OSError:
                    continue
                cmsgs = []
                local = '?'
                for level, ctype, cdata in anc:
                    if family == socket.AF_INET and level == socket.IPPROTO_IP and ctype == IP_PKTINFO:
                        # struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }: reply from addr
                        cmsgs = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack('i4s4s', 0, cdata[8:12], bytes(4)))]
                        local = socket.inet_ntop(socket.AF_INET, cdata[8:12])
                    elif family == socket.AF_INET6 and level == socket.IPPROTO_IPV6 and ctype == IPV6_PKTINFO:
                        cmsgs = [(socket.IPPROTO_IPV6, IPV6_PKTINFO, cdata[0:16] + struct.pack('i', 0))]
                        local = socket.inet_ntop(socket.AF_INET6, cdata[0:16])
                try:
                    s.sendmsg([(name + ' ' + host(addr) + ' ' + local + '\n').encode()], cmsgs, 0, addr)
                except OSError:
                    pass


def client():
    held = {}
    next_conn = [1]

    def family_of(address):
        return socket.AF_INET6 if ':' in address else socket.AF_INET

    def connect(cmd):
        proto = cmd.get('protocol', 'tcp')
        fam = family_of(cmd['address'])
        timeout = cmd.get('timeout', 3)
        if proto == 'udp':
            s = socket.socket(fam, socket.SOCK_DGRAM)
        elif proto == 'sctp':
            s = socket.socket(fam, socket.SOCK_STREAM, SCTP)
        else:
            s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        if cmd.get('source') or cmd.get('sourcePort'):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((cmd.get('source') or ('::' if fam == socket.AF_INET6 else '0.0.0.0'), cmd.get('sourcePort') or 0))
        s.connect((cmd['address'], cmd['port']))
        if proto == 'udp':
            s.send(b'hello\n')
        return s

    def readline(s):
        buf = b''
        while not buf.endswith(b'\n'):
            chunk = s.recv(4096)
            if not chunk:
                raise OSError('connection closed before a reply')
            buf += chunk
        return buf.decode().strip()

    def answer(line):
        parts = line.split(' ')
        return {'name': parts[0], 'peer': parts[1] if len(parts) > 1 else '', 'local': parts[2] if len(parts) > 2 else ''}

    def finish(s):
        if s.proto == SCTP:
            # SCTP: close() starts the graceful SHUTDOWN; a half-close never reads an end.
            s.close()
            return
        # TCP: half-close, wait for the server's close: the connection is over on both sides.
        try:
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
        except OSError:
            pass
        s.close()

    def one(cmd):
        s = None
        try:
            s = connect(cmd)
            reply = answer(readline(s))
            if cmd.get('protocol', 'tcp') == 'udp':
                s.close()
            else:
                finish(s)
            return reply
        except (OSError, socket.timeout) as e:
            if s is not None:
                s.close()
            return {'error': type(e).__name__ + ': ' + str(e)}

    while True:
        raw = sys.stdin.readline()
        if not raw:
            return
        cmd = json.loads(raw)
        op = cmd['op']
        reply = {'id': cmd['id']}
        if op == 'request':
            reply['results'] = [one(r) for r in cmd['requests']]
        elif op == 'open':
            try:
                s = connect(cmd)
                reply.update(answer(readline(s)))
                reply['conn'] = next_conn[0]
                held[next_conn[0]] = s
                next_conn[0] += 1
            except (OSError, socket.timeout) as e:
                reply['error'] = type(e).__name__ + ': ' + str(e)
        elif op == 'ping':
            s = held.get(cmd['conn'])
            try:
                s.send(b'ping\n')
                reply.update(answer(readline(s)))
            except (OSError, socket.timeout, AttributeError) as e:
                reply['error'] = type(e).__name__ + ': ' + str(e)
        elif op == 'close':
            s = held.pop(cmd['conn'], None)
            if s is not None:
                finish(s)
        elif op == 'exit':
            out(reply)
            return
        out(reply)


if __name__ == '__main__':
    if sys.argv[1] == 'server':
        ports = lambda v: [int(p) for p in v.split(',') if p]
        server(sys.argv[2], ports(sys.argv[3]), ports(sys.argv[4]), ports(sys.argv[5]))
    else:
        client()
`;
