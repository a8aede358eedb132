// Help texts. The ipvsadm-compatible usage is ipvsadm 1.31's own (with this
// program's name), followed by the readable subcommands.
import * as fs from 'fs';
import * as path from 'path';

/** This package's version (dist/lib/cli/help.js -> package.json). */
export function packageVersion(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export function version(): string {
  return `ipvs v${packageVersion()} (ipvsadm v1.31 compatible, over generic netlink)\n`;
}

export const SUBCOMMANDS_HELP = `Readable commands (each takes --help):
  service add|edit|delete|show SERVICE [options]      a virtual service
  destination add|edit|delete SERVICE ADDRESS[:PORT] [options]
                                                      a real server of a service
  list [SERVICE] [--json] [--stats|--rate|...]        the table (numeric)
  save [--ipvsadm|--json]                             rules text, thresholds kept
  restore [--replace] [--atomic] [--dry-run] [FILE]   rules text from FILE or stdin
  apply FILE.json|FILE.yaml [--prune] [--dry-run] [--max-deletes N] [--drain [S]]
                                                      make the table equal FILE
  top [--interval S] [--sort KEY]                     a live view: connections, packets/s, bytes/s
  exporter [--listen ADDRESS] [--port PORT]           Prometheus metrics over HTTP (127.0.0.1:9494)
  agent --director NAME [--endpoints URLS] [--max-deletes N]
                                                      keep this table equal to the fleet's state in etcd
  fleet put|status|diff|confirm|max-deletes           the fleet's desired state in etcd, its directors' status
  check FILE [--once] [--metrics ADDRESS:PORT]        health checks of FILE's services drive weights
  connections|timeouts|daemons [--json]               the other listings
  completion bash                                     a bash completion script
SERVICE is PROTOCOL ADDRESS:PORT (tcp, udp, sctp; [IPv6]:PORT) or fwmark MARK [--ipv6].
Global options: --netns NAME|PATH   the network namespace whose IPVS to use.
                --worker-nice N     how far below the event loop the kernel work runs (0-19; default 10, 0: off).
`;

export function ipvsadmUsage(p: string): string {
  return `${version().trimEnd()}
Usage:
  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  ${p} -D virtual-service
  ${p} -C
  ${p} -R
  ${p} -S [-n]
  ${p} -a|e virtual-service -r server-address [options]
  ${p} -d virtual-service -r server-address
  ${p} -L|l [virtual-service] [options]
  ${p} -Z [virtual-service]
  ${p} --set tcp tcpfin udp
  ${p} --start-daemon {master|backup} [daemon-options]
  ${p} --stop-daemon {master|backup}
  ${p} -h

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero

Options:
  --ipv6         -6                   fwmark entry uses IPv6
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine may be sip,
                                      not set by default.
  --persistent   -p [timeout]         persistent service
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --tun-type      type                one of ipip|gue|gre,
                                      the default tunnel type is ipip.
  --tun-port      port                tunnel destination port
  --tun-nocsum                        tunnel encapsulation without checksum
  --tun-csum                          tunnel encapsulation with checksum
  --tun-remcsum                       tunnel encapsulation with remote checksum
  --weight       -w weight            capacity of real server
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --connection   -c                   output of current IPVS connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact                             expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --tun-info                          output of tunnel information
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
Daemon Options:
  --syncid sid                        syncid for connection sync (default=0)
  --sync-maxlen length                Max sync message length (default=1472)
  --mcast-interface interface         multicast interface for connection sync
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)

${SUBCOMMANDS_HELP}`;
}
