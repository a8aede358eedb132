// The one error class for failures the kernel (or the netlink socket)
// reports. Input the facade rejects before sending is a TypeError or
// RangeError instead (see validate.ts).
import * as os from 'os';
import * as util from 'util';
import type { RawError, RawFailure } from './addon';

/** Code for "the IPVS generic netlink family does not exist here". */
export const IPVS_UNAVAILABLE = 'ERR_IPVS_UNAVAILABLE';
/** Code for a call on a closed handle. */
export const HANDLE_CLOSED = 'ERR_IPVS_HANDLE_CLOSED';
/** Code for a change that was sent but whose answer was lost: it may or may not be applied (errno: the cause). */
export const OUTCOME_UNKNOWN = 'ERR_IPVS_OUTCOME_UNKNOWN';
/** Code for a change never sent because an earlier socket failure stopped its batch: not applied (errno: the cause). */
export const NOT_SENT = 'ERR_IPVS_NOT_SENT';
/** Code for an apply() refused before sending anything because it would remove more than maxDeletes. */
export const TOO_MANY_DELETES = 'ERR_IPVS_TOO_MANY_DELETES';

export interface IpvsErrorDetails {
  /** 'EEXIST', 'ESRCH', ..., or one of the ERR_IPVS_* codes. */
  code: string;
  /** Positive errno as the kernel returned it. */
  errno: number;
  /** The library call that failed, e.g. 'addService'. */
  operation: string;
  /** The object it concerned, e.g. 'service tcp 1.1.1.1:80'; '' for none. */
  object: string;
  /** The kernel's own extended-ACK text, when it sent one (never the library's). */
  kernelMessage?: string;
}

/** A failed IPVS operation: names the object and keeps the kernel's errno. */
export class IpvsError extends Error implements IpvsErrorDetails {
  readonly code: string;
  readonly errno: number;
  readonly operation: string;
  readonly object: string;
  readonly kernelMessage?: string;

  constructor(message: string, details: IpvsErrorDetails) {
    super(details.kernelMessage ? `${message} (kernel: ${details.kernelMessage})` : message);
    this.name = 'IpvsError';
    this.code = details.code;
    this.errno = details.errno;
    this.operation = details.operation;
    this.object = details.object;
    if (details.kernelMessage !== undefined) this.kernelMessage = details.kernelMessage;
  }
}

/** 'EEXIST' for 17, and so on; 'E<n>' for numbers Node does not know. */
export function errnoName(errno: number): string {
  const entry = util.getSystemErrorMap().get(-errno);
  if (entry) return entry[0];
  // libuv's map lacks some the kernel and the addon use (EBADMSG, ...): os.constants has them.
  const name = Object.keys(os.constants.errno).find((k) => (os.constants.errno as Record<string, number>)[k] === errno);
  return name ?? `E${errno}`;
}

/** What failed: the operation and the object, for messages. */
export interface Failed {
  operation: string;
  /** 'service tcp 1.1.1.1:80', 'destination 2.2.2.2:80 in service tcp 1.1.1.1:80', ... */
  object: string;
  /** Only for destination operations: the service part of `object`. */
  service?: string;
  /** Only for destination operations: 'destination 2.2.2.2:80'. */
  destination?: string;
  /** The scheduler or persistence engine named in the request. */
  scheduler?: string;
  persistenceEngine?: string;
  /** Appended to an ENOENT message, e.g. the kernel version a scheduler needs. */
  hint?: string;
}

function describe(errno: number, f: Failed): string {
  const code = errnoName(errno);
  const where = `${f.operation}${f.object ? ` ${f.object}` : ''}`;
  const isDestinationOp = f.destination !== undefined;
  switch (code) {
    case 'EEXIST':
      return `${f.object} already exists`;
    case 'ESRCH':
      return `${f.service ?? f.object} does not exist`;
    case 'ENOENT':
      if (f.operation === 'open') return `${f.object || 'the network namespace'} does not exist`;
      if (isDestinationOp) return `${f.destination} does not exist in ${f.service}`;
      if (f.operation === 'addService' || f.operation === 'editService') {
        const names = [];
        if (f.scheduler) names.push(`scheduler "${f.scheduler}" (module ip_vs_${f.scheduler})`);
        if (f.persistenceEngine) names.push(`persistence engine "${f.persistenceEngine}" (module ip_vs_pe_${f.persistenceEngine})`);
        return `${f.operation} ${f.object}: the kernel does not know the ${names.join(' or the ') || 'scheduler'}${f.hint ?? ''}`;
      }
      return `${where}: not found`;
    case 'EPERM':
      return `${where}: permission denied (IPVS needs CAP_NET_ADMIN in the network namespace)`;
    case 'ERANGE':
      return `${where}: value out of range (weight, or lower threshold above upper threshold)`;
    default:
      return `${where} failed: ${code} (${errnoMessage(errno)})`;
  }
}

function errnoMessage(errno: number): string {
  const text = util.getSystemErrorMap().get(-errno);
  return text ? text[1] : `errno ${errno}`;
}

/** The IpvsError for a kernel errno on operation `f`. */
export function kernelError(errno: number, f: Failed, kernelMessage?: string): IpvsError {
  return new IpvsError(describe(errno, f), {
    code: errnoName(errno),
    errno,
    operation: f.operation,
    object: f.object,
    kernelMessage,
  });
}

/** The error for one failed request of a batch, by its outcome. */
export function failureError(failure: RawFailure, f: Failed): IpvsError {
  const cause = `${errnoName(failure.errno)}: ${failure.message ?? errnoMessage(failure.errno)}`;
  const where = `${f.operation}${f.object ? ` ${f.object}` : ''}`;
  switch (failure.outcome) {
    case 'refused':
      return kernelError(failure.errno, f, failure.kernelMessage);
    case 'unknown':
      return new IpvsError(`${where}: outcome unknown, it may or may not have been applied (${cause})`, {
        code: OUTCOME_UNKNOWN, errno: failure.errno, operation: f.operation, object: f.object,
      });
    case 'unsent':
      return new IpvsError(`${where}: not sent, an earlier failure stopped the batch (${cause})`, {
        code: NOT_SENT, errno: failure.errno, operation: f.operation, object: f.object,
      });
    default:
      return new IpvsError(`${where}: the request could not be encoded (${cause})`, {
        code: errnoName(failure.errno), errno: failure.errno, operation: f.operation, object: f.object,
      });
  }
}

/** Turns a native rejection into an IpvsError (a TypeError or RangeError passes through). */
export function fromNative(error: unknown, f: Failed): Error {
  if (error instanceof IpvsError || error instanceof TypeError || error instanceof RangeError) return error;
  const raw = error as Partial<RawError>;
  if (!(error instanceof Error) || typeof raw.errno !== 'number')
    return new IpvsError(`${f.operation}${f.object ? ` ${f.object}` : ''} failed: ${String((error as Error)?.message ?? error)}`, {
      code: 'EIO', errno: 5, operation: f.operation, object: f.object,
    });
  if (raw.unavailable)
    return new IpvsError(`${f.operation}${f.object ? ` ${f.object}` : ''}: ${raw.message}`, { code: IPVS_UNAVAILABLE, errno: raw.errno, operation: f.operation, object: f.object });
  if (raw.closed) return closedError(f);
  return kernelError(raw.errno, f, raw.kernelMessage);
}

/** The error of a call on a closed handle. */
export function closedError(f: Failed): IpvsError {
  return new IpvsError(`${f.operation}: the IPVS handle is closed`, { code: HANDLE_CLOSED, errno: 9, operation: f.operation, object: f.object });
}
