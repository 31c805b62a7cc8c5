/**
 * RPC throughput and latency: hyved's `sysadm/nic list` (authenticated, permission-checked,
 * validated) next to (a) a bare `ws` server answering the same bytes, the ceiling, and (b) an
 * rpc-websockets JSON-RPC 2.0 server returning the same object, a peer. Every server and the load
 * generator are separate processes. Pools of 1, 16 and 64 connections, each with DEPTH requests
 * in flight, WARMUP_MS (longer for a slow server: until the first requests are answered) then
 * DURATION_MS per cell; servers alternate (hyved, bare, peer, then as diagnostics hyved at log
 * level info, and hyved answering rpc/identify at warn and info) within each pool size; the sweep runs
 * ROUNDS times, so a noisy neighbour hits every server alike. Prints one JSON line per pool size.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startDaemon, tempDir, type TestDaemon } from '../test/helpers/daemon.js';
import { BENCH_DIR, RawConn, adminToken, progress, round, runWorker, settle, knob } from './lib.js';
import type { LoadArgs, LoadResult } from './rpc-load.js';

const POOLS = (knob('POOLS', '1,16,64', '1,16')).split(',').map(Number);
const DEPTH = Number(process.env.DEPTH ?? 32);
const WARMUP_MS = Number(knob('WARMUP_MS', 1000, 500));
const DURATION_MS = Number(knob('DURATION_MS', 3000, 1000));
const ROUNDS = Number(process.env.ROUNDS ?? 1);

interface Target { name: string; url: string; protocol: LoadArgs['protocol']; method?: LoadArgs['method']; token?: string; pid: number }

/** Starts a comparison server process; resolves once it prints its port. */
function startServer(kind: 'bare' | 'peer', argsFile: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [path.join(BENCH_DIR, 'rpc-servers.js'), kind, argsFile], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ proc, url: `ws://127.0.0.1:${m[1]}` });
    });
    proc.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
  });
}

async function hyvedTarget(name: string, d: TestDaemon): Promise<Target> {
  return { name, url: d.url, protocol: 'sysadm', token: await adminToken(d.url, d.adminPassword), pid: d.proc.pid! };
}

