/**
 * Scale of definitions: VMs defined without discs, grown 100 → 1,000 → 10,000 (LEVELS) in one
 * state dir. At each level: the mean time of one `vm create` over the last BATCH creates, the
 * time from spawning a fresh daemon on that state dir to its first 200 from /healthz, `vm list`
 * of the whole group p50/p99 (and one page of 100), and the daemon's RSS after the list requests.
 * The creates come from one connection, CONCURRENCY in flight: cost per VM must stay flat. Their
 * wall time is mostly fsync and swings with the machine's load; the daemon's CPU time per create
 * (all threads, /proc) is the steadier figure for how the work grows.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { MB, RawConn, adminToken, cpuMs, memOf, percentile, progress, round, settle, sleep, knob } from './lib.js';
import WebSocket from 'ws';
import { HYVED } from '../test/helpers/daemon.js';

const LEVELS = (knob('LEVELS', '100,1000,10000', '100,1000')).split(',').map(Number);
const BATCH = 100;
const CONCURRENCY = 8;
const LIST_CALLS = Number(knob('LIST_CALLS', 200, 100));
const CONFIG = { log: { level: 'warn' }, validate_results: false };

/** Creates VMs from..to; the wall time and the daemon's CPU time per create over the last BATCH. */
async function createMany(conn: RawConn, pid: number, from: number, to: number): Promise<{ ms: number; cpuMs: number }> {
  let next = from;
  let lastBatchStart = 0;
  let cpuStart = Promise.resolve(0);
  const batchFrom = Math.max(from, to - BATCH);
  const worker = async () => {
    while (next < to) {
      const i = next++;
      if (i === batchFrom) {
        lastBatchStart = performance.now();
        cpuStart = cpuMs(pid);
      }
      await conn.call('sysadm', 'vm', { action: 'create', name: `vm${String(i).padStart(5, '0')}`, gid: 'default', cpus: 1, memory_mib: 64 });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const ms = (performance.now() - lastBatchStart) / (to - batchFrom);
  return { ms, cpuMs: ((await cpuMs(pid)) - (await cpuStart)) / (to - batchFrom) };
}

/** Spawns the daemon on an existing state dir; ms until /healthz first answers 200. */
async function restartTime(configFile: string): Promise<{ ms: number; stop: () => Promise<void>; pid: number; url: Promise<string> }> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, [HYVED, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const url = new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /^hyved \S+ is listening on (\S+)/m.exec(out);
      if (m) resolve(m[1]);
    };
    proc.stdout.on('data', check);
    proc.once('exit', (code) => reject(new Error(`daemon exited with ${code}: ${out}`)));
  });
  const base = await url;
  for (;;) {
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    await sleep(5);
  }
  const ms = performance.now() - t0;
  return {
    ms,
    pid: proc.pid!,
    url,
    stop: () => new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}

/**
 * `vm list` round trips, one at a time on a plain socket signed in with `token`: request sent →
 * reply frame complete at the client, and → the client's JSON.parse of it done (10,000 VMs are a
 * 1.1 MB reply, and parsing it is the client's cost, about 10 ms, not the daemon's).
 */
async function listTimes(url: string, token: string, args: Record<string, unknown>): Promise<{ receipt: number[]; parsed: number[] }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
  await once(ws, 'open');
  const ask = async (req: unknown): Promise<[Buffer, number]> => {
    ws.send(JSON.stringify(req));
    const [data] = (await once(ws, 'message')) as [Buffer];
    return [data, performance.now()];
  };
  const [signedIn] = await ask({ namespace: 'rpc', name: 'auth_token', id: 'a', args: { token } });
  if (JSON.parse(signedIn.toString()).name !== 'response') throw new Error(`auth_token: ${signedIn}`);
  const receipt: number[] = [];
  const parsed: number[] = [];
  for (let i = 0; i < LIST_CALLS; i++) {
    const t0 = performance.now();
    const [data, t1] = await ask({ namespace: 'sysadm', name: 'vm', id: `l${i}`, args: { action: 'list', gid: 'default', ...args } });
    const reply = JSON.parse(data.toString());
    parsed.push(performance.now() - t0);
    receipt.push(t1 - t0);
    if (reply.name !== 'response') throw new Error(`vm list: ${JSON.stringify(reply.args)}`);
  }
  ws.close();
  return { receipt: receipt.sort((a, b) => a - b), parsed: parsed.sort((a, b) => a - b) };
}

