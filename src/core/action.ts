import type { Permission } from './permissions.js';

/**
 * Where an action's permission applies, resolved from its (validated) args by the router before
 * the handler runs: `vmid` — the group of the VM named by args.vmid, which does not exist (404)
 * for a caller without vm.view there, so ids cannot be probed; `gid` — the group named by
 * args.gid (404 when not configured); `{group}` — a fixed group (iohyve's VMs live in `default`).
 */
export type Scope = 'vmid' | 'gid' | { group: string };

/** What an action declares besides its handler; the router enforces all of it. */
export interface ActionMeta<A = unknown> {
  namespace: string;
  name: string;
  /** Set for classes that dispatch on `args.action` (every sysadm class). */
  action?: string;
  /**
   * What the caller must hold: checked anywhere before the args are validated, then on the
   * scope's group. Several: all of them. null: any signed-in user.
   */
  permission: Permission | Permission[] | null;
  scope?: Scope;
  /** Callable before authentication (identify, auth). */
  anonymous?: boolean;
  /** Changes the connection's session: later requests on that connection wait for it (sysadm clients send auth and their first request back to back). */
  barrier?: boolean;
  /**
   * Changes state: rpc/query reports read/write for classes with such actions. An action that
   * only sometimes changes state names the permission that change needs and when it happens
   * (vm state reads with vm.view and changes with vm.state).
   */
  write?: boolean | { permission: Permission; when(args: A): boolean };
}

export interface ActionDef<A = any, R = unknown, Ctx = unknown> extends ActionMeta<A> {
  handler(args: A, ctx: Ctx): R | Status<R> | Promise<R | Status<R>>;
}

/** Handlers return this to pick a status other than 200 (202 for a queued task). */
export class Status<R> {
  constructor(
    readonly code: number,
    readonly result: R,
  ) {}
}

/** The permissions an action names, as a list. */
export function permissionsOf(meta: ActionMeta): readonly Permission[] {
  return meta.permission === null ? [] : typeof meta.permission === 'string' ? [meta.permission] : meta.permission;
}
