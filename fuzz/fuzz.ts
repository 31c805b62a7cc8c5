/**
 * hyved protocol fuzzer (issue 6): against a real daemon process, sends VALID requests of every
 * registered action (built from the schemas the daemon publishes through rpc/schema) and
 * schema-aware, envelope and raw-frame mutations of them, over several concurrent connections
 * (signed in as admin, and unauthenticated), and checks every reply with the oracle in oracle.ts.
 *
 *   node dist/fuzz/fuzz.js [--seconds 60] [--seed N] [--connections 6] [--anon 2]
 *                          [--max-frame-bytes 1048576] [--timeout-ms 5000] [--keep] [--no-predict] [--stats]
 *   node dist/fuzz/fuzz.js --replay fuzz/crashes/<timestamp>.json [--failure I]
 *
 * Safety: the daemon runs with qemu.binary=/bin/false (a VM start fails at once with a 500 that
 * names the hypervisor failure), iso.stall_timeout_s=1, and every frame is checked before it is
 * sent so that fetchiso URLs only name closed loopback ports or harmless local files.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, keepTempDir, startDaemon, tempDir, type TestDaemon } from '../test/helpers/daemon.js';
import { LOOPBACK } from '../test/helpers/servers.js';
import { FuzzConn, type Outcome, type SentFrame, type StrayReport } from './conn.js';
import { Mutator, type ActionInfo } from './mutate.js';
import { judge, type FailureKind, type Problem, type Verdict } from './oracle.js';
import { Pools, type FixedValues } from './pools.js';
import { expectationFor, type Expectation, type Registry } from './predict.js';
import { Rng, randomSeed } from './prng.js';
import { closedPorts, frameIsSafe } from './safety.js';
import { ValidGen, isValid, type Schema } from './schema-gen.js';
import { setTimeout as sleep } from 'node:timers/promises';

interface Options {
  seconds: number;
  seed: number;
  connections: number;
  anon: number;
  maxFrameBytes: number;
  timeoutMs: number;
  keep: boolean;
  predict: boolean;
  stats: boolean;
  replay?: string;
  failure?: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      seed: { type: 'string' },
      connections: { type: 'string' },
      anon: { type: 'string' },
      'max-frame-bytes': { type: 'string' },
      'timeout-ms': { type: 'string' },
      keep: { type: 'boolean' },
      'no-predict': { type: 'boolean' },
      stats: { type: 'boolean' },
      replay: { type: 'string' },
      failure: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: fuzz.js [--seconds 60] [--seed N] [--connections 6] [--anon 2] [--max-frame-bytes 1048576]\n' +
        '               [--timeout-ms 5000] [--keep] [--no-predict] [--stats]\n' +
        '       fuzz.js --replay fuzz/crashes/<file>.json [--failure I]\n',
    );
    process.exit(0);
  }
  const num = (v: string | undefined, d: number) => {
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${v}`);
    return n;
  };
  return {
    seconds: num(values.seconds, 60),
    seed: values.seed !== undefined ? num(values.seed, 0) >>> 0 : randomSeed(),
    connections: Math.max(1, num(values.connections, 6)),
    anon: num(values.anon, 2),
    maxFrameBytes: num(values['max-frame-bytes'], 1024 * 1024),
    timeoutMs: num(values['timeout-ms'], 5000),
    keep: Boolean(values.keep),
    predict: !values['no-predict'],
    stats: Boolean(values.stats),
    replay: values.replay,
    failure: values.failure !== undefined ? num(values.failure, 0) : undefined,
  };
}

// ---------------------------------------------------------------------------------------------

interface Example {
  kind: FailureKind;
  message: string;
  action: string | null;
  labels: string[];
  connection: string | null;
  expectation?: { id: string | number; codes?: number[]; reason: string };
  reply?: string;
  /** The frames last sent on that connection, oldest first; the failing one is the last. */
  frames: SentFrame[];
  daemon_output_during?: string;
  time: string;
}

interface Signature { signature: string; count: number; examples: Example[] }

const AUTH_FAMILY = new Set(['rpc/auth auth', 'rpc/auth_token auth_token', 'rpc/auth_clear auth_clear']);
const EVENT_TYPES = new Set(['audit', 'vm', 'dispatcher']);

class FuzzRun {
  daemon!: TestDaemon;
  dir = '';
  stateDir = '';
  private canary = '';
  registry: Registry | null = null;
  actions: ActionInfo[] = [];
  readonly pools = new Pools();
  fixed!: FixedValues;
  ports: number[] = [];

  requests = 0;
  skippedUnsafe = 0;
  private readonly signatures = new Map<string, Signature>();
  failures = 0;
  private readonly codes = new Map<string, number>();
  private readonly ops = new Map<string, number>();
  readonly reached = new Set<string>();
  private readonly perAction = new Map<string, Map<string, number>>();
  private deadline = 0;
  private stopping = false;
  daemonDead = false;
  private idCounter = 0;
  private readonly conns = new Set<FuzzConn>();

