// Raw HTTP backends for the probes' unit tests (health-http, probe-engine):
// net servers on 127.0.0.0/8 that answer a request once its head is in, and
// answers written in pieces. Each test file keeps its own lists of servers
// and timers, closed after its tests.
import * as net from 'net';

/** Listens on `address`, any port; resolves with the port. */
export function listen(server: net.Server, address: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, address, () => resolve((server.address() as net.AddressInfo).port)));
}

/** A server on `address` that answers each request (once its head is in) with `answer(socket, request)`; added to `servers`. */
export function answeringServer(servers: net.Server[], address: string, answer: (socket: net.Socket, request: string) => void): Promise<number> {
  const server = net.createServer((socket) => {
    let request = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      request += chunk.toString('latin1');
      if (request.includes('\r\n\r\n')) answer(socket, request);
    });
  });
  servers.push(server);
  return listen(server, address);
}

/** Writes `pieces` one at a time, `gapMs` apart, then closes; the timer is kept in `timers` until then. */
export function inPieces(timers: Set<NodeJS.Timeout>, socket: net.Socket, pieces: string[], gapMs = 5): void {
  let i = 0;
  const timer = setInterval(() => {
    if (i < pieces.length) socket.write(pieces[i++]);
    else {
      clearInterval(timer);
      timers.delete(timer);
      socket.end();
    }
  }, gapMs);
  timers.add(timer);
  socket.on('close', () => clearInterval(timer));
}
