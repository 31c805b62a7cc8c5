import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpcError, badRequest, notFound } from '../../core/errors.js';
import type { UserRecord } from '../../store/users.js';
import { execute } from '../../server/execute.js';
import { authenticate } from '../../server/http-io.js';
import type { Caller } from '../../server/router.js';
import type { HttpFacade } from '../../server/http-facade.js';
import type { DaemonServices as Services } from '../../server/services.js';
import { CUSTOM, definitionFor, imagesOf, profilesOf, sizeFrom, type DcImage, type DistInfo, type GuestSetup, type Profile } from './catalog.js';
import { instanceOf, type VmInfo } from './instances.js';
import { negotiate, type Format } from './negotiate.js';
import { parsePath, readParams } from './request.js';
import { baseHeaders, sendBody, sendEmpty, sendError } from './respond.js';
import { dcActions, instanceStates, type DcAction } from './states.js';
import * as view from './views.js';
import { el } from './xml.js';

/** Served on the daemon's port under /api (the daemon is handed it by `hyved serve`). */
export const deltacloud: HttpFacade = {
  matches: (pathname) => pathname === '/api' || pathname.startsWith('/api/') || pathname.startsWith('/api;'),
  handle: handleDeltacloud,
  refuse(req, res, error) {
    baseHeaders(res);
    const format = negotiate(new URL(`http://x${req.url?.startsWith('/') ? req.url : '/'}`).searchParams.get('format') ?? undefined, req.headers.accept) ?? 'xml';
    sendError(req, res, format, error);
  },
};

/** One request's context: who asks, in which format, where links point. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  services: Services;
  format: Format;
  links: view.Links;
  params: Record<string, string>;
  caller: Caller;
}

const COLLECTIONS: view.Collection[] = [
  { rel: 'drivers', features: [] },
  { rel: 'hardware_profiles', features: [] },
  { rel: 'images', features: [] },
  { rel: 'instance_states', features: [] },
  {
    rel: 'instances',
    // keyname, password and user_data reach the guest through a distribution image's cloud-init seed.
    features: [
      { name: 'user_name', rel: 'create', param: 'name' },
      { name: 'authentication_key', rel: 'create', param: 'keyname' },
      { name: 'authentication_password', rel: 'create', param: 'password' },
      { name: 'user_data', rel: 'create', param: 'user_data' },
    ],
  },
  { rel: 'keys', features: [] },
  { rel: 'realms', features: [] },
];

// A create with no hwp_id gets the smallest named size, as Deltacloud's drivers default to their first profile.
const DEFAULT_PROFILE = 'small';
// EC2's limit on user_data, which Deltacloud's clients are written against.
const MAX_USER_DATA = 16384;
// The longest root password a reimage takes (defs.json rootPassword).
const MAX_PASSWORD = 256;
// How long an accepted start or stop is waited for before answering 202 with the state it has reached.
const SETTLE_MS = 1000;

/**
 * Apache Deltacloud's REST API (`/api`, its 1.1 shapes) over hyved's class actions: every request
 * goes through the router as the REST shim's do (permissions, validation, audit), signed in with
 * HTTP Basic against hyved's users.
 */
export async function handleDeltacloud(req: IncomingMessage, res: ServerResponse, url: URL, services: Services): Promise<void> {
  baseHeaders(res);
  const format = negotiate(url.searchParams.get('format') ?? undefined, req.headers.accept);
  // Nothing the client accepts: Deltacloud answers 406 with no body (there is no format to write one in).
  if (format === null) return sendEmpty(res, 406);
  const remoteAddress = req.socket.remoteAddress ?? '';
  // One sign-in per request, however many actions it calls: a wrong password counts once.
  let user: Promise<UserRecord> | null = null;
  const caller: Caller = { remoteAddress, connection: null, authenticate: () => (user ??= authenticate(req.headers.authorization, remoteAddress, services)) };
  const ctx: Ctx = { req, res, services, format, links: { base: `${scheme(req)}://${hostOf(req)}/api` }, params: {}, caller };
  try {
    const { segments, matrix } = parsePath(url.pathname);
    let method = req.method ?? 'GET';
    const body =
      method === 'POST' || method === 'PUT'
        ? await readParams(req, services.config.max_frame_bytes).catch((err: unknown) => {
            // A body left unread (refused type, too large, malformed) leaves the connection unusable.
            res.setHeader('Connection', 'close');
            throw err;
          })
        : {};
    ctx.params = { ...Object.fromEntries(url.searchParams), ...matrix, ...body };
    // Rack::MethodOverride: HTML forms (and some clients) DELETE by POST.
    const override = (body._method ?? req.headers['x-http-method-override'])?.toString().toUpperCase();
    if (method === 'POST' && override) method = override;
    await route(ctx, method, segments);
  } catch (err) {
    const error = err instanceof RpcError ? err : new RpcError(500, 'internal error');
    // The path only: the Ruby client sends create's parameters (a password among them) in the query.
    if (!(err instanceof RpcError)) services.log.error(`Deltacloud ${req.method} ${url.pathname} failed: ${(err as Error)?.stack ?? String(err)}`);
    sendError(req, res, format, error);
  }
}