let d: TestDaemon | null = await startDaemon(CONFIG);
const { stateDir, configFile, adminPassword } = d;
const rows: Record<string, number>[] = [];
try {
  let conn = await RawConn.open(d.url);
  await conn.call('rpc', 'auth', { username: 'admin', password: adminPassword });
  // Warm-up (JIT, the first fsyncs), so that the 100 level measures the same work as the others.
  const warm = await Promise.all(Array.from({ length: 50 }, (_, i) => conn.call<{ vmid: string }>('sysadm', 'vm', { action: 'create', name: `warm${i}`, gid: 'default', cpus: 1, memory_mib: 64 })));
  for (const { vmid } of warm) await conn.call('sysadm', 'vm', { action: 'delete', vmid });
  let have = 0;
  for (const level of LEVELS) {
    progress(`vm-scale: creating VMs ${have} → ${level}`);
    const created = await createMany(conn, d!.proc.pid!, have, level);
    have = level;
    conn.close();
    await d!.stop();
    d = null;

    const r = await restartTime(configFile);
    progress(`vm-scale: ${level} VMs: create ${round(created.ms, 2)} ms/VM, restart to /healthz ${round(r.ms, 0)} ms`);
    const url = await r.url;
    const token = await adminToken(url, adminPassword);
    conn = await RawConn.open(url);
    await conn.call('rpc', 'auth_token', { token });
    const whole = await conn.call<{ vms: { name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' });
    if (whole.vms.length !== level) throw new Error(`vm list returned ${whole.vms.length} VMs, expected ${level}`);
    await settle(r.pid);
    const full = await listTimes(url, token, {});
    // Paging came with this bench: a daemon without it answers 400, and the columns read null.
    const paged = await listTimes(url, token, { offset: Math.floor(level / 2), limit: 100 }).catch(() => ({ receipt: [], parsed: [] }));
    const mem = await memOf(r.pid);
    const row = {
      vms: level,
      create_ms_per_vm: round(created.ms, 3),
      create_cpu_ms_per_vm: round(created.cpuMs, 3),
      restart_to_healthz_ms: round(r.ms, 0),
      list_p50_ms: round(percentile(full.receipt, 50), 2),
      list_p99_ms: round(percentile(full.receipt, 99), 2),
      list_parsed_p50_ms: round(percentile(full.parsed, 50), 2),
      list_parsed_p99_ms: round(percentile(full.parsed, 99), 2),
      page100_p50_ms: round(percentile(paged.receipt, 50), 2),
      page100_p99_ms: round(percentile(paged.receipt, 99), 2),
      rss_mb: round(mem.rss / MB, 1),
    };
    progress(`vm-scale: ${JSON.stringify(row)}`);
    rows.push(row);
    // Hand the running daemon back to the loop as the one that creates the next level.
    conn.close();
    await r.stop();
    if (level !== LEVELS.at(-1)) {
      d = await startDaemon(CONFIG, stateDir);
      conn = await RawConn.open(d.url);
      await conn.call('rpc', 'auth_token', { token: await adminToken(d.url, adminPassword) });
    }
  }
  const [first, last] = [rows[0], rows.at(-1)!];
  // Per tenfold, so that a quick run (fewer levels) compares with a full one: 1 is flat.
  const tenfolds = Math.log10(last.vms / first.vms);
  console.log(JSON.stringify({
    scenario: 'vm-scale',
    levels: rows,
    ratio_create_cpu_per_vm_growth_per_tenfold: tenfolds > 0 ? round((last.create_cpu_ms_per_vm / first.create_cpu_ms_per_vm) ** (1 / tenfolds), 2) : null,
  }));
} finally {
  await d?.stop();
  await rm(stateDir, { recursive: true, force: true });
}
process.exit(0);
