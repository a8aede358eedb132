// An etcd v3 client over etcd's own JSON gateway (`/v3/kv/range`, `/v3/watch`,
// ... on the client port, part of every etcd since 3.3), with Node's http
// module: the few calls the agent needs, and no gRPC stack to load (the
// `etcd3` package pulls in @grpc/grpc-js and protobufjs, and its watches have
// gone silent after reconnects: its issues #31 and #72). Keys and values
// travel base64-encoded; 64-bit numbers as decimal strings.
//
// Several endpoints (the members of one cluster): a call goes to the last one
// that answered and moves on to the next when it cannot connect, times out,
// or answers that it has no leader, so a dead member costs one failed try.
import * as http from 'http';
import { URL } from 'url';

export interface KeyValue {
  key: string;
  value: string;
  modRevision: number;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  key: string;
  /** Empty for a delete. */
  value: string;
  modRevision: number;
}

/** Why a watch ended: the store compacted past its start (a full read is due), or the stream was lost. */
export type WatchEnd = { reason: 'compacted'; compactRevision: number } | { reason: 'lost'; error: Error };

export interface Watch {
  close(): void;
}

/** A failure to reach the store, or its refusal: names the endpoint and the call. */
export class EtcdError extends Error {
  constructor(message: string, readonly code: 'ERR_ETCD_UNREACHABLE' | 'ERR_ETCD_REFUSED') {
    super(message);
    this.name = 'EtcdError';
  }
}

export interface EtcdOptions {
  /** Milliseconds a unary call may take on one endpoint before the next is tried. Default 10,000. */
  timeout?: number;
}

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const unb64 = (text: string | undefined) => (text === undefined ? '' : Buffer.from(text, 'base64').toString('utf8'));
const num = (value: string | number | undefined) => (value === undefined ? 0 : Number(value));

/** The end of the key range holding every key that starts with `prefix` (the prefix with its last byte plus one). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i]++;
      return end.toString('base64');
    }
  }
  return b64('\0');
}

interface RawKv {
  key: string;
  value?: string;
  mod_revision?: string;
}

function toKeyValue(kv: RawKv): KeyValue {
  return { key: unb64(kv.key), value: unb64(kv.value), modRevision: num(kv.mod_revision) };
}

/** One comparison of a transaction: the key's modification revision equals `modRevision` (0: the key does not exist). */
export interface TxnCompare {
  key: string;
  modRevision: number;
}

export type TxnOperation = { put: string; value: string; lease?: string } | { delete: string };

export class EtcdClient {
  private readonly endpoints: URL[];
  private current = 0;
  private readonly timeoutMs: number;

  constructor(endpoints: readonly string[], options: EtcdOptions = {}) {
    if (!Array.isArray(endpoints) || endpoints.length === 0) throw new TypeError(`Expected a non-empty array of URLs for endpoints but received ${JSON.stringify(endpoints)}`);
    this.endpoints = endpoints.map((e, i) => {
      let url: URL;
      try {
        url = new URL(e);
      } catch {
        throw new TypeError(`Expected an http:// URL for endpoints[${i}] but received ${JSON.stringify(e)}`);
      }
      if (url.protocol !== 'http:') throw new RangeError(`Expected an http:// URL for endpoints[${i}] but received ${JSON.stringify(e)}`);
      return url;
    });
    const t = options.timeout ?? 10_000;
    if (!Number.isInteger(t) || t <= 0) throw new RangeError(`Expected a positive integer for options.timeout but received ${t}`);
    this.timeoutMs = t;
  }

  /** Every key under `prefix` (and before `end`, when given), at one revision (a linearizable read). */
  async range(prefix: string, end?: string): Promise<{ revision: number; kvs: KeyValue[] }> {
    const r = await this.call('/v3/kv/range', { key: b64(prefix), range_end: end === undefined ? prefixEnd(prefix) : b64(end) });
    return { revision: num(r.header?.revision), kvs: (r.kvs ?? []).map(toKeyValue) };
  }

  /** One key, or undefined. */
  async get(key: string): Promise<{ revision: number; kv: KeyValue | undefined }> {
    const r = await this.call('/v3/kv/range', { key: b64(key) });
    return { revision: num(r.header?.revision), kv: r.kvs?.[0] === undefined ? undefined : toKeyValue(r.kvs[0]) };
  }