function scheme(req: IncomingMessage): string {
  return (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
}

/** The Host the client used, for absolute hrefs; the address it reached when the header is missing or odd. */
function hostOf(req: IncomingMessage): string {
  const host = req.headers.host ?? '';
  if (/^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/.test(host)) return host;
  const addr = req.socket.localAddress ?? '127.0.0.1';
  return `${addr.includes(':') ? `[${addr}]` : addr}:${req.socket.localPort}`;
}

/** Runs a class action as the caller (`vm` is `sysadm/vm`); its error, if any, is thrown. */
export async function call<T>(ctx: Ctx, name: string, args: Record<string, unknown>): Promise<T> {
  const [namespace, cls] = name.includes('/') ? name.split('/') : ['sysadm', name];
  const reply = await execute(ctx.services, { namespace, name: cls, id: '', args }, ctx.caller, 'rest');
  if (reply.error) throw reply.error;
  return reply.args as T;
}

type Handler = (ctx: Ctx, id?: string, action?: string) => Promise<void>;

const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '': { GET: entryPoint, OPTIONS: options },
  drivers: { GET: drivers },
  'drivers/:id': { GET: driverShow },
  instances: { GET: instanceList, POST: instanceCreate },
  'instances/:id': { GET: instanceShow, DELETE: (ctx, id) => instanceAction(ctx, id!, 'destroy') },
  'instances/:id/:action': { POST: (ctx, id, action) => instanceAction(ctx, id!, action!) },
  hardware_profiles: { GET: profileList },
  'hardware_profiles/:id': { GET: profileShow },
  realms: { GET: realmList },
  'realms/:id': { GET: realmShow },
  images: { GET: imageList },
  'images/:id': { GET: imageShow },
  instance_states: { GET: stateList },
  keys: { GET: keyList, POST: keyCreate },
  'keys/:id': { GET: keyShow, DELETE: keyDelete },
};

async function route(ctx: Ctx, method: string, segments: string[]): Promise<void> {
  const [collection = '', id, action, ...rest] = segments;
  const pattern = [collection, id !== undefined && ':id', action !== undefined && ':action'].filter(Boolean).join('/');
  const methods = rest.length ? undefined : ROUTES[pattern];
  if (!methods) throw notFound(`no such resource ${ctx.req.url?.split('?')[0]}`);
  const handler = methods[method === 'HEAD' ? 'GET' : method];
  if (!handler) {
    const allowed = Object.keys(methods);
    ctx.res.setHeader('Allow', allowed.join(', '));
    throw new RpcError(405, `method ${method} not allowed here: use ${allowed.join(' or ')}`);
  }
  await handler(ctx, id, action);
}

function reply(ctx: Ctx, status: number, xml: () => ReturnType<typeof el>, json: () => unknown): void {
  sendBody(ctx.req, ctx.res, status, ctx.format, xml, json);
}

async function entryPoint(ctx: Ctx): Promise<void> {
  // Clients probe the entry point without credentials; `force_auth` asks for them to be checked.
  if (ctx.params.force_auth) await ctx.caller.authenticate();
  reply(ctx, 200, () => view.entryPoint.xml(ctx.links, COLLECTIONS), () => view.entryPoint.json(ctx.links, COLLECTIONS));
}

