// Reads one HTTP/1.x response off a connection, chunk by chunk, as the HTTP
// probe needs it: first the status line and headers (the head), then, only
// when the probe asks (a body pattern or digest), the body, framed by
// Content-Length, by chunked transfer coding, or by the connection's close.
// Chunks may split anything anywhere (the status line, a header, a chunk
// size); interim 1xx heads are skipped. The probe's deadline, not this
// reader, bounds the time; this bounds the memory (MAX_HEAD, MAX_BODY).

/** The most of a head read: a health answer's headers are small, a runaway one must not fill memory. */
export const MAX_HEAD = 64 * 1024;
/** The most of a body kept for a pattern or digest. */
export const MAX_BODY = 1 << 20;
/** The longest chunk-size line (hex digits and extensions) accepted. */
const MAX_CHUNK_LINE = 1024;

/** What a push() or end() found: more bytes needed, the head read, the body read, or a failure (`reader.error`). */
export type Step = 'more' | 'head' | 'body' | 'error';

type Framing = 'length' | 'chunked' | 'close' | 'none';
type ChunkStage = 'size' | 'data' | 'data end' | 'trailer';

const HEAD_END = /\r?\n\r?\n/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?:[ \r\n]|$)/;
const EMPTY = Buffer.alloc(0);

export class ResponseReader {
  /** The status code, once push() has returned 'head'. */
  status = 0;
  /** Why the response failed, once a step returned 'error' ('response is not HTTP: ...'). */
  error = '';
  private stage: 'head' | 'between' | 'body' | 'done' = 'head';
  /** Bytes received and not yet consumed (a partial head, or body bytes after the head). */
  private pending: Buffer = EMPTY;
  private framing: Framing = 'close';
  /** Content-Length bytes still to come, or the current chunk's. */
  private left = 0;
  private chunkStage: ChunkStage = 'size';
  private readonly parts: Buffer[] = [];
  private size = 0;