  /** Puts one key (bound to `lease` when given); resolves with the new revision. */
  async put(key: string, value: string, lease?: string): Promise<number> {
    const r = await this.call('/v3/kv/put', lease === undefined ? { key: b64(key), value: b64(value) } : { key: b64(key), value: b64(value), lease });
    return num(r.header?.revision);
  }

  /** Runs `operations` in one transaction if every comparison holds: resolves with whether it did, and the revision. */
  async txn(compare: readonly TxnCompare[], operations: readonly TxnOperation[]): Promise<{ succeeded: boolean; revision: number }> {
    const r = await this.call('/v3/kv/txn', {
      compare: compare.map((c) => ({ key: b64(c.key), target: 'MOD', result: 'EQUAL', mod_revision: String(c.modRevision) })),
      success: operations.map((op) =>
        'put' in op
          ? { request_put: op.lease === undefined ? { key: b64(op.put), value: b64(op.value) } : { key: b64(op.put), value: b64(op.value), lease: op.lease } }
          : { request_delete_range: { key: b64(op.delete) } },
      ),
      failure: [],
    });
    return { succeeded: r.succeeded === true, revision: num(r.header?.revision) };
  }

  /** A new lease of `ttl` seconds: its id. */
  async grantLease(ttl: number): Promise<string> {
    const r = await this.call('/v3/lease/grant', { TTL: String(ttl) });
    return String(r.ID);
  }

  /** Renews a lease once: its remaining seconds, 0 when it has expired. */
  async keepAlive(id: string): Promise<number> {
    const r = await this.call('/v3/lease/keepalive', { ID: id }, true);
    return num(r.result?.TTL);
  }

  /** Revokes a lease (its keys go with it). */
  async revokeLease(id: string): Promise<void> {
    await this.call('/v3/lease/revoke', { ID: id });
  }