async function options(ctx: Ctx): Promise<void> {
  ctx.res.setHeader('Allow', COLLECTIONS.map((c) => c.rel).join(','));
  sendEmpty(ctx.res, 200);
}

async function drivers(ctx: Ctx): Promise<void> {
  reply(ctx, 200, () => el('drivers', {}, view.driver.xml(ctx.links, false)), () => ({ [view.DRIVER]: view.driver.json(ctx.links) }));
}

async function driverShow(ctx: Ctx, id?: string): Promise<void> {
  if (id !== view.DRIVER) throw notFound(`no driver '${id}': this server runs '${view.DRIVER}'`);
  reply(ctx, 200, () => view.driver.xml(ctx.links, true), () => ({ driver: view.driver.json(ctx.links) }));
}

/** Collection members by id, filtered by the query's `id` and the named fields, exactly. */
function filtered<T>(ctx: Ctx, items: T[], fields: Record<string, (item: T) => string>): T[] {
  return items.filter((item) => Object.entries(fields).every(([param, get]) => ctx.params[param] === undefined || ctx.params[param] === get(item)));
}

function member<T>(items: T[], id: string | undefined, idOf: (item: T) => string, what: string): T {
  const found = items.find((i) => idOf(i) === id);
  if (!found) throw notFound(`no ${what} '${id}'`);
  return found;
}

// ---- hardware profiles, realms, images, states, keys

async function profiles(ctx: Ctx): Promise<Profile[]> {
  const defs = await call<{ hardware_profiles: { name: string; cpus: number; memory_mib: number }[] }>(ctx, 'vm', { action: 'definitions' });
  return profilesOf(defs.hardware_profiles);
}

async function profileList(ctx: Ctx): Promise<void> {
  const list = filtered(ctx, await profiles(ctx), { id: (p) => p.id });
  reply(ctx, 200, () => el('hardware_profiles', {}, ...list.map((p) => view.hardwareProfile.xml(ctx.links, p))), () => ({ hardware_profiles: list.map((p) => view.hardwareProfile.json(ctx.links, p)) }));
}

async function profileShow(ctx: Ctx, id?: string): Promise<void> {
  const p = member(await profiles(ctx), id, (x) => x.id, 'hardware profile');
  reply(ctx, 200, () => view.hardwareProfile.xml(ctx.links, p), () => ({ hardware_profile: view.hardwareProfile.json(ctx.links, p) }));
}

/** This host, the one realm (peers later). */
export async function hostRealm(ctx: Ctx): Promise<view.RealmView> {
  const { hostname } = await call<{ hostname: string }>(ctx, 'rpc/identify', {});
  return { id: hostname.replace(/[^A-Za-z0-9_.-]/g, '_') || 'localhost', name: hostname };
}

async function realmList(ctx: Ctx): Promise<void> {
  await ctx.caller.authenticate();
  const list = filtered(ctx, [await hostRealm(ctx)], { id: (r) => r.id });
  reply(ctx, 200, () => el('realms', {}, ...list.map((r) => view.realm.xml(ctx.links, r))), () => ({ realms: list.map((r) => view.realm.json(ctx.links, r)) }));
}

async function realmShow(ctx: Ctx, id?: string): Promise<void> {
  await ctx.caller.authenticate();
  const r = member([await hostRealm(ctx)], id, (x) => x.id, 'realm');
  reply(ctx, 200, () => view.realm.xml(ctx.links, r), () => ({ realm: view.realm.json(ctx.links, r) }));
}

async function images(ctx: Ctx): Promise<DcImage[]> {
  // Distributions need image.view: a caller without it sees the other images only.
  const [bootable, dists] = await Promise.all([
    call<Parameters<typeof imagesOf>[0]>(ctx, 'image', { action: 'bootable' }),
    call<{ distributions: DistInfo[] }>(ctx, 'dist', { action: 'list' }).then((r) => r.distributions, (err: RpcError) => (err.code === 403 ? [] : Promise.reject(err))),
  ]);
  return imagesOf(bootable, dists);
}