  constructor(readonly opts: Options) {}

  // --- set-up --------------------------------------------------------------------------------

  /** `fromState`: start on a copy of another run's state dir (replays of stateful failures). */
  async setup(fromState?: string): Promise<void> {
    this.dir = await tempDir('hyved-fuzz-');
    this.stateDir = path.join(this.dir, 'state');
    if (fromState) await cp(fromState, this.stateDir, { recursive: true, filter: (src) => !src.endsWith('.log') });
    const importDir = path.join(this.dir, 'import');
    const outside = path.join(this.dir, 'outside');
    const isoDir = path.join(this.stateDir, 'images', 'iso');
    const bootDir = path.join(this.stateDir, 'images', 'boot');
    for (const d of [isoDir, bootDir, importDir, outside]) await mkdir(d, { recursive: true });
    this.canary = `CANARY-${randomBytes(8).toString('hex')}`;
    await writeFile(path.join(outside, 'canary.iso'), this.canary + '\n');
    await writeFile(path.join(importDir, 'tiny.iso'), Buffer.alloc(8192, 0x41));
    await symlink(path.join(outside, 'canary.iso'), path.join(importDir, 'escape.iso'));
    await this.seedIsos();
    await writeFile(path.join(bootDir, 'vmlinuz-fuzz'), 'kernel');
    await writeFile(path.join(bootDir, 'initrd-fuzz'), 'initrd');

    this.ports = await closedPorts();
    const p = this.ports;
    const loop = p.length
      ? [
          `http://127.0.0.1:${p[0]}/fuzz.iso`,
          `https://127.0.0.1:${p[0]}/a/b/c.iso`,
          `ftp://127.0.0.1:${p[0]}/pub/x.iso`,
          `ftp://user:secret@127.0.0.1:${p[p.length - 1]}/x.iso`,
          `http://[::1]:${p[p.length - 1]}/v6.iso`,
          `http://127.0.0.1:${p[0]}/../../../../etc/passwd`,
          `http://127.0.0.1:${p[0]}/%2e%2e%2f%2e%2e%2fetc%2fpasswd`,
          `ftp://127.0.0.1:${p[0]}/a%0d%0aDELE%20x.iso`,
          `ftp://127.0.0.1:${p[0]}/dir/`,
          `http://127.0.0.1:${p[0]}/${'\u{1F600}'}.iso`,
          `http://127.0.0.1:${p[0]}/`,
        ]
      : [];
    this.fixed = {
      adminPassword: '',
      isos: ['fuzz.iso', 'fuzz2.iso'],
      bootFiles: ['vmlinuz-fuzz', 'initrd-fuzz'],
      nics: ['fuzz0'],
      urls: [
        ...loop,
        `file://${importDir}/tiny.iso`,
        `file://${importDir}/escape.iso`,
        `file://${importDir}/../outside/canary.iso`,
        `file://${importDir}/%2e%2e/outside/canary.iso`,
        `file://${outside}/canary.iso`,
        `file://${importDir}/`,
        `file://${importDir}/missing.iso`,
        `file://remotehost${importDir}/tiny.iso`,
        'file:///etc/passwd',
        'data:text/plain,hello',
        'javascript:alert(1)',
        'gopher://127.0.0.1:1/x',
        'not a url',
        'http://',
        'http://127.0.0.1:99999/x.iso',
        '//127.0.0.1:1/x.iso',
        '',
      ],
    };
    const config = {
      max_frame_bytes: this.opts.maxFrameBytes,
      // Frames up to 2 x max_frame_bytes go out on unauthenticated connections that live for the
      // whole run: the pre-sign-in limits would close them, and what they guard is tested apart.
      connections: { pre_auth_frame_bytes: this.opts.maxFrameBytes * 4, sign_in_timeout_s: 0 },
      hypervisor: 'qemu',
      accelerator: 'tcg',
      qemu: { binary: '/bin/false' },
      iso: { stall_timeout_s: 1, import_dirs: [importDir], max_redirects: 2, allow_private: LOOPBACK },
      // Wrong passwords are part of the fuzz: the blacklist must not lock the fuzzer out of 127.0.0.1.
      blacklist: { auth_fail_limit: 1_000_000_000, block_minutes: 0, reset_minutes: 0 },
      nics: { fuzz0: { interface: 'fuzzbr0', description: 'not a real bridge' } },
      groups: { limited: { description: 'small quota', quota: { vms: 3, cpus: 4, memory_mib: 4096, disk_mib: 2048 } } },
      tasks: { concurrency: 4, history: 50 },
      vm: { stop_timeout_s: 2, status_timeout_ms: 500 },
    };
    this.daemon = await startDaemon(config, this.stateDir);
    this.fixed.adminPassword = this.daemon.adminPassword;
    this.daemon.proc.once('exit', (code, signal) => {
      if (this.daemonStopRequested) return;
      this.daemonDead = true;
      // What was in flight on every connection when it died.
      const frames = [...this.conns].flatMap((c) => c.history.slice(-3)).sort((a, b) => a.at.localeCompare(b.at));
      this.record(null, [{ kind: 'daemon-exited', message: `daemon exited with code ${code} signal ${signal}` }], { frames });
    });
  }
  daemonStopRequested = false;

