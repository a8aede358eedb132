// The monitor end to end against real listeners on 127.0.0.0/8: one check
// for a backend shared by two virtual services, a burst of failures sent as
// one batch, restarts that keep the kernel's state until rise/fall say
// otherwise, a refused batch sent again, and a check that cannot run said
// so. Waits are bounded by counts of events, never by timings.
import assert from 'assert/strict';
import * as net from 'net';
import { HealthMonitor, splitHealth } from '../../lib/health';
import type { WeightChange } from '../../lib/health';

function listen(server: net.Server, address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => server.listen(0, address, () => resolve((server.address() as net.AddressInfo).port)));
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  const port = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves when `test` holds, checking every 20 ms; fails after `limit` ms (generous: no timing is asserted). */
async function until(test: () => boolean, what: string, limit = 10000): Promise<void> {
  const end = Date.now() + limit;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

class RecordingSink {
  calls: WeightChange[][] = [];
  fail = 0;
  async setWeights(changes: WeightChange[]): Promise<void> {
    if (this.fail > 0) {
      this.fail--;
      throw new Error('kernel said no');
    }
    this.calls.push(changes);
  }
}

const service = (address: string, destinations: unknown[], extra: Record<string, unknown> = {}) => ({ protocol: 'tcp', address, port: 80, ...extra, destinations });

describe('unit: health monitor', function () {
  this.timeout(30000);
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  it('runs one check for a backend that two virtual services share', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    const port = await listen(server);
    cleanup.push(() => server.close());
    const check = { type: 'tcp', interval: 0.1, timeout: 0.1, jitter: 0 };
    const { health } = splitHealth([
      service('198.18.0.10', [{ address: '127.0.0.1', port, weight: 10, check }]),
      service('198.18.0.11', [{ address: '127.0.0.1', port, weight: 20, check }]),
    ]);
    const monitor = new HealthMonitor(health, { sink: new RecordingSink() });
    assert.equal(monitor.checkCount, 1);
    monitor.start();
    await until(() => connections >= 5, '5 connections');
    await monitor.stop();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // One connection per run, not one per service.
    assert.equal(connections, monitor.schedulerStats.runs);
  });

  it('sends a burst of failures as one batch of weight changes', async () => {
    const port = await closedPort();
    const addresses = Array.from({ length: 30 }, (_, i) => `127.0.1.${i + 1}`);
    const check = { type: 'tcp', interval: 30, timeout: 1, fall: 1, jitter: 0 };
    const { health } = splitHealth([service('198.18.0.10', addresses.map((address) => ({ address, port, weight: 100, check })))]);
    const sink = new RecordingSink();
    const downs: string[] = [];
    const monitor = new HealthMonitor(health, {
      sink,
      initial: [{ protocol: 'tcp', address: '198.18.0.10', port: 80, destinations: addresses.map((address) => ({ address, port, weight: 100 })) }],
    });
    monitor.on('down', (e) => downs.push(`${e.destination.address} ${e.reason}`));
    cleanup.push(() => monitor.stop());
    monitor.start();
    await until(() => downs.length === 30, '30 down events');
    await until(() => sink.calls.length >= 1, 'a sink call');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sink.calls.length, 1);
    assert.deepEqual(sink.calls[0].map((c) => [c.destination.address, c.weight]).sort(), addresses.map((a) => [a, 0]).sort());
    assert.deepEqual(sink.calls[0][0].service, { protocol: 'tcp', address: '198.18.0.10', port: 80 });
    assert.equal(downs[0], '127.0.1.1 connect refused');
  });

  it('keeps a live destination from the kernel until `fall` failures', async () => {
    const port = await closedPort();
    const { health } = splitHealth([service('198.18.0.10', [{ address: '127.0.0.1', port, weight: 100, check: { type: 'tcp', interval: 0.1, timeout: 0.1, fall: 3, jitter: 0 } }])]);
    const sink = new RecordingSink();
    let runsAtCall = -1;
    const monitor = new HealthMonitor(health, {
      sink: { setWeights: async (c) => { runsAtCall = monitor.schedulerStats.runs; await sink.setWeights(c); } },
      initial: [{ protocol: 'tcp', address: '198.18.0.10', port: 80, destinations: [{ address: '127.0.0.1', port, weight: 100 }] }],
    });
    cleanup.push(() => monitor.stop());
    monitor.start();
    await until(() => sink.calls.length === 1, 'the weight change');
    assert.ok(runsAtCall >= 3, `changed after ${runsAtCall} runs`);
    assert.deepEqual(sink.calls[0].map((c) => c.weight), [0]);
    assert.deepEqual(monitor.states().map((s) => [s.up, s.reason, s.weight]), [[false, 'connect refused', 0]]);
  });

  it('keeps a weight-0 destination from the kernel at 0 until `rise` successes', async () => {
    let connections = 0;
    let connectionsAtCall = -1;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    const port = await listen(server, '127.0.0.7');
    cleanup.push(() => server.close());
    const { health } = splitHealth([service('198.18.0.10', [{ address: '127.0.0.7', port, weight: 100, check: { type: 'tcp', interval: 0.1, timeout: 0.1, rise: 2, jitter: 0 } }])]);
    const calls: WeightChange[][] = [];
    const monitor = new HealthMonitor(health, {
      sink: { setWeights: async (c) => { connectionsAtCall = connections; calls.push(c); } },
      initial: [{ protocol: 'tcp', address: '198.18.0.10', port: 80, destinations: [{ address: '127.0.0.7', port, weight: 0 }] }],
    });
    cleanup.push(() => monitor.stop());
    monitor.start();
    await until(() => calls.length === 1, 'the weight change');
    assert.ok(connectionsAtCall >= 2, `changed after ${connectionsAtCall} connections`);
    assert.deepEqual(calls[0].map((c) => [c.destination.address, c.weight]), [['127.0.0.7', 100]]);
  });

  it('follows a new document: unchanged checks keep their states, added ones start, dropped ones stop', async () => {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    const open = await listen(server);
    cleanup.push(() => server.close());
    const closed = await closedPort();
    const failing = { type: 'tcp', interval: 0.1, timeout: 0.1, fall: 1, jitter: 0 };
    const first = splitHealth([service('198.18.0.10', [{ address: '127.0.0.1', port: closed, weight: 100, check: failing }, { address: '127.0.0.2', port: closed, weight: 100, check: failing }])]).health;
    const sink = new RecordingSink();
    const downs: string[] = [];
    const ups: string[] = [];
    const monitor = new HealthMonitor(first, {
      sink,
      initial: [{ protocol: 'tcp', address: '198.18.0.10', port: 80, destinations: [{ address: '127.0.0.1', port: closed, weight: 100 }, { address: '127.0.0.2', port: closed, weight: 100 }] }],
    });
    monitor.on('down', (e) => downs.push(e.destination.address));
    monitor.on('up', (e) => ups.push(`${e.service} ${e.destination.address}`));
    cleanup.push(() => monitor.stop());
    monitor.start();
    await until(() => downs.length === 2 && sink.calls.flat().length === 2, 'both down');
    // 127.0.0.2 leaves; 127.0.0.1 keeps its check (and its state) at a new weight; a new service with a passing check arrives.
    const second = splitHealth([
      service('198.18.0.10', [{ address: '127.0.0.1', port: closed, weight: 70, check: failing }]),
      service('198.18.0.11', [{ address: '127.0.0.1', port: open, weight: 30, check: { type: 'tcp', interval: 0.1, timeout: 0.1, rise: 1, jitter: 0 } }]),
    ]).health;
    monitor.update(second);
    assert.equal(monitor.checkCount, 2);
    await until(() => ups.length === 1 && sink.calls.flat().some((c) => c.service.address === '198.18.0.11'), 'the new service up');
    const seen = connections;
    await until(() => connections >= seen + 3, 'the new check running');
    assert.deepEqual(ups, ['service tcp 198.18.0.11:80 127.0.0.1']);
    // No new down event: the kept destination did not start again from up.
    assert.deepEqual(downs.sort(), ['127.0.0.1', '127.0.0.2']);
    assert.deepEqual(
      monitor.states().map((s) => [s.service, s.destination.address, s.up, s.weight]),
      [['service tcp 198.18.0.10:80', '127.0.0.1', false, 0], ['service tcp 198.18.0.11:80', '127.0.0.1', true, 30]],
    );
    // Nothing was sent for the kept destination after the update (it was at 0 already); the new one, absent from the table, started at 0.
    assert.deepEqual(sink.calls.slice(1).flat().map((c) => [c.service.address, c.destination.address, c.weight]), [['198.18.0.11', '127.0.0.1', 0], ['198.18.0.11', '127.0.0.1', 30]]);
  });

  it('sends a refused batch again, and says so', async () => {
    const port = await closedPort();
    const { health } = splitHealth([service('198.18.0.10', [{ address: '127.0.0.1', port, weight: 5, check: { type: 'tcp', interval: 30, timeout: 1, fall: 1, jitter: 0 } }])]);
    const sink = new RecordingSink();
    sink.fail = 1;
    const errors: string[] = [];
    const monitor = new HealthMonitor(health, {
      sink,
      initial: [{ protocol: 'tcp', address: '198.18.0.10', port: 80, destinations: [{ address: '127.0.0.1', port, weight: 5 }] }],
    });
    monitor.on('sinkError', (e: Error) => errors.push(e.message));
    cleanup.push(() => monitor.stop());
    monitor.start();
    await until(() => sink.calls.length === 1, 'the retried batch');
    assert.deepEqual(errors, ['kernel said no']);
    assert.deepEqual(sink.calls[0].map((c) => c.weight), [0]);
    assert.match(await monitor.metrics.registry.metrics(), /ipvs_health_sink_failures_total 1/);
  });

  it('says when a check cannot run, and changes nothing for it', async () => {
    const { health } = splitHealth([service('198.18.0.10', [{ address: '127.0.0.1', weight: 5, check: { type: 'command', command: ['/nonexistent/check'], interval: 30, timeout: 1, fall: 1, jitter: 0 } }])]);
    const sink = new RecordingSink();
    const errors: string[] = [];
    const monitor = new HealthMonitor(health, {
      sink,
      initial: [{ protocol: 'tcp', address: '198.18.0.10', port: 80, destinations: [{ address: '127.0.0.1', port: 80, weight: 5 }] }],
    });
    monitor.on('checkError', (e) => errors.push(e.reason));
    cleanup.push(() => monitor.stop());
    monitor.start();
    await until(() => errors.length === 1, 'the check error');
    await monitor.flush();
    assert.deepEqual(errors, ['cannot run /nonexistent/check: ENOENT']);
    assert.deepEqual(sink.calls, []);
    const text = await monitor.metrics.registry.metrics();
    assert.match(text, /ipvs_health_check_errors_total\{check="command"\} 1/);
    assert.match(text, /ipvs_health_destination_up\{service="service tcp 198\.18\.0\.10:80",destination="127\.0\.0\.1:80",check="command"\} 1/);
  });

  it('counts a depool refusal and keeps the refused destination in', async () => {
    const port = await closedPort();
    const check = { type: 'tcp', interval: 30, timeout: 1, fall: 1, jitter: 0 };
    const addresses = ['127.0.2.1', '127.0.2.2', '127.0.2.3'];
    const server = net.createServer((s) => s.destroy());
    const livePort = await listen(server, '127.0.2.4');
    cleanup.push(() => server.close());
    const { health } = splitHealth([
      service('198.18.0.10', [...addresses.map((address) => ({ address, port, weight: 1, check })), { address: '127.0.2.4', port: livePort, weight: 1, check }], { health: { depoolThreshold: 0.5 } }),
    ]);
    const sink = new RecordingSink();
    const refusals: string[] = [];
    const monitor = new HealthMonitor(health, {
      sink,
      initial: [{ protocol: 'tcp', address: '198.18.0.10', port: 80, destinations: [...addresses.map((address) => ({ address, port, weight: 1 })), { address: '127.0.2.4', port: livePort, weight: 1 }] }],
    });
    monitor.on('refusal', (e) => refusals.push(e.destination.address));
    cleanup.push(() => monitor.stop());
    monitor.start();
    await until(() => sink.calls.length >= 1 && refusals.length >= 1, 'the batch and the refusal');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sink.calls.length, 1);
    assert.equal(sink.calls[0].length, 2);
    assert.equal(refusals.length, 1);
    assert.match(await monitor.metrics.registry.metrics(), /ipvs_health_depool_refusals_total\{service="service tcp 198\.18\.0\.10:80"\} 1/);
  });

  describe('batches: one send per burst', () => {
    /**
     * `count` destinations that fail at their first run (fall 1, a closed
     * port), the first runs spread evenly over `spreadSeconds` by the start
     * jitter: a change every spreadSeconds / count.
     */
    async function failing(count: number, spreadSeconds: number, options: { batchWindowMs: number; batchMaxDelayMs?: number }) {
      const port = await closedPort();
      const addresses = Array.from({ length: count }, (_, i) => `127.0.3.${i + 1}`);
      const check = { type: 'tcp', interval: 60, timeout: 1, fall: 1, jitter: spreadSeconds };
      const { health } = splitHealth([service('198.18.0.20', addresses.map((address) => ({ address, port, weight: 100, check })))]);
      const sink = new RecordingSink();
      const downs: number[] = [];
      const sends: number[] = [];
      let next = 0;
      const monitor = new HealthMonitor(health, {
        ...options,
        sink: { setWeights: async (changes) => void (sends.push(performance.now()), await sink.setWeights(changes)) },
        initial: [{ protocol: 'tcp', address: '198.18.0.20', port: 80, destinations: addresses.map((address) => ({ address, port, weight: 100 })) }],
        random: () => next++ / count,
      });
      monitor.on('down', () => downs.push(performance.now()));
      cleanup.push(() => monitor.stop());
      monitor.start();
      await until(() => downs.length === count, `${count} down events`);
      await until(() => sink.calls.reduce((n, c) => n + c.length, 0) === count, `${count} weight changes sent`);
      return { sink, downs, sends, addresses };
    }

    it('sends an isolated change once, a window after it', async () => {
      const { sink, downs, sends } = await failing(1, 0, { batchWindowMs: 200 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(sink.calls.length, 1);
      // Not a speed bound: the batch is held for the window (timers fire up to a millisecond early).
      assert.ok(sends[0] - downs[0] >= 199, `sent ${sends[0] - downs[0]} ms after the change`);
    });

    it('sends a stream of changes once, when it has been quiet for the window', async () => {
      // A change every 80 ms for 720 ms, a 300 ms window: a fixed window would have sent 3 times.
      const { sink, addresses } = await failing(10, 0.8, { batchWindowMs: 300 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(sink.calls.length, 1);
      assert.deepEqual(sink.calls[0].map((c) => [c.destination.address, c.weight]).sort(), addresses.map((a) => [a, 0]).sort());
    });

    it('sends a stream that never goes quiet at the maximum delay', async () => {
      // A change every 80 ms for 720 ms, a 300 ms window, at most 400 ms: the stream is cut.
      const { sink, addresses } = await failing(10, 0.8, { batchWindowMs: 300, batchMaxDelayMs: 400 });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.ok(sink.calls.length >= 2, `${sink.calls.length} sends`);
      assert.deepEqual(sink.calls.flat().map((c) => c.destination.address).sort(), [...addresses].sort());
    });

    it('refuses a maximum delay shorter than the window', () => {
      assert.throws(() => new HealthMonitor([], { sink: new RecordingSink(), batchWindowMs: 200, batchMaxDelayMs: 100 }), /batchMaxDelayMs of at least batchWindowMs \(200\) but received 100/);
    });
  });
});
