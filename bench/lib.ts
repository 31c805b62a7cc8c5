/**
 * Small helpers shared by the benchmarks: raw sysadm frames over `ws`, /proc readings, child
 * processes that talk JSON, percentiles. Progress goes to stderr; results are JSON lines on stdout.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { HyvedClient } from '../src/client/client.js';
import { MARKER, readConsoleUntil } from '../test/helpers/guest.js';
import { setTimeout as sleep } from 'node:timers/promises';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

export { sleep };

export function progress(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
}

/** `npm run bench -- --quick` (bench/run.ts passes it on): each scenario runs briefly. */
export const QUICK = process.argv.includes('--quick');

/** A scenario's size or round count: the environment's value if set, else the quick or the full default. */
export function knob(name: string, full: number | string, quick: number | string): string {
  return process.env[name] ?? String(QUICK ? quick : full);
}

export const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Percentile of an ascending array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

/** Percentile of a histogram {bucket value: count}. */
export function histPercentile(hist: Map<number, number>, p: number): number {
  const keys = [...hist.keys()].sort((a, b) => a - b);
  const total = keys.reduce((s, k) => s + hist.get(k)!, 0);
  const want = Math.ceil((p / 100) * total);
  let seen = 0;
  for (const k of keys) {
    seen += hist.get(k)!;
    if (seen >= want) return k;
  }
  return NaN;
}

const CLK_TCK = 100;

/** CPU time (user + system, all threads) a process has used so far, in ms. */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** VmRSS and VmHWM (peak) in bytes. */
export async function memOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

export async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

export const MB = 1024 * 1024;

/** A raw WebSocket to the daemon with a promise per request id (replies only, events ignored). */
export class RawConn {
  private next = 1;
  private readonly waiting = new Map<string, (msg: Reply) => void>();
  /** Frames that were not a reply to a pending request. */
  onOther: ((text: string) => void) | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      const msg = JSON.parse(text) as Reply;
      const done = msg.id !== '' ? this.waiting.get(String(msg.id)) : undefined;
      if (done) {
        this.waiting.delete(String(msg.id));
        done(msg);
      } else this.onOther?.(text);
    });
  }

  static open(url: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url.replace(/^http/, 'ws'), { perMessageDeflate: false });
      ws.once('open', () => resolve(new RawConn(ws)));
      ws.once('error', reject);
    });
  }

  /** Sends one request; resolves with the reply frame (response or error). */
  request(namespace: string, name: string, args?: unknown): Promise<Reply> {
    const id = `r${this.next++}`;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ namespace, name, id, args }));
    });
  }

  /** Like request, but rejects on an error reply and resolves with args. */
  async call<T = unknown>(namespace: string, name: string, args?: unknown): Promise<T> {
    const reply = await this.request(namespace, name, args);
    if (reply.name !== 'response') throw new Error(`${namespace}/${name}: ${JSON.stringify(reply.args)}`);
    return reply.args as T;
  }

  close(): void {
    this.ws.terminate();
  }
}

export interface Reply { namespace: string; name: string; id: string | number; args: unknown }

/** One rpc/auth (one scrypt check): the token other connections sign in with via rpc/auth_token. */
export async function adminToken(url: string, password: string): Promise<string> {
  const c = await RawConn.open(url);
  try {
    const [token] = await c.call<[string, number]>('rpc', 'auth', { username: 'admin', password });
    return token;
  } finally {
    c.close();
  }
}

/**
 * Runs `node dist/bench/<script>.js '<json arg>'`, passing its stderr through, and resolves with
 * the last stdout line parsed as JSON.
 */
export function runWorker<T>(script: string, arg: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [path.join(BENCH_DIR, script), JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${script} exited with ${code}: ${out}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${script} printed no JSON: ${out}`));
      }
    });
  });
}

/** The soft "Max open files" limit of a process. */
export async function fdLimit(pid: number): Promise<number> {
  const limits = await readFile(`/proc/${pid}/limits`, 'utf8');
  return Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? NaN);
}

/** Waits until a process uses (almost) no CPU for `windowMs`; resolves with how long that took. */
export async function settle(pid: number, windowMs = 300, maxMs = 60_000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const c0 = await cpuMs(pid);
    await sleep(windowMs);
    // /proc counts in 10 ms ticks: two ticks in the window is idle.
    if ((await cpuMs(pid)) - c0 <= 20 || Date.now() - t0 > maxMs) return Date.now() - t0;
  }
}

/** Send and receive queue bytes and state (1: established) of every IPv4 TCP socket, keyed "localPort>remotePort". */
export async function tcpQueues(): Promise<Map<string, { tx: number; rx: number; state: number }>> {
  const out = new Map<string, { tx: number; rx: number; state: number }>();
  const lines = (await readFile('/proc/net/tcp', 'utf8')).trim().split('\n').slice(1);
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    const port = (addr: string) => parseInt(addr.split(':')[1], 16);
    const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
    out.set(`${port(f[1])}>${port(f[2])}`, { tx, rx, state: parseInt(f[3], 16) });
  }
  return out;
}

export interface BootTime { running: number; marker: number }

/**
 * Creates the VM `def`, starts it and times the requests to RUNNING and to the guest's boot marker
 * on its serial console; then deletes it.
 */
export async function timeBoot(c: HyvedClient, stateDir: string, def: Record<string, unknown>, timeoutMs = 90_000): Promise<BootTime> {
  const t0 = performance.now();
  const { vmid } = await c.call<{ vmid: string }>('sysadm', 'vm', def);
  await c.call('sysadm', 'vm', { action: 'state', vmid, state: 'RUNNING' });
  const running = performance.now() - t0;
  await readConsoleUntil(path.join(stateDir, 'vms', vmid, 'console.sock'), new RegExp(MARKER), timeoutMs);
  const marker = performance.now() - t0;
  await c.call('sysadm', 'vm', { action: 'delete', vmid, force: true });
  return { running, marker };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