  async seedIsos(): Promise<void> {
    const isoDir = path.join(this.stateDir, 'images', 'iso');
    for (const name of ['fuzz.iso', 'fuzz2.iso']) {
      const f = path.join(isoDir, name);
      if (!(await stat(f).catch(() => null))) await writeFile(f, Buffer.alloc(4096, 0x49));
    }
  }

  /** Learns every action and its schema from the daemon, and which actions need a session. */
  async bootstrap(seed = true): Promise<FuzzConn> {
    const maint = await this.openConn('maint');
    if (!(await this.signIn(maint))) throw new Error('cannot sign in as admin');
    const v = await this.call(maint, 'rpc', 'schema', {});
    if (v.code !== 200) throw new Error(`rpc/schema failed: ${v.code} ${v.message}`);
    const listing = v.args as Record<string, Record<string, { permission: string | null; args: Schema }>>;
    const classes = new Map<string, Map<string, ActionInfo>>();
    for (const [key, acts] of Object.entries(listing)) {
      const slash = key.indexOf('/');
      const namespace = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const plain = Object.keys(acts).length === 1 && Object.keys(acts)[0] === name;
      const map = new Map<string, ActionInfo>();
      for (const [act, info] of Object.entries(acts)) {
        const a: ActionInfo = { key: `${key} ${act}`, namespace, name, action: plain ? null : act, schema: info.args, anonymous: false };
        map.set(act, a);
        this.actions.push(a);
      }
      classes.set(key, map);
    }
    this.registry = { classes, maxFrameBytes: this.opts.maxFrameBytes };
    // Anonymous actions: those a fresh connection may call without rpc/auth.
    const rng = new Rng(this.opts.seed, 999);
    await Promise.all(
      this.actions.map(async (a) => {
        const c = await this.openConn('probe');
        const args = this.validArgs(rng, a);
        const out = await c.request(Buffer.from(JSON.stringify({ namespace: a.namespace, name: a.name, id: 'probe', args })), false, 'probe', this.opts.timeoutMs, {
          labels: ['probe'],
          action: a.key,
          expect: { id: 'probe', reason: 'probe' },
        });
        const f = out.kind === 'reply' ? out.reply.frame : undefined;
        const args2 = f?.args as { code?: number; message?: string } | undefined;
        a.anonymous = !(f?.name === 'error' && args2?.code === 401 && String(args2.message).startsWith('not authenticated'));
        await this.closeConn(c);
      }),
    );
    if (!seed) return maint;
    // Something to act on: VMs with discs and media, an iohyve guest.
    await this.call(maint, 'sysadm', 'vm', {
      action: 'create', name: 'seedvm', gid: 'default', type: 'BIOS', cpus: 1, memory_mib: 64,
      discs: [{ label: 'd0', size_mib: 16 }], media: [{ mid: 'fuzz.iso', mode: 'BLOCK' }], nics: [{ type: 'NAT' }],
    });
    await this.call(maint, 'sysadm', 'vm', { action: 'create', name: 'seedlimited', gid: 'limited', hardware_profile: 'small' });
    await this.call(maint, 'sysadm', 'iohyve', { action: 'create', name: 'seedguest', size: '16M' });
    await this.maintain(maint);
    return maint;
  }

  validArgs(rng: Rng, a: ActionInfo): unknown {
    const gen = new ValidGen(rng, this.pools.knownFor(a.key, this.fixed));
    let args = gen.generate(a.schema);
    if (a.action !== null && args !== null && typeof args === 'object' && !Array.isArray(args)) {
      const withAction = { ...(args as Record<string, unknown>), action: a.action };
      if (isValid(a.schema, withAction)) args = withAction;
    }
    return args;
  }

  // --- connections and requests --------------------------------------------------------------

  async openConn(label: string): Promise<FuzzConn> {
    const c = await FuzzConn.open(this.daemon.url, label, (r) => this.onStray(r), EVENT_TYPES);
    this.conns.add(c);
    return c;
  }

  async closeAll(): Promise<void> {
    for (const c of [...this.conns]) await this.closeConn(c);
  }

  async closeConn(c: FuzzConn): Promise<void> {
    this.conns.delete(c);
    await c.close();
  }

  private nextId(conn: FuzzConn): string {
    return `${conn.label}-${++this.idCounter}`;
  }

  /** A valid request of ns/name with `args` (through the oracle like every other frame). */
  async call(conn: FuzzConn, namespace: string, name: string, args: unknown, labels = ['setup']): Promise<Verdict> {
    const data = Buffer.from(JSON.stringify({ namespace, name, id: this.nextId(conn), args }));
    return this.send(conn, data, false, labels, `${namespace}/${name}`);
  }