async function imageList(ctx: Ctx): Promise<void> {
  const [all, profs] = await Promise.all([images(ctx), profiles(ctx)]);
  const list = filtered(ctx, all, { id: (i) => i.id, owner_id: () => 'hyved', architecture: () => 'x86_64' });
  reply(ctx, 200, () => el('images', {}, ...list.map((i) => view.image.xml(ctx.links, i, profs))), () => ({ images: list.map((i) => view.image.json(ctx.links, i, profs)) }));
}

async function imageShow(ctx: Ctx, id?: string): Promise<void> {
  const [all, profs] = await Promise.all([images(ctx), profiles(ctx)]);
  const i = member(all, id, (x) => x.id, 'image');
  reply(ctx, 200, () => view.image.xml(ctx.links, i, profs), () => ({ image: view.image.json(ctx.links, i, profs) }));
}

async function stateList(ctx: Ctx): Promise<void> {
  const nodes = instanceStates();
  reply(ctx, 200, () => view.states.xml(nodes), () => view.states.json(nodes));
}

async function keys(ctx: Ctx): Promise<view.KeyView[]> {
  return (await call<{ keys: view.KeyView[] }>(ctx, 'key', { action: 'list' })).keys;
}

async function keyList(ctx: Ctx): Promise<void> {
  const list = filtered(ctx, await keys(ctx), { id: (k) => k.name });
  reply(ctx, 200, () => el('keys', {}, ...list.map((k) => view.key.xml(ctx.links, k))), () => ({ keys: list.map((k) => view.key.json(ctx.links, k)) }));
}

async function keyShow(ctx: Ctx, id?: string): Promise<void> {
  const k = member(await keys(ctx), id, (x) => x.name, 'key');
  reply(ctx, 200, () => view.key.xml(ctx.links, k), () => ({ key: view.key.json(ctx.links, k) }));
}

async function keyCreate(ctx: Ctx): Promise<void> {
  const { name, public_key } = ctx.params;
  if (!name) throw required('name');
  if (!public_key) throw badRequest('public_key: hyved stores public keys you give it (it makes no key pairs)', [{ path: '/public_key', message: 'is required' }]);
  const k = await call<view.KeyView>(ctx, 'key', { action: 'create', name, public_key });
  ctx.res.setHeader('Location', `${ctx.links.base}/keys/${encodeURIComponent(k.name)}`);
  reply(ctx, 201, () => view.key.xml(ctx.links, k), () => ({ key: view.key.json(ctx.links, k) }));
}

async function keyDelete(ctx: Ctx, id?: string): Promise<void> {
  await call(ctx, 'key', { action: 'delete', name: id });
  sendEmpty(ctx.res, 204);
}

const required = (field: string) => badRequest(`${field}: required parameter missing`, [{ path: `/${field}`, message: 'is required' }]);

// ---- instances

const VMID = /^[a-z0-9]{12}$/;

async function info(ctx: Ctx, id: string): Promise<VmInfo> {
  // Not a hyved id at all: unknown, as Deltacloud answers it (not a schema error).
  if (!VMID.test(id)) throw notFound(`no instance '${id}'`);
  return call<VmInfo>(ctx, 'vm', { action: 'info', vmid: id });
}

function runOffered(ctx: Ctx): boolean {
  return Boolean(ctx.services.router.listSchemas(null, { namespace: 'sysadm', name: 'vm' })['sysadm/vm']?.run);
}

/** What turns a vm info into an instance for this caller: the realm, whether run is offered, the caller's keys. */
async function viewer(ctx: Ctx): Promise<(vm: VmInfo) => view.InstanceView> {
  const [realm, own] = await Promise.all([hostRealm(ctx), keys(ctx)]);
  const run = runOffered(ctx);
  return (vm) => instanceOf(vm, realm, run, own);
}