  /**
   * Feeds the next bytes (a view the caller may reuse afterwards: what is
   * kept is copied). Returns 'head' once, when the head is complete; in the
   * body (after readBody()) 'body' when it is complete.
   */
  push(bytes: Buffer): Step {
    switch (this.stage) {
      case 'head':
        // Most heads come whole in one chunk: parsed in place, and only what is left over copied.
        return this.readHead(this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]));
      case 'between':
        this.pending = this.pending.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.pending, bytes]);
        return 'more';
      case 'body':
        return this.consume(bytes);
      case 'done':
        return 'more';
    }
  }

  /** After 'head': reads the body, starting with the bytes that came with the head. */
  readBody(): Step {
    if (this.stage !== 'between') throw new Error(`readBody() in the ${this.stage} stage`);
    this.stage = 'body';
    if (this.framing === 'none' || (this.framing === 'length' && this.left === 0)) return this.finish();
    const rest = this.pending;
    this.pending = EMPTY;
    return rest.length === 0 ? 'more' : this.consume(rest);
  }

  /** The connection closed (the server's FIN): the end of a body read to the close, else a response cut short. */
  end(): Step {
    if (this.stage === 'head') return this.fail('response: connection closed early');
    if (this.stage === 'body') {
      if (this.framing === 'close') return this.finish();
      return this.fail(`HTTP ${this.status}, body: connection closed early`);
    }
    return 'more';
  }

  /** The body read (after 'body'). */
  body(): Buffer {
    return this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
  }

  /** `data`: all the head bytes so far (possibly a view of the caller's buffer: what is kept is copied). */
  private readHead(data: Buffer): Step {
    for (;;) {
      // latin1: one character per byte, so an index in the text is an index in the bytes.
      const text = data.toString('latin1', 0, Math.min(data.length, MAX_HEAD + 4));
      const end = HEAD_END.exec(text);
      if (end === null) {
        if (data.length > MAX_HEAD) return this.fail(`response head longer than ${MAX_HEAD} bytes`);
        // A status line that cannot become HTTP fails now, not at the deadline.
        if (text.length >= 12 && !/^HTTP\/1\.[01] \d{3}/.test(text)) return this.fail(notHttp(text));
        this.pending = Buffer.from(data);
        return 'more';
      }
      const head = text.slice(0, end.index);
      const status = STATUS_LINE.exec(head);
      if (status === null) return this.fail(notHttp(head));
      this.status = Number(status[1]);
      data = data.subarray(end.index + end[0].length);
      // Interim answers (100 Continue, 103 Early Hints) precede the real one; 101 is final.
      if (this.status >= 100 && this.status < 200 && this.status !== 101) continue;
      const framing = this.framingOf(head);
      if (framing === undefined) return 'error';
      this.framing = framing;
      this.stage = 'between';
      this.pending = data.length === 0 ? EMPTY : Buffer.from(data);
      return 'head';
    }
  }

  /** How the body is delimited (RFC 9112 section 6.3), or undefined after fail(). */
  private framingOf(head: string): Framing | undefined {
    if (this.status === 204 || this.status === 304 || this.status === 101) return 'none';
    let length: number | undefined;
    let chunked = false;
    for (const line of head.split(/\r?\n/).slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'transfer-encoding') chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      else if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) {
          this.fail(`HTTP ${this.status}, bad Content-Length ${JSON.stringify(value.slice(0, 40))}`);
          return undefined;
        }
        length = Number(value);
      }
    }
    if (chunked) return 'chunked';
    if (length !== undefined) {
      this.left = length;
      return 'length';
    }
    return 'close';
  }

  /** Body bytes: kept (copied) up to MAX_BODY, decoded when chunked. */
  private consume(bytes: Buffer): Step {
    if (this.framing === 'chunked') return this.consumeChunked(bytes);
    if (this.framing === 'length') {
      const take = Math.min(this.left, bytes.length);
      this.left -= take;
      const step = this.keep(bytes.subarray(0, take));
      if (step !== 'more') return step;
      return this.left === 0 ? this.finish() : 'more';
    }
    return this.keep(bytes);
  }

  private consumeChunked(bytes: Buffer): Step {
    let data = this.pending.length === 0 ? bytes : Buffer.concat([this.pending, bytes]);
    this.pending = EMPTY;
    for (;;) {
      switch (this.chunkStage) {
        case 'data': {
          if (data.length === 0) return 'more';
          const take = Math.min(this.left, data.length);
          this.left -= take;
          const step = this.keep(data.subarray(0, take));
          if (step !== 'more') return step;
          data = data.subarray(take);
          if (this.left === 0) this.chunkStage = 'data end';
          break;
        }
        case 'data end': {
          const line = lineIn(data);
          if (line === undefined) return this.wait(data);
          if (line.text !== '') return this.fail(`HTTP ${this.status}, bad chunked body`);
          data = data.subarray(line.next);
          this.chunkStage = 'size';
          break;
        }
        case 'size': {
          const line = lineIn(data);
          if (line === undefined) return this.wait(data);
          const size = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(line.text);
          if (size === null) return this.fail(`HTTP ${this.status}, bad chunk size ${JSON.stringify(line.text.slice(0, 40))}`);
          data = data.subarray(line.next);
          this.left = parseInt(size[1], 16);
          this.chunkStage = this.left === 0 ? 'trailer' : 'data';
          break;
        }
        case 'trailer': {
          // Trailer fields, if any, then an empty line.
          const line = lineIn(data);
          if (line === undefined) return this.wait(data);
          data = data.subarray(line.next);
          if (line.text === '') return this.finish();
          break;
        }
      }
    }
  }

  /** Keeps a partial line (a chunk size, a CRLF) for the next push. */
  private wait(data: Buffer): Step {
    if (data.length > MAX_CHUNK_LINE) return this.fail(`HTTP ${this.status}, bad chunked body`);
    this.pending = Buffer.from(data);
    return 'more';
  }

  private keep(bytes: Buffer): Step {
    if (bytes.length === 0) return 'more';
    this.size += bytes.length;
    if (this.size > MAX_BODY) return this.fail(`HTTP ${this.status}, body longer than ${MAX_BODY} bytes`);
    this.parts.push(Buffer.from(bytes));
    return 'more';
  }

  private finish(): Step {
    this.stage = 'done';
    return 'body';
  }

  private fail(reason: string): Step {
    this.stage = 'done';
    this.error = reason;
    return 'error';
  }
}

/** The line at the start of `data` (CRLF or LF ended) and where the next begins, or undefined if it is not complete. */
function lineIn(data: Buffer): { text: string; next: number } | undefined {
  const lf = data.indexOf(10);
  if (lf < 0) return undefined;
  const end = lf > 0 && data[lf - 1] === 13 ? lf - 1 : lf;
  return { text: data.toString('latin1', 0, end), next: lf + 1 };
}

/** 'response is not HTTP: "SSH-2.0-OpenSSH_9.2p1"': the first line of what came, at most 40 characters. */
export function notHttp(text: string): string {
  return `response is not HTTP: ${JSON.stringify(text.split(/\r?\n/)[0].slice(0, 40))}`;
}