  async signIn(conn: FuzzConn): Promise<boolean> {
    let v = await this.call(conn, 'rpc', 'auth', { username: 'admin', password: this.fixed.adminPassword }, ['sign-in']);
    // Password checks are bounded per address: the other connections' sign-ins may hold them.
    for (let i = 0; i < 50 && (v.code === 429 || v.code === 503); i++) {
      await sleep(100);
      v = await this.call(conn, 'rpc', 'auth', { username: 'admin', password: this.fixed.adminPassword }, ['sign-in']);
    }
    if (v.code !== 200) {
      this.record(conn, [{ kind: 'final-check', message: `admin sign-in failed: ${v.code} ${v.message ?? ''}` }], {});
      return false;
    }
    conn.authed = true;
    return true;
  }

  /** Sends exact bytes, judges the reply, keeps the statistics, the session state and the pools. */
  async send(conn: FuzzConn, data: Buffer, binary: boolean, labels: string[], intended: string, exp?: Expectation): Promise<Verdict> {
    // Before rpc/schema has answered (the bootstrap sign-in) there is nothing to predict from.
    exp ??= this.registry ? expectationFor(data, binary, conn.authed, this.registry) : { id: JSON.parse(data.toString()).id, reason: 'bootstrap' };
    const outputFrom = this.daemon.output().length;
    const outcome: Outcome = await conn.request(data, binary, exp.id, this.opts.timeoutMs, {
      labels,
      action: intended,
      expect: { id: exp.id, codes: exp.codes, reason: exp.reason },
    });
    this.requests++;
    for (const l of labels) {
      const op = l.split('@')[0];
      this.ops.set(op, (this.ops.get(op) ?? 0) + 1);
    }
    const verdict = judge(outcome, exp, this.opts.timeoutMs, this.opts.predict);
    const codeKey = verdict.code === null ? outcome.kind : String(verdict.code);
    this.codes.set(codeKey, (this.codes.get(codeKey) ?? 0) + 1);
    if (exp.action) {
      this.reached.add(exp.action.key);
      let m = this.perAction.get(exp.action.key);
      if (!m) this.perAction.set(exp.action.key, (m = new Map()));
      m.set(codeKey, (m.get(codeKey) ?? 0) + 1);
      if (outcome.kind === 'reply') m.set('ms', (m.get('ms') ?? 0) + outcome.reply.ms);
    }
    if (verdict.problems.length) {
      const report = () => {
        if (!(this.daemonDead && outcome.kind !== 'reply')) this.record(conn, verdict.problems, { exp, outcome, labels, action: exp.action?.key ?? intended, outputFrom });
      };
      // A close may be the first sign of a dead daemon: its exit is reported on its own.
      if (outcome.kind === 'closed') setTimeout(report, 300);
      else report();
    }
    const key = exp.action?.key;
    if (verdict.code === 200 && key) {
      if (key === 'rpc/auth auth' || key === 'rpc/auth_token auth_token') conn.authed = true;
      if (key === 'rpc/auth_clear auth_clear') conn.authed = false;
      this.pools.harvest(key, verdict.args);
      const a = exp.req?.args as Record<string, unknown> | undefined;
      if (key === 'sysadm/vm delete' && typeof a?.vmid === 'string') this.pools.remove('vmid', a.vmid);
    }
    if (verdict.code === 401 && exp.action && !exp.action.anonymous) conn.authed = false;
    return verdict;
  }

  // --- failures ------------------------------------------------------------------------------

  private onStray(r: StrayReport): void {
    if (r.kind === 'connection-closed') {
      if (r.conn.label === 'probe') return;
      setTimeout(() => this.daemonDead || this.record(r.conn, [{ kind: r.kind, message: r.message }], {}), 300);
      return;
    }
    this.record(r.conn, [{ kind: r.kind, message: r.message }], { reply: r.text });
  }