async function instanceList(ctx: Ctx): Promise<void> {
  const defs = await call<{ groups?: { gid: string }[] }>(ctx, 'vm', { action: 'definitions' });
  const show = await viewer(ctx);
  const lists = await Promise.all((defs.groups ?? []).map((g) => call<{ vms: { vmid: string }[] }>(ctx, 'vm', { action: 'list', gid: g.gid })));
  const infos = await Promise.all(lists.flatMap((l) => l.vms).map((v) => info(ctx, v.vmid).catch((err: RpcError) => (err.code === 404 ? null : Promise.reject(err)))));
  const all = infos.filter((i): i is VmInfo => i !== null).map(show);
  const list = filtered(ctx, all, { id: (i) => i.id, state: (i) => i.state, realm_id: (i) => i.realm_id });
  reply(ctx, 200, () => el('instances', {}, ...list.map((i) => view.instance.xml(ctx.links, i))), () => ({ instances: list.map((i) => view.instance.json(ctx.links, i)) }));
}

async function instanceShow(ctx: Ctx, id?: string): Promise<void> {
  const [vm, show] = await Promise.all([info(ctx, id!), viewer(ctx)]);
  const i = show(vm);
  reply(ctx, 200, () => view.instance.xml(ctx.links, i), () => ({ instance: view.instance.json(ctx.links, i) }));
}

/** A unique default name: the image's, as Deltacloud's EC2 driver shows it, and a suffix. */
function defaultName(imageId: string): string {
  const stem = imageId.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50) || 'instance';
  return `${stem}-${Math.random().toString(36).slice(2, 8)}`;
}

async function instanceCreate(ctx: Ctx): Promise<void> {
  const p = ctx.params;
  if (!p.image_id) throw required('image_id');
  const [all, profs, realm] = await Promise.all([images(ctx), profiles(ctx), hostRealm(ctx)]);
  const image = all.find((i) => i.id === p.image_id);
  if (!image) throw notFound(`no image '${p.image_id}'`);
  const profile = profs.find((x) => x.id === (p.hwp_id || DEFAULT_PROFILE));
  if (!profile) throw notFound(`no hardware profile '${p.hwp_id}'`);
  if (p.realm_id && p.realm_id !== realm.id) throw notFound(`no realm '${p.realm_id}'`);
  const setup = await guestSetup(ctx, p);
  const definition = definitionFor(image, sizeFrom(profile, p), setup);
  const { vmid } = await call<{ vmid: string }>(ctx, 'vm', {
    action: 'create',
    name: p.name || defaultName(image.id),
    gid: 'default',
    description: `Deltacloud instance of image ${image.id}, hardware profile ${profile.id}`,
    ...(profile.id === CUSTOM ? {} : { hardware_profile: profile.id }),
    ...definition,
  });
  // Deltacloud's create launches the instance: PENDING now, RUNNING once it has booted (a
  // distribution's create task boots it itself, once written and seeded).
  if (!definition.power_on) background(call(ctx, 'vm', { action: 'state', vmid, state: 'RUNNING' }));
  const show = await viewer(ctx);
  // A distribution and the seed's keys are on the definition once the create task is done: shown as asked for now.
  const i = { ...show(await info(ctx, vmid)), state: 'PENDING' as const, actions: [], image_id: image.id, keyname: setup.key?.name ?? null };
  ctx.res.setHeader('Location', `${ctx.links.base}/instances/${vmid}`);
  reply(ctx, 201, () => view.instance.xml(ctx.links, i), () => ({ instance: view.instance.json(ctx.links, i) }));
}

/** keyname (the caller's key), password and user_data (base64 of the firstboot script), checked; 4xx naming the field. */
async function guestSetup(ctx: Ctx, p: Record<string, string>): Promise<GuestSetup> {
  const setup: GuestSetup = {};
  if (p.keyname) {
    const k = (await keys(ctx)).find((x) => x.name === p.keyname);
    if (!k) throw notFound(`no key '${p.keyname}'`);
    setup.key = { name: k.name, public_key: k.public_key };
  }
  // An empty field is what HTML forms send for "none".
  if (p.password) {
    if (p.password.length > MAX_PASSWORD) throw badRequest(`password: longer than ${MAX_PASSWORD} characters`, [{ path: '/password', message: `at most ${MAX_PASSWORD} characters` }]);
    setup.password = p.password;
  }
  if (p.user_data) setup.script = decodeUserData(p.user_data);
  return setup;
}

