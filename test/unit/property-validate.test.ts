// The facade's validation on the host, with the kernel property test's own
// generators (test/kernel/property/calls.ts) and many more runs than the VM
// allows: every hostile input is refused with a TypeError or RangeError that
// names the field (or is the caller's own getter error), in a short message,
// without running the caller's hooks; Object.prototype pollution never changes
// what a valid input converts to. FC_SEED / FC_RUNS as in the other property tests.
import assert from 'assert/strict';
import fc from 'fast-check';
import {
  DESTINATION_FIELDS,
  mergeSettings,
  SERVICE_SETTING_FIELDS,
  toDaemon,
  toDestination,
  toDestinationKey,
  toService,
  toServiceKey,
  toTimeouts,
} from '../../lib/convert';
import { fields } from '../../lib/validate';
import { hookCalls, hostileCall, knownFinding, pollutedCall, POLLUTION_KEYS } from '../kernel/property/calls';

const RUNS = Number(process.env.FC_RUNS ?? 100);
const STRICT = process.env.FC_STRICT === '1';
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);

/** What the handle's method checks before (and, for edits, right after) reading the kernel. */
function convert(fn: string, args: unknown[]): unknown {
  switch (fn) {
    case 'addService':
      return toService(args[0]).raw;
    case 'deleteService':
    case 'getService':
    case 'listDestinations':
    case 'zero':
      return toServiceKey(args[0]).raw;
    case 'editService': {
      const k = toServiceKey(args[0]);
      const c = fields(args[1], 'changes', SERVICE_SETTING_FIELDS);
      const key = k.raw.fwmark ? { fwmark: k.raw.fwmark, family: k.family } : { protocol: ({ 6: 'tcp', 17: 'udp', 132: 'sctp' } as Record<number, string>)[k.raw.protocol as number], address: k.raw.address, port: k.raw.port };
      const current = { ...key, scheduler: 'wlc', persistence: { timeout: 360 }, persistenceEngine: null, onePacket: false, schedulerFlags: { fallback: false, port: false, flag3: false } };
      return toService(mergeSettings(current, c), 'changes').raw;
    }
    case 'addDestination':
      return toDestination(args[1], toServiceKey(args[0])).raw;
    case 'editDestination': {
      const k = toServiceKey(args[0]);
      const d = toDestinationKey(args[1], k);
      const c = fields(args[1], 'destination', DESTINATION_FIELDS);
      const merged = mergeSettings({ address: d.raw.address, port: d.raw.port, weight: 1, forwarding: 'masq', upperThreshold: 0, lowerThreshold: 0 }, c);
      if (merged.forwarding !== 'tunnel') delete merged.tunnel;
      return toDestination(merged, k).raw;
    }
    case 'deleteDestination':
      return toDestinationKey(args[1], toServiceKey(args[0])).raw;
    case 'setTimeouts':
      return toTimeouts(args[0]);
    case 'startDaemon':
      return toDaemon(args[0]).raw;
    default:
      return undefined;
  }
}

function withPrototype<T>(pollute: Record<string, unknown>, run: () => T): T {
  const saved = Object.keys(pollute).map((k) => [k, Object.getOwnPropertyDescriptor(Object.prototype, k)] as const);
  for (const [k, v] of Object.entries(pollute)) Object.defineProperty(Object.prototype, k, { value: v, configurable: true, writable: true, enumerable: false });
  try {
    return run();
  } finally {
    for (const [k, d] of saved) {
      if (d) Object.defineProperty(Object.prototype, k, d);
      else delete (Object.prototype as Record<string, unknown>)[k];
    }
  }
}

describe('unit: property tests of the facade\'s validation (fast-check)', function () {
  this.timeout(120000);

  it('hostile inputs are refused naming the field, in a short message, without running hooks', () => {
    fc.assert(
      fc.property(hostileCall, (call) => {
        const expectation = call.expect(undefined as never);
        if (expectation.kind !== 'invalid') return;
        hookCalls.length = 0;
        let error: unknown;
        try {
          convert(call.fn, call.args());
        } catch (e) {
          error = e;
        }
        assert.deepEqual(hookCalls, [], `${call.label}: hooks ran`);
        if (error === undefined && knownFinding(call) && !STRICT) return;
        assert.ok(error !== undefined, `${call.label}: accepted`);
        if (error === expectation.thrower()) return;
        assert.ok(error instanceof TypeError || error instanceof RangeError, `${call.label}: ${String(error)}`);
        assert.ok(error.message.includes(expectation.field), `${call.label}: ${error.message}`);
        assert.ok(error.message.length < 1000, `${call.label}: ${error.message.length} characters`);
      }),
      { numRuns: RUNS * 20, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
  });

  it('Object.prototype pollution never changes what a valid input converts to', () => {
    fc.assert(
      fc.property(pollutedCall, (call) => {
        const args = call.args();
        const clean = (() => {
          try {
            return { ok: JSON.stringify(convert(call.fn, args)) };
          } catch (e) {
            return { error: (e as Error).message };
          }
        })();
        const dirty = withPrototype(call.pollute ?? POLLUTION_KEYS, () => {
          try {
            return { ok: JSON.stringify(convert(call.fn, call.args())) };
          } catch (e) {
            return { error: (e as Error).message };
          }
        });
        assert.deepEqual(dirty, clean, call.label);
      }),
      { numRuns: RUNS * 10, ...(SEED === undefined ? {} : { seed: SEED }) },
    );
  });
});
