// HealthKeeper.update(): a new document taken without a restart. Checks that
// are unchanged keep their state (a destination they hold down stays at
// weight 0: no flap back to its configured weight), the desired state follows
// the document (weights, added and dropped services), and a destination that
// loses its check is released to its configured weight; a document the
// reconciler refuses changes nothing. The checks are TCP
// connects to destination addresses nothing answers on in the VM (down); the
// table is read with ipvsadm -Sn.
import assert from 'assert/strict';
import * as ipvs from '../../lib';
import { HealthKeeper, splitHealth } from '../../lib/health';
import { savedRules, suiteHandle } from './helpers';

const SERVICE = '198.18.44.1';
const OTHER = '198.18.44.2';
const CHECK = { type: 'tcp', interval: 1, timeout: 1, fall: 1, rise: 1, jitter: 0 };

function document(options: { weight: number; checked: boolean; other: boolean }): unknown[] {
  const services: unknown[] = [
    {
      protocol: 'tcp', address: SERVICE, port: 80, scheduler: 'wrr',
      destinations: [
        { address: '198.18.45.1', port: 80, forwarding: 'masq', weight: 10, check: options.checked ? CHECK : null },
        { address: '198.18.45.2', port: 80, forwarding: 'masq', weight: options.weight, check: null },
      ],
    },
  ];
  if (options.other) services.push({ protocol: 'tcp', address: OTHER, port: 80, scheduler: 'rr', destinations: [{ address: '198.18.45.3', port: 80, forwarding: 'masq', weight: 1, check: null }] });
  return services;
}

async function until(what: string, ok: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; the table:\n${savedRules().join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('kernel: HealthKeeper.update() (a new document without a restart)', function () {
  const h = suiteHandle();
  let keeper: HealthKeeper | undefined;
  afterEach(async () => {
    await keeper?.stop();
    keeper = undefined;
  });

  it('keeps the checks it still has (a down destination stays at 0), follows the document, releases what loses its check', async () => {
    const first = splitHealth(document({ weight: 5, checked: true, other: false }));
    keeper = await HealthKeeper.start(h() as ipvs.IpvsHandle, first.desired, first.health);
    const down = `-a -t ${SERVICE}:80 -r 198.18.45.1:80 -m -w 0`;
    await until('the checked destination down', () => savedRules().includes(down));

    const flaps: string[] = [];
    keeper.monitor.on('up', (e: { destination: { address: string } }) => flaps.push(e.destination.address));
    const second = splitHealth(document({ weight: 7, checked: true, other: true }));
    const result = await keeper.update(second.desired, second.health);
    assert.equal(result.counts.failed + result.counts.unknown + result.counts.unsent, 0, JSON.stringify(result.counts));
    let rules = savedRules();
    assert.ok(rules.includes(down), `still down after the update:\n${rules.join('\n')}`);
    assert.ok(rules.includes(`-a -t ${SERVICE}:80 -r 198.18.45.2:80 -m -w 7`), rules.join('\n'));
    assert.ok(rules.includes(`-A -t ${OTHER}:80 -s rr`), rules.join('\n'));
    // Two more check periods: the kept check still holds it down; nothing came up.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.ok(savedRules().includes(down));
    assert.deepEqual(flaps, []);

    // A document the reconciler refuses (a scheduler name it cannot be) changes nothing: no override released, no weight sent.
    const refused = document({ weight: 9, checked: false, other: true }) as Array<{ scheduler: string }>;
    refused[1].scheduler = 'no such';
    const bad = splitHealth(refused);
    const before = savedRules();
    await assert.rejects(keeper.update(bad.desired, bad.health), /scheduler/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(savedRules(), before, 'a refused update changed the table');

    const third = splitHealth(document({ weight: 7, checked: false, other: false }));
    await keeper.update(third.desired, third.health);
    rules = savedRules();
    assert.ok(rules.includes(`-a -t ${SERVICE}:80 -r 198.18.45.1:80 -m -w 10`), `released to its configured weight:\n${rules.join('\n')}`);
    assert.ok(!rules.some((l) => l.includes(OTHER)), `the dropped service deleted:\n${rules.join('\n')}`);
  });
});
