// Tables other tools made: the kernel holds objects the library refuses from
// its callers (a direct-routing destination on another port than its
// service's, as keepalived or any tool speaking netlink can make; a TCP
// service with one-packet scheduling). apply(), drains and rollbacks must
// work on them, and what list() returns must be valid input to apply().
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { addon } from '../../lib/addon';
import { Command, FAMILY_NUMBER, FORWARDING_NUMBER, PROTOCOL_NUMBER, ServiceFlag } from '../../lib/constants';
import { savedRules, suiteHandle } from './helpers';

const VIP = '198.18.30.1';
const service = { protocol: 'tcp', address: VIP, port: 80 } as const;
const rawService = { family: FAMILY_NUMBER.ipv4, protocol: PROTOCOL_NUMBER.tcp, address: VIP, port: 80, fwmark: 0 };

/** Sends requests through the raw addon, past the library's checks (as another tool would). */
async function rawSend(requests: object[]): Promise<void> {
  const native = new addon.Handle();
  await native.open();
  try {
    const failures = await native.executeJson(JSON.stringify(requests));
    assert.deepEqual(failures, []);
  } finally {
    await native.close();
  }
}

/** The table another tool made: tcp VIP:80 (one-packet flag set, though TCP), a masq destination, and a direct-routing one on port 8080. */
async function foreignTable(): Promise<void> {
  await rawSend([
    { command: Command.IPVS_CMD_NEW_SERVICE, service: { ...rawService, scheduler: 'rr', flags: ServiceFlag.ONEPACKET, timeout: 0, netmask: 0xffffffff, persistenceEngine: '' } },
    { command: Command.IPVS_CMD_NEW_DEST, service: rawService, destination: { family: FAMILY_NUMBER.ipv4, address: '198.18.31.1', port: 80, forwarding: FORWARDING_NUMBER.masq, weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
    { command: Command.IPVS_CMD_NEW_DEST, service: rawService, destination: { family: FAMILY_NUMBER.ipv4, address: '198.18.31.2', port: 8080, forwarding: FORWARDING_NUMBER.route, weight: 3, upperThreshold: 0, lowerThreshold: 0 } },
  ]);
}

const masqOnly = (scheduler = 'rr'): ipvs.DesiredService[] => [{ ...service, scheduler, onePacket: true, destinations: [{ address: '198.18.31.1', forwarding: 'masq' }] }];

describe('kernel: tables other tools made', function () {
  const h = suiteHandle();
  let before: string[];
  beforeEach(async () => {
    await foreignTable();
    before = savedRules();
    assert.ok(before.includes('-a -t 198.18.30.1:80 -r 198.18.31.2:8080 -g -w 3'), before.join('\n'));
  });

  it('what list() returns is valid input: apply(await list()) plans nothing, and a second time too', async () => {
    const result = await h().apply(await h().list());
    assert.deepEqual(result.plan, []);
    assert.deepEqual(savedRules(), before);
  });

  it('a caller may keep such a destination but not ask for a new one (RangeError, nothing sent)', async () => {
    const table = await h().list();
    // Its weight changed in place: kept as the kernel holds it otherwise.
    table[0].destinations.find((d) => d.port === 8080)!.weight = 5;
    const result = await h().apply(table);
    assert.deepEqual(result.plan.map((op) => op.operation), ['editDestination']);
    assert.equal(result.changes[0].status, 'applied', result.changes[0].error?.message);
    assert.ok(savedRules().includes('-a -t 198.18.30.1:80 -r 198.18.31.2:8080 -g -w 5'), savedRules().join('\n'));
    const asked = [{ ...service, scheduler: 'rr', onePacket: true, destinations: [...table[0].destinations, { address: '198.18.31.3', port: 8081, forwarding: 'route' as const }] }];
    const now = savedRules();
    await assert.rejects(h().apply(asked), (e: Error) => e instanceof RangeError && /port to be the service's port 80/.test(e.message));
    assert.deepEqual(savedRules(), now);
  });

  it('apply({ drain: true }) drains it from its own entry (weight 0, port kept), then deletes it', async () => {
    const first = await h().apply(masqOnly(), { drain: true });
    assert.deepEqual(first.plan.map((op) => op.operation), ['drainDestination']);
    assert.ok(savedRules().includes('-a -t 198.18.30.1:80 -r 198.18.31.2:8080 -g -w 0'), savedRules().join('\n'));
    // No connections: the next apply deletes it.
    const second = await h().apply(masqOnly(), { drain: true });
    assert.deepEqual(second.plan.map((op) => op.operation), ['deleteDestination']);
    assert.equal(second.counts.applied, 1);
    assert.deepEqual(savedRules(), before.filter((line) => !line.includes(':8080')));
  });

  it("onError 'rollback' restores it exactly after its delete was sent", async () => {
    // The edit of the service fails (no such scheduler) after the destination's delete went in the same buffer.
    const result = await h().apply(masqOnly('nosuchsched'), { onError: 'rollback' });
    assert.deepEqual(result.plan.map((op) => op.operation), ['editService', 'deleteDestination']);
    assert.equal(result.changes[0].status, 'failed');
    assert.equal(result.changes[1].status, 'applied', 'tried in the same buffer');
    assert.ok(result.rollback?.complete, JSON.stringify(result.rollback?.changes.map((c) => [c.operation.operation, c.status, c.error?.message])));
    assert.deepEqual(savedRules(), before);
  });

  it('an edited one-packet TCP service is restored by a rollback, and editService keeps the flag it already has', async () => {
    const table = await h().list();
    const desired: ipvs.DesiredService[] = [
      { ...table[0], scheduler: 'wlc' },
      // Refused by the kernel (no such scheduler module): the plan fails after the edit went in the same buffer.
      { protocol: 'tcp', address: '198.18.30.2', port: 80, scheduler: 'nosuchsched' },
    ];
    const result = await h().apply(desired, { onError: 'rollback' });
    assert.deepEqual(result.changes.map((c) => [c.operation.operation, c.status]), [['addService', 'failed'], ['editService', 'applied']]);
    assert.ok(result.rollback?.complete, JSON.stringify(result.rollback?.changes.map((c) => [c.operation.operation, c.status, c.error?.message])));
    assert.deepEqual(savedRules(), before);
    await h().editService(service, { scheduler: 'sh' });
    assert.ok(savedRules().includes('-A -t 198.18.30.1:80 -s sh -o'), savedRules().join('\n'));
    await assert.rejects(h().editService(service, { onePacket: true }), RangeError);
  });
});