function decodeUserData(value: string): string {
  const bad = (message: string) => badRequest(`user_data: ${message}`, [{ path: '/user_data', message }]);
  // Ruby's Base64.encode64 breaks lines every 60 characters.
  const compact = value.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) throw bad('must be base64');
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.length > MAX_USER_DATA) throw bad(`${bytes.length} bytes once decoded, more than ${MAX_USER_DATA}`);
  try {
    // It becomes the seed's x-shellscript part: text, as cloud-init runs it.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw bad('must decode to UTF-8 text (a script)');
  }
}

/** A state change the client does not wait for; its failure is logged with the request (execute). */
function background(work: Promise<unknown>): Promise<unknown> {
  work.catch(() => {});
  return work;
}

async function instanceAction(ctx: Ctx, id: string, action: string): Promise<void> {
  if (action === 'run') return runOn(ctx, id);
  if (!(['start', 'stop', 'reboot', 'destroy'] as string[]).includes(action)) throw notFound(`no instance action '${action}'`);
  const before = await info(ctx, id);
  const allowed = dcActions(before.actions);
  if (!allowed.includes(action as DcAction)) {
    const state = instanceOf(before, { id: '', name: '' }, false).state;
    throw new RpcError(405, `${action} is not allowed on instance '${id}' in state ${state} (hyved: ${before.state}); allowed: ${allowed.join(', ') || 'none'}`);
  }
  if (action === 'destroy') {
    await call(ctx, 'vm', { action: 'delete', vmid: id });
    return sendEmpty(ctx.res, 204);
  }
  if (action === 'reboot') {
    await call(ctx, 'vm', { action: 'reboot', vmid: id });
  } else {
    // 202 Accepted: a graceful stop may take its time; the answer shows the state reached so far.
    const work = background(call(ctx, 'vm', { action: 'state', vmid: id, state: action === 'start' ? 'RUNNING' : 'STOPPED' }));
    const done = await Promise.race([work.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), SETTLE_MS).unref())]);
    // A change that failed at once is answered with its error.
    if (done) await work;
  }
  const [vm, show] = await Promise.all([info(ctx, id), viewer(ctx)]);
  const i = show(vm);
  // Deltacloud answers an action's JSON with the instance's hash itself, not wrapped (instance_action).
  reply(ctx, 202, () => view.instance.xml(ctx.links, i), () => view.instance.json(ctx.links, i));
}

/**
 * Run-on-instance through the guest agent (`sysadm/vm run`), not SSH: `private_key`, `password`,
 * `ip` and `port` are accepted and ignored, as the agent needs no guest credentials. `timeout_s`
 * (hyved's) bounds the command; a command that outlives it is a 504.
 */
async function runOn(ctx: Ctx, id: string): Promise<void> {
  const vm = await info(ctx, id);
  if (!runOffered(ctx)) throw new RpcError(501, 'run on instance is not offered: this daemon has no guest agent support');
  const cmd = ctx.params.cmd;
  if (!cmd) throw required('cmd');
  const timeout = ctx.params.timeout_s;
  if (timeout !== undefined && !/^\d{1,5}$/.test(timeout)) throw badRequest('timeout_s: not a whole number of seconds', [{ path: '/timeout_s', message: 'must be a whole number' }]);
  const out = await call<RunResult>(ctx, 'vm', { action: 'run', vmid: id, command: cmd, ...(timeout !== undefined ? { timeout_s: Number(timeout) } : {}) });
  if (out.timed_out) throw new RpcError(504, `the command did not finish within its time limit and was stopped${out.stdout ? `; its output so far: ${out.stdout.slice(0, 2000)}` : ''}`);
  const inst = instanceOf(vm, await hostRealm(ctx), true);
  const r: view.RunView = {
    id,
    address: (inst.public_addresses[0] ?? inst.private_addresses[0])?.address ?? '',
    command: cmd,
    stdout: out.stdout,
    stderr: out.stderr,
    exit_code: out.exit_code,
    timed_out: out.timed_out,
    ...(out.truncated !== undefined ? { truncated: out.truncated } : {}),
  };
  reply(ctx, 200, () => view.run.xml(ctx.links, r), () => view.run.json(ctx.links, r));
}

interface RunResult { exit_code: number | null; stdout: string; stderr: string; timed_out: boolean; truncated?: boolean }
