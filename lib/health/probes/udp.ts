// UDP send/expect: one datagram to the destination on a connected socket,
// up when an answer arrives (matching `expect` when given). A closed port
// answers with ICMP port unreachable, which a connected socket reports as
// ECONNREFUSED: down at once, not at the timeout.
import * as dgram from 'dgram';
import { versionOf } from '../../address';
import type { CheckedCheck } from '../spec';
import { isCheckerError, Probe, ProbeResult } from './probe';

type UdpCheck = Extract<CheckedCheck, { type: 'udp' }>;

export const udpProbe: Probe<UdpCheck> = (check, target, context) =>
  new Promise((resolve) => {
    const socket = dgram.createSocket(versionOf(target.address) === 6 ? 'udp6' : 'udp4');
    let finished = false;
    const done = (result: ProbeResult) => {
      if (finished) return;
      finished = true;
      context.cancel = undefined;
      socket.close();
      resolve(result);
    };
    context.cancel = () => done({ ok: false, reason: 'aborted' });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (isCheckerError(error)) done({ ok: false, cannotRun: true, reason: `cannot open a socket: ${error.code}` });
      else if (error.code === 'ECONNREFUSED') done({ ok: false, reason: 'port unreachable' });
      else done({ ok: false, reason: `${context.phase} failed: ${error.code ?? error.message}` });
    });
    socket.on('message', (message: Buffer) => {
      if (check.expect === undefined || check.expect.test(message.toString('utf8'))) done({ ok: true, reason: 'answered' });
      else done({ ok: false, reason: `answer does not match /${check.expect.source}/` });
    });
    socket.connect(target.port, target.address, () => {
      context.phase = 'answer';
      socket.send(check.send);
    });
  });
