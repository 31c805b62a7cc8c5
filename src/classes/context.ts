import type { ActionDef, Scope } from '../core/action.js';
import type { ActionKey, Api } from '../core/api.gen.js';
import type { Config } from '../core/config.js';
import { notFound } from '../core/errors.js';
import type { EventHub, Subscriber } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { ALL_GROUPS, holds, type Grants, type Permission } from '../core/permissions.js';
import type { VmEngine } from '../hypervisor/engine.js';
import type { DriverCapabilities } from '../hypervisor/types.js';
import type { TaskQueue } from '../queue/queue.js';
import type { ImageStore } from '../provision/image-store.js';
import type { Tickets } from '../core/tickets.js';
import type { DistStore } from '../store/dist-store.js';
import type { IsoStore } from '../store/iso-store.js';
import type { UserRecord, UserStore } from '../store/users.js';
import type { UploadSlots } from './uploads.js';

/** Sign-in as the rpc handlers use it; the server's Authenticator provides it. */
export interface SignIn {
  readonly tokenSeconds: number;
  login(username: string, password: string, addr: string): Promise<{ user: UserRecord; token: string }>;
  token(token: string, addr: string): Promise<UserRecord>;
  /** Key sign-in, stage 1: a test string bound to this address and connection (null over REST), live 30 s. */
  keyChallenge(addr: string, holder: ConnectionHandle | null): string;
  /** Key sign-in, stage 2: the test string encrypted with a registered key's private half (base64); the key names the user. */
  keyLogin(signed: string, addr: string, holder: ConnectionHandle | null): Promise<{ user: UserRecord; token: string }>;
  endSession(key: string): void;
}

export type SchemaListing = Record<
  string,
  Record<string, { permission: Permission | Permission[] | null; write_permission?: Permission; may_write?: boolean; args: unknown; result: unknown }>
>;

/** The registered actions as rpc/schema and rpc/query report them; the server's Router provides it. */
export interface ActionCatalog {
  listSchemas(grants: Grants | null, filter?: { namespace: string; name: string }): SchemaListing;
  access(grants: Grants): Record<string, 'read' | 'read/write'>;
}

export interface HostInfo extends DriverCapabilities {
  hypervisor: string;
  accelerator: 'kvm' | 'tcg';
}

/** The daemon's long-lived parts, handed to every handler through its context. */
export interface Services {
  config: Config;
  log: Logger;
  users: UserStore;
  auth: SignIn;
  events: EventHub;
  catalog: ActionCatalog;
  tasks: TaskQueue;
  isos: IsoStore;
  /** OVA/OVF images (images/ova/). */
  images: ImageStore;
  /** Distributions for reimage (images/dist). */
  dists: DistStore;
  /** Streamed uploads reserved by an upload action, for the HTTP transport to run. */
  uploads: UploadSlots;
  vms: VmEngine;
  /** Console tickets: issued by sysadm/console, redeemed by the console WebSocket. */
  tickets: Tickets;
  /** What the host offers: accelerator in use, EFI firmware, driver capabilities. */
  host: HostInfo;
  version: string;
}

/** The parts of a WebSocket connection that rpc/events handlers act on. */
export interface ConnectionHandle {
  subscriber: Subscriber;
  /** The signed-in session's key (see server/sessions.ts), never the token itself. */
  sessionKey: string | null;
  signIn(token: string, user: UserRecord): void;
  signOut(): void;
}

/** What a handler knows about its caller. The router has already checked the declared permission on the declared scope. */
export interface CallContext {
  services: Services;
  /** null only for actions marked `anonymous`. */
  user: UserRecord | null;
  remoteAddress: string;
  /** The WebSocket connection, absent on the REST shim. */
  connection: ConnectionHandle | null;
  /** Whether the caller holds `perm` (on `gid`, or anywhere when omitted). */
  can(perm: Permission, gid?: string): boolean;
}

export type Action = ActionDef<any, unknown, CallContext>;

/**
 * Declares the class action `key` ("namespace/name" or "namespace/name/action"). Its args and
 * result types come from its schema file, schemas/<key>.json (through src/core/api.gen.ts): an
 * action without a schema does not compile.
 */
export function defineAction<K extends ActionKey>(key: K, def: NoInfer<Omit<ActionDef<Api[K]['args'], Api[K]['result'], CallContext>, 'namespace' | 'name' | 'action'>>): Action {
  const [namespace, name, action] = key.split('/');
  return { ...def, namespace, name, ...(action === undefined ? {} : { action }) } as Action;
}

/**
 * The group an action's scope names in its args; 404 where the caller may not know it exists: a
 * group on which they hold nothing answers as a missing one does, so group names cannot be probed.
 */
export function scopeGroup(scope: Scope, args: Record<string, unknown>, services: Services, grants: Grants): string {
  if (typeof scope === 'object') return scope.group;
  if (scope === 'gid') {
    const gid = args.gid as string;
    const holdsAny = grants.admin || [ALL_GROUPS, gid].some((g) => Object.hasOwn(grants.perms, g) && grants.perms[g].length > 0);
    if (!services.vms.groupExists(gid) || !holdsAny) throw notFound(`no group '${gid}'`);
    return gid;
  }
  const vmid = args.vmid as string;
  const gid = services.vms.find(vmid)?.def.gid;
  if (gid === undefined || !holds(grants, 'vm.view', gid)) throw notFound(`no VM with vmid '${vmid}'`);
  return gid;
}