const daemons: TestDaemon[] = [];
const servers: ChildProcess[] = [];
const argsDir = await tempDir('hyved-bench-rpc-');
try {
  progress('rpc: starting hyved (log warn), hyved (log info)');
  // validate_results is off in production (the default); the test helper turns it on.
  const warn = await startDaemon({ log: { level: 'warn' }, validate_results: false });
  daemons.push(warn);
  const info = await startDaemon({ log: { level: 'info' }, validate_results: false });
  daemons.push(info);
  const hyved = await hyvedTarget('hyved', warn);
  const hyvedInfo = await hyvedTarget('hyved_log_info', info);

  // The bytes hyved answers nic list with, for the other servers to answer alike.
  const c = await RawConn.open(warn.url);
  await c.call('rpc', 'auth_token', { token: hyved.token });
  const sample = await c.request('sysadm', 'nic', { action: 'list' });
  c.close();
  if (sample.name !== 'response') throw new Error(`nic list failed: ${JSON.stringify(sample)}`);
  const argsFile = path.join(argsDir, 'nic-list-args.json');
  await writeFile(argsFile, JSON.stringify(sample.args));
  const replyBytes = Buffer.byteLength(JSON.stringify(sample));

  const bareSrv = await startServer('bare', argsFile);
  servers.push(bareSrv.proc);
  const peerSrv = await startServer('peer', argsFile);
  servers.push(peerSrv.proc);
  const targets: Target[] = [
    hyved,
    { name: 'bare', url: bareSrv.url, protocol: 'sysadm', pid: bareSrv.proc.pid! },
    { name: 'peer', url: peerSrv.url, protocol: 'jsonrpc', pid: peerSrv.proc.pid! },
    hyvedInfo,
    // Diagnostic: hyved's own overhead (parse, route, validate, audit event) without nic list's sysfs reads.
    { ...hyved, name: 'hyved_identify', method: 'identify' },
    // ... and with a log line per request (info), where nic list's cost no longer hides it.
    { ...hyvedInfo, name: 'hyved_identify_log_info', method: 'identify' },
  ];

  const results = new Map<string, LoadResult[]>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const connections of POOLS) {
      for (const t of targets) {
        // A daemon at log level info goes on writing the last cell's request log for seconds after
        // it: unless every server is quiet first, that CPU is charged to whichever cell comes next.
        await Promise.all([...new Set(targets.map((x) => x.pid))].map((pid) => settle(pid)));
        const res = await runWorker<LoadResult>('rpc-load.js', {
          url: t.url, protocol: t.protocol, method: t.method, token: t.token, connections, depth: DEPTH,
          warmupMs: WARMUP_MS, durationMs: DURATION_MS, serverPid: t.pid,
        } satisfies LoadArgs);
        // Counted, not fatal: failing under load is a result too (calls_per_s counts successes only).
        if (res.errors > 0) progress(`rpc: ${t.name} answered ${res.errors} requests with errors, e.g. ${res.sample_error}`);
        progress(`rpc round ${r + 1}/${ROUNDS} ${connections} conn ${t.name}: ${Math.round(res.calls_per_s)} calls/s, p50 ${round(res.p50_ms)} ms, p99 ${round(res.p99_ms)} ms`);
        const key = `${connections}/${t.name}`;
        results.set(key, [...(results.get(key) ?? []), res]);
      }
    }
  }

  for (const connections of POOLS) {
    const fig: Record<string, { calls_per_s: number; p50_ms: number; p99_ms: number; errors: number; server_cpu_us_per_call: number; load_cpu_us_per_call: number }> = {};
    for (const t of targets) {
      const rs = results.get(`${connections}/${t.name}`)!;
      const calls = rs.reduce((s, x) => s + x.calls, 0);
      const secs = rs.reduce((s, x) => s + x.seconds, 0);
      const mean = (f: (x: LoadResult) => number) => rs.reduce((s, x) => s + f(x), 0) / rs.length;
      fig[t.name] = {
        calls_per_s: Math.round(calls / secs),
        p50_ms: round(mean((x) => x.p50_ms)),
        p99_ms: round(mean((x) => x.p99_ms)),
        errors: rs.reduce((s, x) => s + x.errors, 0),
        server_cpu_us_per_call: round((rs.reduce((s, x) => s + x.server_cpu_ms, 0) * 1000) / calls, 1),
        load_cpu_us_per_call: round((rs.reduce((s, x) => s + x.load_cpu_ms, 0) * 1000) / calls, 1),
      };
    }
    const ratio = (a: number, b: number) => round(a / b, 3);
    console.log(JSON.stringify({
      scenario: 'rpc',
      connections,
      depth: DEPTH,
      seconds_per_server: Object.fromEntries(targets.map((t) => [t.name, round(results.get(`${connections}/${t.name}`)!.reduce((s, x) => s + x.seconds, 0), 1)])),
      reply_bytes: replyBytes,
      ...fig,
      ratio_calls_hyved_over_bare: ratio(fig.hyved.calls_per_s, fig.bare.calls_per_s),
      ratio_calls_hyved_over_peer: ratio(fig.hyved.calls_per_s, fig.peer.calls_per_s),
      ratio_p50_hyved_over_bare: ratio(fig.hyved.p50_ms, fig.bare.p50_ms),
      ratio_p50_hyved_over_peer: ratio(fig.hyved.p50_ms, fig.peer.p50_ms),
      ratio_cpu_per_call_hyved_over_bare: ratio(fig.hyved.server_cpu_us_per_call, fig.bare.server_cpu_us_per_call),
      ratio_cpu_per_call_hyved_over_peer: ratio(fig.hyved.server_cpu_us_per_call, fig.peer.server_cpu_us_per_call),
      ratio_calls_log_info_over_warn: ratio(fig.hyved_log_info.calls_per_s, fig.hyved.calls_per_s),
      ratio_calls_identify_over_bare: ratio(fig.hyved_identify.calls_per_s, fig.bare.calls_per_s),
      ratio_calls_identify_log_info_over_warn: ratio(fig.hyved_identify_log_info.calls_per_s, fig.hyved_identify.calls_per_s),
    }));
  }
} finally {
  for (const s of servers) s.stdin!.end();
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all([argsDir, ...daemons.map((d) => d.stateDir)].map((dir) => rm(dir, { recursive: true, force: true })));
}
process.exit(0);
