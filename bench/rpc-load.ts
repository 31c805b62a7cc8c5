/**
 * Load generator for bench/rpc.ts, run as its own process so it never shares an event loop with
 * a server. Opens `connections` WebSockets, keeps `depth` requests in flight on each for
 * `warmupMs` + `durationMs` (each longer for a slow server), and prints one JSON line: calls/s and latency over the measured part,
 * plus the CPU the server process (all its threads) and this process used meanwhile.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { cpuMs, percentile } from './lib.js';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadArgs {
  url: string;
  /** 'sysadm': hyved's envelope (and the bare ceiling server); 'jsonrpc': JSON-RPC 2.0 (rpc-websockets). */
  protocol: 'sysadm' | 'jsonrpc';
  /** Signed in on every connection with rpc/auth_token first (sysadm only). */
  token?: string;
  /** 'nic': sysadm/nic list (jsonrpc: nic.list); 'identify': rpc/identify, sysadm only. */
  method?: 'nic' | 'identify';
  connections: number;
  depth: number;
  /** At least this long, and until as many replies came as requests were first sent (queues in steady state). */
  warmupMs: number;
  durationMs: number;
  serverPid: number;
}

export interface LoadResult {
  calls: number;
  warmup_s: number;
  seconds: number;
  calls_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  server_cpu_ms: number;
  load_cpu_ms: number;
  /** One error frame, to see what went wrong. */
  sample_error?: string;
}

const args = JSON.parse(process.argv[2]) as LoadArgs;

const frame =
  args.protocol === 'jsonrpc'
    ? (id: number) => `{"jsonrpc":"2.0","method":"nic.list","params":{"action":"list"},"id":${id}}`
    : args.method === 'identify'
      ? (id: number) => `{"namespace":"rpc","name":"identify","id":${id},"args":{}}`
      : (id: number) => `{"namespace":"sysadm","name":"nic","id":${id},"args":{"action":"list"}}`;
const isSuccess =
  args.protocol === 'sysadm'
    ? (m: Record<string, unknown>) => m.name === 'response'
    : (m: Record<string, unknown>) => m.result !== undefined && m.error === undefined;

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(args.url.replace(/^http/, 'ws'), { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function signIn(ws: WebSocket): Promise<void> {
  const reply = await new Promise<Record<string, unknown>>((resolve) => {
    ws.once('message', (d) => resolve(JSON.parse(d.toString())));
    ws.send(JSON.stringify({ namespace: 'rpc', name: 'auth_token', id: 'auth', args: { token: args.token } }));
  });
  if (reply.name !== 'response') throw new Error(`auth_token refused: ${JSON.stringify(reply)}`);
}

const sockets: WebSocket[] = [];
for (let i = 0; i < args.connections; i++) sockets.push(await open());
if (args.token) await Promise.all(sockets.map(signIn));

let nextId = 1;
let measuring = false;
let stopping = false;
let calls = 0;
let replies = 0;
let errors = 0;
let sampleError: string | undefined;
const latencies: number[] = [];
const sentAt = new Map<number, number>();
let outstanding = 0;
let drained: (() => void) | null = null;

function send(ws: WebSocket): void {
  const id = nextId++;
  sentAt.set(id, performance.now());
  outstanding++;
  ws.send(frame(id));
}

for (const ws of sockets) {
  ws.on('message', (data) => {
    const now = performance.now();
    const msg = JSON.parse(data.toString()) as Record<string, unknown>;
    const id = msg.id as number;
    const t0 = sentAt.get(id);
    if (t0 === undefined) throw new Error(`reply with unknown id: ${data.toString().slice(0, 200)}`);
    sentAt.delete(id);
    outstanding--;
    replies++;
    if (measuring) {
      if (isSuccess(msg)) {
        calls++;
        latencies.push(now - t0);
      } else {
        errors++;
        sampleError ??= data.toString().slice(0, 300);
      }
    } else if (!isSuccess(msg)) {
      errors++;
      sampleError ??= data.toString().slice(0, 300);
    }
    if (!stopping) send(ws);
    else if (outstanding === 0) drained?.();
  });
  ws.on('close', () => {
    if (!stopping) {
      process.stderr.write(`rpc-load: connection closed by server during the run\n`);
      process.exit(1);
    }
  });
}

const started = performance.now();
for (const ws of sockets) for (let i = 0; i < args.depth; i++) send(ws);
// A slow server needs longer than warmupMs before the first requests' queueing stops skewing latency.
const MAX_WARMUP_MS = 20_000;
await sleep(args.warmupMs);
while (replies < args.connections * args.depth && performance.now() - started < MAX_WARMUP_MS) await sleep(50);
const warmupS = (performance.now() - started) / 1000;

const serverCpu0 = await cpuMs(args.serverPid);
const loadCpu0 = process.cpuUsage();
const t0 = performance.now();
measuring = true;
// A server that answers a whole pipeline at once (all requests in flight finishing together) gives
// a lumpy rate: measure until as many replies came as requests are in flight, if that is longer.
const MAX_MEASURE_MS = 20_000;
await sleep(args.durationMs);
while (calls + errors < args.connections * args.depth && performance.now() - t0 < MAX_MEASURE_MS) await sleep(50);
measuring = false;
const seconds = (performance.now() - t0) / 1000;
const serverCpu = (await cpuMs(args.serverPid)) - serverCpu0;
const loadCpu = process.cpuUsage(loadCpu0);

stopping = true;
// Requests still queued in the server would eat CPU during the next cell: wait for their replies.
if (outstanding > 0) await Promise.race([new Promise<void>((r) => (drained = r)), sleep(30_000)]);
for (const ws of sockets) ws.terminate();

latencies.sort((a, b) => a - b);
const result: LoadResult = {
  calls,
  warmup_s: warmupS,
  seconds,
  calls_per_s: calls / seconds,
  p50_ms: percentile(latencies, 50),
  p99_ms: percentile(latencies, 99),
  errors,
  server_cpu_ms: serverCpu,
  load_cpu_ms: (loadCpu.user + loadCpu.system) / 1000,
  ...(sampleError ? { sample_error: sampleError } : {}),
};
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
