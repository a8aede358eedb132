// Seed capture, part 1 (run by `scripts/fuzz --capture` inside the sandbox,
// as root in a fresh IPVS namespace): builds, through the library itself, an
// IPVS table with every kind of service, destination and sync daemon, sets the
// timeouts, and sends a little local UDP traffic through one service so that
// its counters are not all zero. Every JSON text the library hands the
// addon's executeJson() is printed as a seed of the json_requests target:
//   SEED json_requests <name> <hex>
// Part 2 (native/fuzz/capture.cc) then dumps the kernel's replies.
'use strict';
const path = require('path');
const dgram = require('dgram');
const { execSync } = require('child_process');

const root = path.join(__dirname, '..', '..');
const { addon } = require(path.join(root, 'dist/lib/addon.js'));

// The addon's methods are read-only: a subclass records what executeJson gets.
let jsonCount = 0;
const Handle = addon.Handle;
addon.Handle = class extends Handle {
  executeJson(text) {
    process.stdout.write(`SEED json_requests lib-${++jsonCount} ${Buffer.from(text, 'utf8').toString('hex')}\n`);
    return super.executeJson(text);
  }
};
const ipvs = require(path.join(root, 'dist/lib'));

const sh = (command) => execSync(command, { stdio: ['ignore', 'ignore', 'inherit'] });

// `--mixed` (the second pass): the sync daemons stopped, destinations of the
// other family than their service (the kernel refuses those while a daemon runs).
async function mixed() {
  const h = await ipvs.open();
  await h.stopDaemon('master');
  await h.stopDaemon('backup');
  await h.addDestination({ protocol: 'tcp', address: '1.1.1.1', port: 81 }, { address: '2001:db8::5', forwarding: 'tunnel' });
  await h.addDestination({ protocol: 'tcp', address: '2001:db8::1', port: 80 },
    { address: '198.18.3.3', forwarding: 'tunnel', tunnel: { type: 'gue', port: 5555, checksum: 'none' } });
  await h.close();
}

async function main() {
  sh('modprobe ip_vs_pe_sip || true');
  sh('ip link add ipvssync0 type dummy && ip link set ipvssync0 multicast on up && ip addr add 198.19.0.1/24 dev ipvssync0');
  sh('ip -6 addr add 2001:db8:99::1/64 dev ipvssync0 nodad');
  const h = await ipvs.open();
  // Daemons first: the kernel refuses them once a destination mixes families (EINVAL).
  await h.startDaemon({ state: 'master', interface: 'ipvssync0', syncId: 5 });
  await h.startDaemon({ state: 'backup', interface: 'ipvssync0', syncId: 6, maxLength: 1400, group: '239.1.2.3', port: 9000, ttl: 3 });

  const t80 = { protocol: 'tcp', address: '1.1.1.1', port: 80 };
  const t81 = { protocol: 'tcp', address: '1.1.1.1', port: 81 };
  const u5060 = { protocol: 'udp', address: '1.1.1.1', port: 5060 };
  const t6 = { protocol: 'tcp', address: '2001:db8::1', port: 80 };
  const local = { protocol: 'udp', address: '198.18.0.1', port: 9999 };
  await h.addService({ ...t80, scheduler: 'sh', persistence: { timeout: 300, netmask: '255.255.0.0' },
    persistenceEngine: 'sip', schedulerFlags: { fallback: true, port: true } });
  await h.addService({ ...t81, scheduler: 'rr' });
  await h.addDestination(t81, { address: '198.18.0.1', forwarding: 'route' });
  await h.addDestination(t81, { address: '2.2.2.2', forwarding: 'tunnel', weight: 2, upperThreshold: 10,
    lowerThreshold: 5, tunnel: { type: 'gue', port: 6080, checksum: 'checksum' } });
  await h.addDestination(t81, { address: '2.2.2.3', forwarding: 'tunnel', tunnel: { type: 'gue', port: 6081, checksum: 'remote' } });
  await h.addDestination(t81, { address: '2.2.2.4', forwarding: 'tunnel', weight: 0, tunnel: { type: 'gre', checksum: 'checksum' } });
  await h.addDestination(t81, { address: '2.2.2.5', forwarding: 'tunnel', tunnel: { type: 'ipip' } });
  await h.addDestination(t81, { address: '2.2.2.6', port: 8080, forwarding: 'masq', weight: 3 });
  await h.addService({ ...u5060, scheduler: 'rr', persistence: { timeout: 300 }, persistenceEngine: 'sip', onePacket: true });
  await h.addService({ ...t6, scheduler: 'mh', persistence: { timeout: 10, netmask: 48 }, schedulerFlags: { fallback: true } });
  await h.addDestination(t6, { address: '2001:db8::20', forwarding: 'masq', weight: 4 });
  await h.addDestination(t6, { address: '2001:db8::21', forwarding: 'route', weight: 5000, upperThreshold: 1 << 30 });
  await h.addService({ fwmark: 1, scheduler: 'rr', schedulerFlags: { flag3: true } });
  await h.addDestination({ fwmark: 1 }, { address: '198.18.0.7', forwarding: 'route' });
  await h.addService({ fwmark: 1, family: 'ipv6', scheduler: 'lc' });
  await h.addService({ fwmark: 0xfffffff0, scheduler: 'wlc', persistence: {} });
  await h.addService({ protocol: 'sctp', address: '1.1.1.2', port: 9, scheduler: 'wrr' });
  await h.addService({ protocol: 'tcp', address: '255.255.255.255', port: 65535, scheduler: 'dh' });
  await h.addService({ protocol: 'udp', address: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 1, scheduler: 'lblcr' });
  // Concurrent calls are packed into one executeJson, the middle one refused (EEXIST).
  await Promise.allSettled([
    h.addService({ protocol: 'tcp', address: '1.1.1.3', port: 1, scheduler: 'sed' }),
    h.addService({ protocol: 'tcp', address: '1.1.1.1', port: 80, scheduler: 'rr' }),
    h.addService({ protocol: 'tcp', address: '1.1.1.3', port: 2, scheduler: 'nq' }),
  ]);
  await h.setTimeouts({ tcp: 900, tcpFin: 120, udp: 300 });
  await h.editService(t81, { scheduler: 'wrr' });
  await h.editDestination(t81, { address: '2.2.2.6', port: 8080, weight: 7 });

  // Counters: a local UDP client through a service whose real server is this node.
  await h.addService({ ...local, scheduler: 'rr' });
  await h.addDestination(local, { address: '198.18.0.1', port: 9999, forwarding: 'local' });
  const server = dgram.createSocket('udp4');
  await new Promise((resolve) => server.bind(9999, '198.18.0.1', resolve));
  const client = dgram.createSocket('udp4');
  for (let i = 0; i < 20; ++i) await new Promise((resolve) => client.send(Buffer.alloc(100 + i), 9999, '198.18.0.1', resolve));
  await new Promise((resolve) => setTimeout(resolve, 2500));  // the rate estimator runs every 2 s
  client.close();
  server.close();
  await h.close();
}

(process.argv[2] === '--mixed' ? mixed() : main()).catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