  record(
    conn: FuzzConn | null,
    problems: Problem[],
    ctx: { exp?: Expectation; outcome?: Outcome; labels?: string[]; action?: string; reply?: string; outputFrom?: number; frames?: SentFrame[] },
  ): void {
    for (const p of problems) {
      this.failures++;
      const signature = `${p.kind} | ${ctx.action ?? '-'} | ${normalize(p.message)}`;
      let s = this.signatures.get(signature);
      if (!s) {
        this.signatures.set(signature, (s = { signature, count: 0, examples: [] }));
        process.stderr.write(`fuzz: FAILURE ${signature}\n`);
      }
      s.count++;
      if (s.examples.length >= 3) continue;
      // The failing frame last (in a burst it need not be the last one sent), the others as context.
      const history = conn ? [...conn.history] : [...(ctx.frames ?? [])];
      let at = -1;
      if (ctx.exp) for (let i = history.length - 1; i >= 0 && at < 0; i--) if (history[i].expect.id === ctx.exp.id) at = i;
      if (at >= 0) history.push(...history.splice(at, 1));
      const frames = history.map((f, i, all) => (i === all.length - 1 && at >= 0 ? f : trimFrame(f)));
      const replyText = ctx.outcome?.kind === 'reply' ? ctx.outcome.reply.text : ctx.reply;
      const ex: Example = {
        kind: p.kind,
        message: p.message,
        action: ctx.action ?? null,
        labels: ctx.labels ?? [],
        connection: conn?.label ?? null,
        ...(ctx.exp ? { expectation: { id: ctx.exp.id, codes: ctx.exp.codes, reason: ctx.exp.reason } } : {}),
        ...(replyText !== undefined ? { reply: replyText.slice(0, 16384) } : {}),
        frames: structuredClone(frames),
        time: new Date().toISOString(),
      };
      s.examples.push(ex);
      if (ctx.outputFrom !== undefined && this.daemon) {
        const from = ctx.outputFrom;
        // The daemon's log lines about this request may still be in the pipe.
        setTimeout(() => (ex.daemon_output_during = this.daemon.output().slice(from, from + 16384)), 150).unref();
      }
    }
  }

  // --- the fuzzing loops ---------------------------------------------------------------------

  private done(): boolean {
    return this.stopping || this.daemonDead || Date.now() >= this.deadline;
  }

  private genFrame(rng: Rng, mut: Mutator, conn: FuzzConn): { data: Buffer; binary: boolean; labels: string[]; schemaOnly: boolean; action: ActionInfo } {
    for (;;) {
      const action = rng.pick(this.actions);
      const valid = this.validArgs(rng, action);
      const g = mut.make(action, valid, this.nextId(conn));
      const data = typeof g.data === 'string' ? Buffer.from(g.data) : g.data;
      if (!frameIsSafe(data, g.binary, this.ports)) {
        if (++this.skippedUnsafe <= 5 && this.opts.stats) process.stderr.write(`fuzz: withheld (unsafe URL): ${data.subarray(0, 300).toString()}\n`);
        continue;
      }
      return { data, binary: g.binary, labels: g.labels, schemaOnly: g.schemaOnly, action: g.action };
    }
  }

  async worker(role: 'admin' | 'anon', index: number): Promise<void> {
    const rng = new Rng(this.opts.seed, index);
    const mut = new Mutator({ rng, maxFrameBytes: this.opts.maxFrameBytes, actions: this.actions, urls: this.fixed.urls });
    let conn = await this.openConn(`${role[0]}${index}`);
    while (!this.done()) {
      if (conn.closed) {
        this.conns.delete(conn);
        conn = await this.openConn(`${role[0]}${index}`);
      }
      if (role === 'admin' && !conn.authed) {
        if (!(await this.signIn(conn))) await sleep(200);
        continue;
      }
      if (role === 'anon' && conn.authed) {
        await this.call(conn, 'rpc', 'auth_clear', {}, ['sign-out']);
        continue;
      }
      const r = rng.float();
      try {
        if (r < 0.08) await this.burst(rng, mut, conn);
        else if (r < 0.083) {
          await this.closeConn(conn);
          conn = await this.openConn(`${role[0]}${index}`);
        } else if (r < 0.088) await this.hangup(rng, mut, role);
        else {
          const g = this.genFrame(rng, mut, conn);
          await this.send(conn, g.data, g.binary, g.labels, g.action.key);
        }
      } catch (err) {
        // A bug of the fuzzer's own: reported (it fails the run), but the worker goes on.
        this.record(conn, [{ kind: 'fuzzer-error', message: (err as Error).stack ?? String(err) }], {});
      }
    }
    if (!this.daemonDead) {
      // A last valid request proves that nothing else was still coming on this connection.
      await this.call(conn, 'rpc', 'identify', {}, ['sentinel']);
      await sleep(300);
    }
    await this.closeConn(conn);
  }

  /** Several requests pipelined on one connection; each must get its own single reply. */
  private async burst(rng: Rng, mut: Mutator, conn: FuzzConn): Promise<void> {
    const n = rng.range(2, 8);
    const batch: { data: Buffer; binary: boolean; labels: string[]; action: ActionInfo; exp: Expectation }[] = [];
    const ids = new Set<string>();
    for (let tries = 0; batch.length < n && tries < n * 5; tries++) {
      const g = this.genFrame(rng, mut, conn);
      if (!g.schemaOnly || AUTH_FAMILY.has(g.action.key)) continue;
      const exp = expectationFor(g.data, g.binary, conn.authed, this.registry!);
      if (typeof exp.id !== 'string' || !exp.id.startsWith(conn.label + '-') || ids.has(exp.id) || (exp.action && AUTH_FAMILY.has(exp.action.key))) continue;
      ids.add(exp.id);
      batch.push({ ...g, exp });
    }
    await Promise.all(batch.map((b) => this.send(conn, b.data, b.binary, [...b.labels, `burst:${batch.length}`], b.action.key, b.exp)));
  }

