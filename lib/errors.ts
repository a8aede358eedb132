// The one error class for failures the kernel (or the netlink socket)
// reports. Input the facade rejects before sending is a TypeError or
// RangeError instead (see validate.ts).
import * as util from 'util';

/** Code for "the IPVS generic netlink family does not exist here". */
export const IPVS_UNAVAILABLE = 'ERR_IPVS_UNAVAILABLE';
/** Code for a call on a closed handle. */
export const HANDLE_CLOSED = 'ERR_IPVS_HANDLE_CLOSED';

export interface IpvsErrorDetails {
  /** 'EEXIST', 'ESRCH', ..., or one of the ERR_IPVS_* codes. */
  code: string;
  /** Positive errno as the kernel returned it. */
  errno: number;
  /** The library call that failed, e.g. 'addService'. */
  operation: string;
  /** The object it concerned, e.g. 'service tcp 1.1.1.1:80'; '' for none. */
  object: string;
  /** The kernel's own extended-ACK text, when it sent one. */
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
  return entry ? entry[0] : `E${errno}`;
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
      return `${f.operation} ${f.object}: not found`;
    case 'EPERM':
      return `${f.operation} ${f.object}: permission denied (IPVS needs CAP_NET_ADMIN in the network namespace)`;
    case 'ERANGE':
      return `${f.operation} ${f.object}: value out of range (weight, or lower threshold above upper threshold)`;
    default:
      return `${f.operation}${f.object ? ` ${f.object}` : ''} failed: ${code} (${errnoMessage(errno)})`;
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

/** Turns a native rejection into an IpvsError (or passes through a TypeError). */
export function fromNative(error: unknown, f: Failed): Error {
  if (error instanceof IpvsError) return error;
  if (!(error instanceof Error) || typeof (error as { errno?: unknown }).errno !== 'number') return error as Error;
  const raw = error as Error & { errno: number; kernelMessage?: string; unavailable?: boolean; closed?: boolean };
  if (raw.unavailable)
    return new IpvsError(`${f.operation}${f.object ? ` ${f.object}` : ''}: ${raw.message}`, { code: IPVS_UNAVAILABLE, errno: raw.errno, operation: f.operation, object: f.object });
  if (raw.closed)
    return new IpvsError(`${f.operation}: the IPVS handle is closed`, {
      code: HANDLE_CLOSED,
      errno: raw.errno,
      operation: f.operation,
      object: f.object,
    });
  // Socket-level failures carry their own description; kernel refusals get ours.
  return kernelError(raw.errno, f, raw.kernelMessage);
}