  /**
   * Watches every key under `prefix` (and before `end`, when given) from `startRevision` on the endpoint in
   * use. `onEvents` gets each response's events (one transaction's changes
   * come in one response) with that response's revision; `onEnd` is called
   * once when the watch ends by itself (never after close()).
   */
  watch(prefix: string, rangeEnd: string | undefined, startRevision: number, onEvents: (events: WatchEvent[], revision: number) => void, onEnd: (end: WatchEnd) => void): Watch {
    const url = this.endpoints[this.current];
    let ended = false;
    const end = (e: WatchEnd) => {
      if (ended) return;
      ended = true;
      request.destroy();
      onEnd(e);
    };
    const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: rangeEnd === undefined ? prefixEnd(prefix) : b64(rangeEnd), start_revision: String(startRevision) } });
    const request = http.request(new URL('/v3/watch', url), { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
      if (response.statusCode !== 200) {
        end({ reason: 'lost', error: new EtcdError(`etcd ${url.host}: watch answered HTTP ${response.statusCode}`, 'ERR_ETCD_REFUSED') });
        return;
      }
      let buffer = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, at).trim();
          buffer = buffer.slice(at + 1);
          if (line.length > 0 && !ended) this.watchMessage(line, url, onEvents, end);
        }
      });
      response.on('end', () => end({ reason: 'lost', error: new EtcdError(`etcd ${url.host}: watch stream ended`, 'ERR_ETCD_UNREACHABLE') }));
      response.on('error', (error) => end({ reason: 'lost', error }));
    });
    request.on('error', (error) => {
      this.next(url);
      end({ reason: 'lost', error: new EtcdError(`etcd ${url.host}: watch: ${error.message}`, 'ERR_ETCD_UNREACHABLE') });
    });
    request.end(body);
    return {
      close: () => {
        ended = true;
        request.destroy();
      },
    };
  }

  private watchMessage(line: string, url: URL, onEvents: (events: WatchEvent[], revision: number) => void, end: (e: WatchEnd) => void): void {
    let message: { result?: WatchResponse; error?: { message?: string } };
    try {
      message = JSON.parse(line);
    } catch {
      end({ reason: 'lost', error: new EtcdError(`etcd ${url.host}: watch sent something that is not JSON`, 'ERR_ETCD_REFUSED') });
      return;
    }
    const r = message.result;
    if (r === undefined) {
      end({ reason: 'lost', error: new EtcdError(`etcd ${url.host}: watch: ${message.error?.message ?? line}`, 'ERR_ETCD_REFUSED') });
      return;
    }
    if (r.compact_revision !== undefined && num(r.compact_revision) > 0) {
      end({ reason: 'compacted', compactRevision: num(r.compact_revision) });
      return;
    }
    if (r.canceled === true) {
      end({ reason: 'lost', error: new EtcdError(`etcd ${url.host}: watch canceled: ${r.cancel_reason ?? 'no reason given'}`, 'ERR_ETCD_REFUSED') });
      return;
    }
    if (r.events === undefined || r.events.length === 0) return;
    const events = r.events.map(
      (e): WatchEvent => ({ type: e.type === 'DELETE' ? 'delete' : 'put', key: unb64(e.kv.key), value: unb64(e.kv.value), modRevision: num(e.kv.mod_revision) }),
    );
    onEvents(events, num(r.header?.revision));
  }

  /** Moves on from `url` (when it is still the one in use). */
  private next(url: URL): void {
    if (this.endpoints[this.current] === url) this.current = (this.current + 1) % this.endpoints.length;
  }

  /** One unary call, tried on each endpoint in turn from the one in use. `stream`: the reply is a stream; its first message is the answer. */
  private async call(path: string, body: object, stream = false): Promise<Reply> {
    const failures: string[] = [];
    for (let tries = 0; tries < this.endpoints.length; tries++) {
      const url = this.endpoints[this.current];
      try {
        return await this.once(url, path, body, stream);
      } catch (error) {
        if (!(error instanceof EtcdError) || error.code !== 'ERR_ETCD_UNREACHABLE') throw error;
        failures.push(error.message);
        this.next(url);
      }
    }
    throw new EtcdError(`etcd unreachable: ${failures.join('; ')}`, 'ERR_ETCD_UNREACHABLE');
  }

  private once(url: URL, path: string, body: object, stream: boolean): Promise<Reply> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error: Error | null, reply?: Reply) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        request.destroy();
        if (error !== null) reject(error);
        else resolve(reply!);
      };
      const unreachable = (why: string) => settle(new EtcdError(`${url.host}${path}: ${why}`, 'ERR_ETCD_UNREACHABLE'));
      const timer = setTimeout(() => unreachable(`no answer in ${this.timeoutMs} ms`), this.timeoutMs);
      const request = http.request(new URL(path, url), { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
          if (stream && text.includes('\n')) finish(text.slice(0, text.indexOf('\n')));
        });
        response.on('end', () => finish(text));
        response.on('error', (error) => unreachable(error.message));
        const finish = (answer: string) => {
          let reply: Reply;
          try {
            reply = JSON.parse(answer);
          } catch {
            unreachable(`HTTP ${response.statusCode}, not JSON: ${answer.slice(0, 200)}`);
            return;
          }
          if (response.statusCode === 200 && reply.error === undefined) {
            settle(null, reply);
            return;
          }
          const message = reply.message ?? (typeof reply.error === 'string' ? reply.error : reply.error?.message) ?? `HTTP ${response.statusCode}`;
          // No leader, or the member is stopping: another member may serve the call.
          if (/no leader|leader changed|timed out|stopped|not capable/i.test(String(message))) unreachable(String(message));
          else settle(new EtcdError(`etcd ${url.host}${path}: ${message}`, 'ERR_ETCD_REFUSED'));
        };
      });
      request.on('error', (error) => unreachable(error.message));
      request.end(JSON.stringify(body));
    });
  }
}

interface WatchResponse {
  header?: { revision?: string };
  events?: Array<{ type?: string; kv: RawKv }>;
  canceled?: boolean;
  cancel_reason?: string;
  compact_revision?: string;
}

/** The fields the calls above read from etcd's JSON replies. */
interface Reply {
  header?: { revision?: string };
  kvs?: RawKv[];
  succeeded?: boolean;
  ID?: string;
  result?: { TTL?: string };
  message?: string;
  error?: string | { message?: string };
}