  /** A connection that sends and goes away at once: replies to a closed socket must not hurt. */
  private async hangup(rng: Rng, mut: Mutator, role: string): Promise<void> {
    const c = await FuzzConn.open(this.daemon.url, 'hangup', () => {}, EVENT_TYPES).catch(() => null);
    if (!c) return;
    if (role === 'admin' && rng.chance(0.5)) {
      c.fire(Buffer.from(JSON.stringify({ namespace: 'rpc', name: 'auth', id: 'h', args: { username: 'admin', password: this.fixed.adminPassword } })), false);
    }
    for (let i = rng.range(1, 4); i > 0; i--) {
      const g = this.genFrame(rng, mut, c);
      c.fire(g.data, g.binary);
    }
    if (rng.chance(0.5)) await sleep(rng.int(20));
    c.terminate();
  }

  /** Keeps the number of VMs bounded and the value pools fresh. */
  async maintain(conn: FuzzConn): Promise<void> {
    for (const gid of ['default', 'limited']) {
      const v = await this.call(conn, 'sysadm', 'vm', { action: 'list', gid }, ['maintenance']);
      const vms = (v.args as { vms?: { vmid: string; name: string }[] } | undefined)?.vms;
      if (v.code !== 200 || !Array.isArray(vms)) continue;
      const keep = gid === 'default' ? 20 : 2;
      const extra = vms.filter((x) => !x.name.startsWith('seed')).slice(0, Math.max(0, vms.length - keep)).slice(0, 10);
      for (const x of extra) await this.call(conn, 'sysadm', 'vm', { action: 'delete', vmid: x.vmid, force: true }, ['maintenance']);
    }
    await this.call(conn, 'sysadm', 'iohyve', { action: 'listvms' }, ['maintenance']);
    await this.call(conn, 'sysadm', 'iohyve', { action: 'listisos' }, ['maintenance']);
    await this.call(conn, 'rpc', 'dispatcher', { action: 'list', history: true }, ['maintenance']);
    await this.seedIsos();
  }

  async maintenanceLoop(conn: FuzzConn): Promise<void> {
    while (!this.done()) {
      await sleep(1000);
      if (this.done()) break;
      if (conn.closed) {
        this.conns.delete(conn);
        conn = await this.openConn('maint');
      }
      if (!conn.authed && !(await this.signIn(conn))) continue;
      await this.maintain(conn);
    }
    await this.closeConn(conn);
  }

  // --- the run -------------------------------------------------------------------------------

  async run(): Promise<number> {
    const o = this.opts;
    process.stdout.write(`fuzz: seed ${o.seed} (reproduce with --seed ${o.seed}), ${o.seconds} s, ${o.connections} admin + ${o.anon} unauthenticated connections\n`);
    await this.setup();
    let code = 1;
    try {
      const maint = await this.bootstrap();
      const anonymous = this.actions.filter((a) => a.anonymous).map((a) => a.key);
      process.stdout.write(`fuzz: daemon ${this.daemon.url} (state ${this.stateDir}), ${this.actions.length} actions (anonymous: ${anonymous.join(', ')}), closed loopback ports ${this.ports.join(', ') || 'none'}\n`);
      this.deadline = Date.now() + o.seconds * 1000;
      const progress = setInterval(() => {
        process.stderr.write(`fuzz: ${Math.round((o.seconds * 1000 - (this.deadline - Date.now())) / 1000)} s, ${this.requests} requests, ${this.failures} failures\n`);
      }, 10_000);
      const workers: Promise<void>[] = [this.maintenanceLoop(maint)];
      for (let i = 0; i < o.connections; i++) workers.push(this.worker('admin', i));
      for (let i = 0; i < o.anon; i++) workers.push(this.worker('anon', o.connections + i));
      await Promise.all(workers.map((w) => w.catch((err) => this.record(null, [{ kind: 'final-check', message: `fuzzer worker crashed: ${(err as Error).stack}` }], {}))));
      clearInterval(progress);
      this.stopping = true;
      await this.finalChecks();
    } catch (err) {
      this.record(null, [{ kind: 'final-check', message: `fuzzer aborted: ${(err as Error).stack}` }], {});
    } finally {
      this.stopping = true;
      for (const c of this.conns) c.terminate();
      this.daemonStopRequested = true;
      const exit = await this.daemon.stop();
      if (exit !== 0 && !this.daemonDead) this.record(null, [{ kind: 'final-check', message: `daemon exited with ${exit} on SIGTERM` }], {});
      await sleep(200);
      code = await this.report();
    }
    return code;
  }

