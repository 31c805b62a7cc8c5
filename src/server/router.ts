import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ValidateFunction } from 'ajv';
import type { UserRecord } from '../store/users.js';
import { ALL_GROUPS, holds, type Grants, type Permission } from '../core/permissions.js';
import { Status, permissionsOf } from '../core/action.js';
import { ACTION_KEYS } from '../core/api.gen.js';
import { RpcError, badRequest, forbidden } from '../core/errors.js';
import { ajv, formatAjvErrors, inlineRefs, readSchemaFile } from '../core/schemas.js';
import { scopeGroup, type Action, type ActionCatalog, type CallContext, type ConnectionHandle, type SchemaListing, type Services } from '../classes/context.js';

export interface Request { namespace: string; name: string; id: string | number; args: unknown }

export interface Caller {
  remoteAddress: string;
  connection: ConnectionHandle | null;
  /** Resolves the signed-in user or throws 401; called only for actions that need one. */
  authenticate(): Promise<UserRecord>;
}

export interface Outcome { code: number; result: unknown }

/** Filled in as dispatch learns who called what, so failures can be logged with it too. */
export interface Trace { user: string | null; action: string | null }

interface Compiled {
  def: Action;
  schema: { args: unknown; result: unknown };
  validateArgs: ValidateFunction;
  /**
   * Only with `validate_results` (the tests' check): compiled, the result schemas are a third of
   * an idle daemon's heap of generated code, for a check that is off in service.
   * test/unit/schemas-compile.test.ts compiles every one of them.
   */
  validateResult: ValidateFunction | null;
}

interface Endpoint { namespace: string; name: string; single?: Compiled; actions: Map<string, Compiled> }

/**
 * The registry of class actions. Each action module under src/classes default-exports a
 * defineAction(...); its schema file is schemas/<namespace>/<name>[/<action>].json holding `args` and
 * `result`. Both are found and compiled once at start-up, so adding an action touches nothing here.
 */
export class Router implements ActionCatalog {
  private readonly endpoints = new Map<string, Endpoint>();

  private services!: Services;

  /**
   * Registers every action module under `dir`, whose handlers get `services` (which hold this
   * router as their catalog); fails unless each action schema has its handler.
   */
  async load(services: Services, dir: string): Promise<void> {
    this.services = services;
    const files = await listModules(dir);
    // Loaded together (the loader's file reads overlap), registered in order.
    const mods = await Promise.all(files.map((file) => import(pathToFileURL(file).href)));
    for (const [i, file] of files.entries()) {
      const mod = mods[i];
      // Helpers (context.ts, describe.ts) export no default; a module missing its `export default`
      // leaves its schema without a module, which the check below refuses.
      if (mod.default === undefined) continue;
      const def = mod.default as Action;
      if (typeof def?.handler !== 'function' || typeof def.namespace !== 'string') {
        throw new Error(`${path.relative(dir, file)}: its default export is not an action (defineAction(...))`);
      }
      this.register(def);
    }
    const missing = ACTION_KEYS.filter((key) => {
      const [ns, name, action] = key.split('/');
      const ep = this.endpoints.get(`${ns}/${name}`);
      return action === undefined ? !ep?.single : !ep?.actions.has(action);
    });
    if (missing.length) throw new Error(`schemas without an action module: ${missing.map((k) => `schemas/${k}.json`).join(', ')}`);
  }

  register(def: Action): void {
    const rel = path.join(def.namespace, def.name + (def.action ? '/' + def.action : '')) + '.json';
    let file: Record<string, unknown>;
    try {
      file = readSchemaFile(rel);
    } catch (err) {
      throw new Error(`action ${describe(def)} has no readable schema file schemas/${rel}: ${(err as Error).message}`);
    }
    if (!file.args || !file.result) throw new Error(`schemas/${rel} must hold "args" and "result" schemas`);
    const required = (file.args as { required?: string[] }).required ?? [];
    if (typeof def.scope === 'string' && !required.includes(def.scope)) {
      throw new Error(`action ${describe(def)} is scoped by '${def.scope}', which schemas/${rel} does not require`);
    }
    let compiled: Compiled;
    try {
      compiled = {
        def,
        schema: { args: inlineRefs(file.args), result: inlineRefs(file.result) },
        validateArgs: ajv.compile(file.args as object),
        validateResult: this.services?.config.validate_results ? ajv.compile(file.result as object) : null,
      };
    } catch (err) {
      throw new Error(`schemas/${rel}: ${(err as Error).message}`);
    }
    const key = `${def.namespace}/${def.name}`;
    let ep = this.endpoints.get(key);
    if (!ep) this.endpoints.set(key, (ep = { namespace: def.namespace, name: def.name, actions: new Map() }));
    if (def.action === undefined ? ep.single || ep.actions.size : ep.single || ep.actions.has(def.action)) {
      throw new Error(`action ${describe(def)} registered twice or mixes action and plain forms`);
    }
    if (def.action === undefined) ep.single = compiled;
    else ep.actions.set(def.action, compiled);
  }

