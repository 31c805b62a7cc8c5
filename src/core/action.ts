import type { UserRecord } from '../store/users.js';
import type { Permission } from './permissions.js';
import type { Services } from '../classes/context.js';
import type { Subscriber } from './events.js';

/** What a handler knows about its caller. */
export interface CallContext {
  services: Services;
  /** null only for actions marked `anonymous`. */
  user: UserRecord | null;
  remoteAddress: string;
  /** The WebSocket connection, absent on the REST shim. */
  connection: ConnectionHandle | null;
  /** Throws 403 unless the caller holds `perm` (on `gid`, or anywhere when omitted). */
  require(perm: Permission, gid?: string): void;
  can(perm: Permission, gid?: string): boolean;
}

/** The parts of a WebSocket connection that rpc/events handlers act on. */
export interface ConnectionHandle {
  subscriber: Subscriber;
  /** The signed-in session's key (see sessions.ts), never the token itself. */
  sessionKey: string | null;
  signIn(token: string, user: UserRecord): void;
  signOut(): void;
}

export interface ActionDef<A = any, R = unknown> {
  namespace: string;
  name: string;
  /** Set for classes that dispatch on `args.action` (every sysadm class). */
  action?: string;
  /** What the caller must hold somewhere; the handler narrows it to a group where that applies. null: any signed-in user. */
  permission: Permission | null;
  /** Callable before authentication (identify, auth). */
  anonymous?: boolean;
  /** Changes the connection's session: later requests on that connection wait for it (sysadm clients send auth and their first request back to back). */
  barrier?: boolean;
  /** Changes state: rpc/query reports read/write for classes with such actions. */
  write?: boolean;
  handler(args: A, ctx: CallContext): Promise<R> | R;
}

/** Handlers return this to pick a status other than 200 (202 for a queued task). */
export class Status<R> {
  constructor(readonly code: number, readonly result: R) {}
}

export function defineAction<A = any, R = unknown>(def: ActionDef<A, R>): ActionDef<A, R> {
  return def;
}