  private async finalChecks(): Promise<void> {
    if (this.daemonDead) return;
    const proc = this.daemon.proc;
    if (proc.exitCode !== null || proc.signalCode !== null) {
      this.record(null, [{ kind: 'daemon-exited', message: `daemon gone: ${proc.exitCode} ${proc.signalCode}` }], {});
      return;
    }
    const c = await this.openConn('final').catch((err) => {
      this.record(null, [{ kind: 'final-check', message: `cannot connect after the run: ${(err as Error).message}` }], {});
      return null;
    });
    if (c) {
      const v = await this.call(c, 'rpc', 'identify', {}, ['final']);
      if (v.code !== 200) this.record(c, [{ kind: 'final-check', message: `rpc/identify after the run: ${v.code} ${v.message ?? ''}` }], {});
      if (await this.signIn(c)) await this.checkStore(c);
      await this.closeConn(c);
    }
    const out = this.daemon.output();
    const bad = out.split('\n').filter((l) => /unhandled rejection|uncaught exception/i.test(l));
    if (bad.length) this.record(null, [{ kind: 'final-check', message: `daemon output has ${bad.length} unhandled rejection line(s): ${bad[0].slice(0, 500)}` }], {});
    // fetchiso must never have copied the file behind the import dir's escaping symlink.
    const isoDir = path.join(this.stateDir, 'images', 'iso');
    for (const f of await readdir(isoDir).catch(() => [] as string[])) {
      const body = await readFile(path.join(isoDir, f)).catch(() => Buffer.alloc(0));
      if (body.length < 4096 && body.toString('utf8').includes(this.canary)) {
        this.record(null, [{ kind: 'final-check', message: `ISO store file ${f} holds a file from outside the import directories` }], {});
      }
    }
  }

  /** The VMs the daemon lists must be exactly those with a definition (and discs) on disk. */
  private async checkStore(c: FuzzConn): Promise<void> {
    await sleep(500); // tasks (iohyve create/install) finishing after the last request
    const listed = new Set<string>();
    for (const gid of ['default', 'limited']) {
      const v = await this.call(c, 'sysadm', 'vm', { action: 'list', gid }, ['final']);
      for (const x of (v.args as { vms?: { vmid: string }[] } | undefined)?.vms ?? []) listed.add(x.vmid);
    }
    const onDisk = new Set<string>();
    for (const d of await readdir(path.join(this.stateDir, 'vms')).catch(() => [] as string[])) {
      if (await stat(path.join(this.stateDir, 'vms', d, 'vm.json')).catch(() => null)) onDisk.add(d);
    }
    const ghosts = [...onDisk].filter((v) => !listed.has(v));
    const missing = [...listed].filter((v) => !onDisk.has(v));
    if (ghosts.length) {
      this.record(null, [{ kind: 'final-check', message: `VM definitions on disk for VMs the daemon does not list (back after a restart): ${ghosts.join(', ')}` }], {});
    }
    if (missing.length) this.record(null, [{ kind: 'final-check', message: `VMs listed without a definition on disk: ${missing.join(', ')}` }], {});
    const orphans = (await readdir(path.join(this.stateDir, 'discs')).catch(() => [] as string[])).filter((v) => !listed.has(v));
    if (orphans.length) this.record(null, [{ kind: 'final-check', message: `disc directories of VMs that do not exist: ${orphans.join(', ')}` }], {});
  }

  private async report(): Promise<number> {
    const o = this.opts;
    const codes = [...this.codes].sort().map(([k, v]) => `${k}:${v}`).join(' ');
    process.stdout.write(`fuzz: reply codes ${codes}; ${this.skippedUnsafe} frames withheld by the URL safety check\n`);
    if (o.stats) {
      for (const [key, m] of [...this.perAction].sort()) {
        const n = [...m].filter(([k]) => k !== 'ms').reduce((a, [, v]) => a + v, 0);
        const hist = [...m].filter(([k]) => k !== 'ms').sort().map(([k, v]) => `${k}:${v}`).join(' ');
        process.stdout.write(`fuzz:   ${key.padEnd(32)} ${String(n).padStart(6)} requests, mean ${((m.get('ms') ?? 0) / n).toFixed(1)} ms  ${hist}\n`);
      }
    }
    if (o.stats) process.stdout.write(`fuzz: mutations ${[...this.ops].sort().map(([k, v]) => `${k}:${v}`).join(' ')}\n`);
    const missing = this.actions.filter((a) => !this.reached.has(a.key)).map((a) => a.key);
    if (missing.length) process.stdout.write(`fuzz: actions never reached: ${missing.join(', ')}\n`);
    let file: string | null = null;
    if (this.failures > 0) {
      const dir = path.join(ROOT, 'fuzz', 'crashes');
      await mkdir(dir, { recursive: true });
      file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
      const body = {
        seed: o.seed,
        reproduce: `node dist/fuzz/fuzz.js --seed ${o.seed} --seconds ${o.seconds} --connections ${o.connections} --anon ${o.anon} --max-frame-bytes ${o.maxFrameBytes}`,
        replay: `node dist/fuzz/fuzz.js --replay ${path.relative(ROOT, path.join(dir, 'X.json')).replace('X.json', path.basename(file))}`,
        options: o,
        requests: this.requests,
        failures: this.failures,
        signatures: [...this.signatures.values()].map((s) => ({ signature: s.signature, count: s.count, examples: s.examples })),
        daemon_output_tail: this.daemon.output().slice(-16384),
        state_dir: this.stateDir,
      };
      await writeFile(file, JSON.stringify(body, null, 2) + '\n');
      for (const s of this.signatures.values()) process.stdout.write(`fuzz: ${s.count} x ${s.signature}\n`);
      process.stdout.write(`fuzz: reproducers in ${path.relative(process.cwd(), file)}\n`);
    }
    if (!o.keep && this.failures === 0) await rm(this.dir, { recursive: true, force: true });
    else {
      keepTempDir(this.dir);
      process.stdout.write(`fuzz: daemon state kept in ${this.dir}\n`);
    }
    process.stdout.write(`fuzz: ${this.requests} requests, ${this.reached.size} actions, ${this.failures} failures, seed ${o.seed}\n`);
    return this.failures > 0 ? 1 : 0;
  }
}