  async dispatch(req: Request, caller: Caller, trace: Trace = { user: null, action: null }): Promise<Outcome> {
    const outcome: Outcome = { code: 200, result: null };
    const key = `${req.namespace}/${req.name}`;
    const ep = this.endpoints.get(key);
    if (!ep) {
      const known = [...this.endpoints.values()].some((e) => e.namespace === req.namespace);
      throw known ? badRequest(`unknown class '${key}'`) : badRequest(`unknown namespace '${req.namespace}'`);
    }
    const args = req.args === undefined ? {} : req.args;
    const compiled = ep.single ?? this.pickAction(ep, args);
    const def = compiled.def;
    trace.action = def.action ?? null;
    let user: UserRecord | null = null;
    if (!def.anonymous) {
      user = await caller.authenticate();
      trace.user = user.username;
      const lacking = permissionsOf(def).find((p) => !holds(user!, p));
      if (lacking) throw forbidden(`${describe(def)} needs permission ${lacking}`);
    }
    if (!compiled.validateArgs(args)) {
      throw badRequest(`invalid args for ${describe(def)}`, formatAjvErrors(compiled.validateArgs.errors, '/args'));
    }
    if (user && (def.scope || typeof def.write === 'object')) this.checkScope(def, args as Record<string, unknown>, user);
    const ctx = this.context(user, caller);
    let result = await def.handler(args, ctx);
    if (result instanceof Status) {
      outcome.code = result.code;
      result = result.result;
    }
    if (compiled.validateResult && !compiled.validateResult(result)) {
      const details = formatAjvErrors(compiled.validateResult.errors, '/args');
      this.services.log.error(`result of ${describe(def)} breaks its schema`, { details });
      throw new RpcError(500, `internal error: result of ${describe(def)} breaks its schema`, details);
    }
    outcome.result = result;
    return outcome;
  }

  /** The schemas of every action the holder of `grants` may call, keyed "namespace/name" then action. */
  listSchemas(grants: Grants | null, filter?: { namespace: string; name: string }): SchemaListing {
    const out: SchemaListing = {};
    for (const [key, ep] of this.endpoints) {
      if (filter && (ep.namespace !== filter.namespace || ep.name !== filter.name)) continue;
      for (const c of ep.single ? [ep.single] : [...ep.actions.values()]) {
        if (grants && !c.def.anonymous && !permissionsOf(c.def).every((p) => holds(grants, p))) continue;
        // An action whose state-changing form needs more (vm state: vm.view to read, vm.state to
        // change) says so, so that a client offers the change only to those who may make it.
        const write = typeof c.def.write === 'object' ? { write_permission: c.def.write.permission, ...(grants ? { may_write: holds(grants, c.def.write.permission) } : {}) } : {};
        (out[key] ??= {})[c.def.action ?? ep.name] = { permission: c.def.permission, ...write, args: c.schema.args, result: c.schema.result };
      }
    }
    return out;
  }

  /** sysadm's rpc/query: "read/write" where the caller may call a state-changing action, else "read". */
  access(grants: Grants): Record<string, 'read' | 'read/write'> {
    const out: Record<string, 'read' | 'read/write'> = {};
    for (const [key, ep] of this.endpoints) {
      const allowed = [...(ep.single ? [ep.single] : ep.actions.values())].filter(
        (c) => c.def.anonymous || permissionsOf(c.def).every((p) => holds(grants, p)),
      );
      const writes = allowed.some((c) => (typeof c.def.write === 'object' ? holds(grants, c.def.write.permission) : c.def.write));
      if (allowed.length) out[key] = writes ? 'read/write' : 'read';
    }
    return out;
  }

  /** Whether later requests on a connection must wait for this one to finish. */
  isBarrier(req: Request): boolean {
    const ep = this.endpoints.get(`${req.namespace}/${req.name}`);
    return Boolean(ep?.single?.def.barrier);
  }

  has(namespace: string, name: string): boolean {
    return this.endpoints.has(`${namespace}/${name}`);
  }

  private pickAction(ep: Endpoint, args: unknown): Compiled {
    const key = `${ep.namespace}/${ep.name}`;
    const known = [...ep.actions.keys()].join(', ');
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw badRequest(`args for ${key} must be an object with an "action"`, [{ path: '/args', message: 'must be object' }]);
    }
    const action = (args as Record<string, unknown>).action;
    if (typeof action !== 'string') {
      throw badRequest(`args.action is required for ${key} (one of: ${known})`, [{ path: '/args/action', message: 'is required' }]);
    }
    const c = ep.actions.get(action);
    if (!c) throw badRequest(`unknown action '${action}' for ${key} (one of: ${known})`, [{ path: '/args/action', message: 'unknown action' }]);
    return c;
  }

  /** The declared permission on the declared scope's group, once the args say which group that is. */
  private checkScope(def: Action, args: Record<string, unknown>, user: UserRecord): void {
    const gid = def.scope ? scopeGroup(def.scope, args, this.services, user) : undefined;
    const needed: readonly Permission[] = typeof def.write === 'object' && def.write.when(args) ? [def.write.permission] : permissionsOf(def);
    const lacking = needed.find((p) => !holds(user, p, gid));
    const where = gid === undefined ? '' : gid === ALL_GROUPS ? ' globally (on every group: "*")' : ` on group ${gid}`;
    if (lacking) throw forbidden(`permission ${lacking} needed${where}`);
  }

  private context(user: UserRecord | null, caller: Caller): CallContext {
    return {
      services: this.services,
      user,
      remoteAddress: caller.remoteAddress,
      connection: caller.connection,
      can: (perm, gid) => user !== null && holds(user, perm, gid),
    };
  }
}

function describe(def: Action): string {
  return `${def.namespace}/${def.name}${def.action ? ' ' + def.action : ''}`;
}

async function listModules(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listModules(full)));
    else if (entry.name.endsWith('.js')) out.push(full);
  }
  return out.sort();
}
