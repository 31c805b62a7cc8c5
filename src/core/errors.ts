/**
 * The stable words clients branch on (DESIGN §2), one per kind of failure; the code says the
 * class of failure, the reason which one, the message what happened in words.
 */
export const REASONS = {
  bad_request: 'the request or a field in it is invalid (details name each field)',
  unauthorized: 'not signed in, or the token idled out',
  forbidden: 'a permission is missing',
  blocked: 'the address is blocked after repeated failed sign-ins',
  not_found: 'no such VM, group, ISO, task or class',
  not_acceptable: 'an option this host, hypervisor or API does not support',
  quota_exceeded: "the group's quota would be exceeded",
  conflict: 'the request clashes with the current state',
  name_taken: 'the name is already in use',
  busy: 'the resource is in the middle of another change',
  too_large: 'the frame or body is over the size limit',
  internal: 'the hypervisor, a tool or the daemon failed (the message says what)',
  agent_unavailable: "the VM's guest agent does not answer (502)",
  agent_error: "the VM's guest agent refused the command (502; the message gives its words)",
  shutting_down: 'the daemon is stopping: the request was not run, or did not finish within the grace period',
} as const;

export type Reason = keyof typeof REASONS;

const BY_CODE: Record<number, Reason> = { 400: 'bad_request', 405: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 406: 'not_acceptable', 409: 'conflict', 413: 'too_large', 503: 'shutting_down' };

/** An error meant for the client: `code` follows HTTP, `message` is safe to show. */
export class RpcError extends Error {
  readonly reason: Reason;

  constructor(
    readonly code: number,
    message: string,
    readonly details: unknown[] = [],
    reason?: Reason,
  ) {
    super(message);
    this.name = 'RpcError';
    this.reason = reason ?? BY_CODE[code] ?? 'internal';
  }

  toArgs(): { code: number; reason: Reason; message: string; details: unknown[] } {
    return { code: this.code, reason: this.reason, message: this.message, details: this.details };
  }
}

export const badRequest = (message: string, details: unknown[] = []) => new RpcError(400, message, details);
export const unauthorized = (message = 'not authenticated') => new RpcError(401, message);
export const forbidden = (message: string, reason: Reason = 'forbidden') => new RpcError(403, message, [], reason);
export const notFound = (message: string) => new RpcError(404, message);
export const notAcceptable = (message: string, reason: Reason = 'not_acceptable') => new RpcError(406, message, [], reason);
export const conflict = (message: string, reason: Reason = 'conflict') => new RpcError(409, message, [], reason);

/** A start-up failure the operator has to resolve (address in use, state dir held): one line, exit 2. */
export class StartupError extends Error {}