// ---------------------------------------------------------------------------------------------

/** Re-sends the frames of a crash file's failures to a fresh daemon and judges the last of each. */
async function replay(opts: Options): Promise<number> {
  const crash = JSON.parse(await readFile(opts.replay!, 'utf8')) as { signatures: Signature[]; state_dir?: string };
  // The failing run's state (VMs, discs, ISOs as it left them), when it is still there.
  const fromState = crash.state_dir && (await stat(crash.state_dir).catch(() => null)) ? crash.state_dir : undefined;
  process.stdout.write(`replay: ${fromState ? `on a copy of ${fromState}` : 'on a fresh state dir'}\n`);
  const examples = crash.signatures.flatMap((s) => s.examples.slice(0, 1));
  const chosen = opts.failure !== undefined ? [examples[opts.failure]].filter(Boolean) : examples;
  let reproduced = 0;
  for (const [i, ex] of chosen.entries()) {
    const run = new FuzzRun({ ...opts, seconds: 0 });
    await run.setup(fromState);
    try {
      // No seeding and no clean-up of the copied state: it is what the failure ran against.
      await run.bootstrap(false);
      process.stdout.write(`replay ${i}: ${ex.kind} ${ex.action ?? ''}: ${ex.message}\n`);
      const conns = new Map<string, FuzzConn>();
      let last: Verdict | null = null;
      for (const [j, f] of ex.frames.entries()) {
        if (f.text === undefined && f.base64 === undefined) continue; // trimmed context frame
        let c = conns.get(f.conn);
        if (!c || c.closed) conns.set(f.conn, (c = await run.openConn(f.conn)));
        if (f.authed && !c.authed) await run.signIn(c);
        const data = f.text !== undefined ? Buffer.from(f.text, 'utf8') : Buffer.from(f.base64!, 'base64');
        const before = run.failures;
        last = await run.send(c, data, f.binary, f.labels, f.action);
        const shown = data.length > 300 ? `${data.subarray(0, 300).toString('utf8')}... (${data.length} bytes)` : data.toString('utf8');
        process.stdout.write(`  frame ${j} [${f.conn}${f.authed ? ', signed in' : ''}] ${shown}\n    -> ${last.code} ${last.message ?? ''}${run.failures > before ? '  <== FAILURE' : ''}\n`);
      }
      await sleep(300);
      if (run.failures > 0) reproduced++;
      process.stdout.write(`replay ${i}: ${run.failures > 0 ? 'REPRODUCED' : 'not reproduced'}${last ? ` (last reply ${last.code})` : ''}\n`);
      const tail = run.daemon.output().split('\n').filter((l) => /error|unhandled/i.test(l)).slice(-10).join('\n');
      if (tail) process.stdout.write(`  daemon errors:\n${tail.replace(/^/gm, '    ')}\n`);
    } finally {
      await run.closeAll();
      run.daemonStopRequested = true;
      await run.daemon.stop();
      await rm(run.dir, { recursive: true, force: true });
    }
  }
  process.stdout.write(`replay: ${reproduced} of ${chosen.length} reproduced\n`);
  return reproduced > 0 ? 1 : 0;
}

function normalize(message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\d{4,}/g, 'N')
    .slice(0, 200);
}

/** Context frames stay exact unless huge. */
function trimFrame(f: SentFrame): SentFrame {
  const size = (f.text?.length ?? 0) + (f.base64?.length ?? 0);
  if (size <= 65536) return f;
  const { text: _t, base64: _b, ...rest } = f;
  return { ...rest, labels: [...f.labels, `omitted: ${size} characters`] };
}


const opts = parseOptions();
(opts.replay ? replay(opts) : new FuzzRun(opts).run()).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`fuzz: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(2);
  },
);
