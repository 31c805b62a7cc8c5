/**
 * ISO fetch: a 1 GiB file from a loopback HTTP server, fetched by hyved's fetchiso task and by
 * `curl -o`, in one run (interleaved), with the daemon's RSS growth during its fetch and the CPU
 * time each spent per GiB (the daemon's, all threads; curl's, from its shell's `times`). On a
 * shared 2-core machine the rates swing with the neighbours; CPU per GiB is the steadier figure.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { rssOf, startDaemon, tempDir } from '../test/helpers/daemon.js';
import { cpuMs, median, knob } from './lib.js';
import { LOOPBACK } from '../test/helpers/servers.js';
import { setTimeout as sleep } from 'node:timers/promises';

const SIZE = Number(knob('FETCH_MIB', 1024, 256)) * 1024 * 1024;
const ROUNDS = Number(knob('ROUNDS', 2, 1));

async function makeSource(file: string): Promise<void> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
  for (let written = 0; written < SIZE; written += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, SIZE - written));
  await fh.close();
}

const dir = await tempDir('hyved-bench-fetch-');
const source = path.join(dir, 'source.iso');
await makeSource(source);
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'Content-Length': SIZE });
  createReadStream(source).pipe(res);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/big.iso`;

const d = await startDaemon({ log: { level: 'warn' }, iso: { allow_private: LOOPBACK } });
const c = await d.client();
const done = new Map<string, string>();
c.on('event', (_n: string, a: { process_id: string; state: string; result: string }) => a.state === 'finished' && done.set(a.process_id, a.result));
await c.call('events', 'subscribe', ['dispatcher']);

async function viaHyved(round: number): Promise<{ ms: number; rssGrowth: number; cpuMs: number }> {
  const before = await rssOf(d.proc.pid!);
  const cpu0 = await cpuMs(d.proc.pid!);
  let peak = before;
  const sampler = setInterval(() => void rssOf(d.proc.pid!).then((r) => (peak = Math.max(peak, r)), () => {}), 100);
  const t0 = performance.now();
  const r = await c.call<{ fetchiso: { queueid: string } }>('sysadm', 'iohyve', { action: 'fetchiso', url, name: `hyved${round}.iso` });
  while (!done.has(r.fetchiso.queueid)) await sleep(5);
  const ms = performance.now() - t0;
  const cpu = (await cpuMs(d.proc.pid!)) - cpu0;
  clearInterval(sampler);
  if (done.get(r.fetchiso.queueid) !== 'success') throw new Error('hyved fetch failed');
  await c.call('sysadm', 'iohyve', { action: 'rmiso', target: `hyved${round}.iso` });
  return { ms, rssGrowth: peak - before, cpuMs: cpu };
}

async function viaCurl(round: number): Promise<{ ms: number; cpuMs: number }> {
  const out = path.join(dir, `curl${round}.iso`);
  const t0 = performance.now();
  // `times` prints the shell's CPU time, then its children's: curl's.
  const times = await new Promise<string>((resolve, reject) => {
    const p = spawn('bash', ['-c', 'curl -s -f -o "$1" "$2" || exit $?; times', 'bench', out, url], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`curl exited ${code}`))));
  });
  const ms = performance.now() - t0;
  if ((await stat(out)).size !== SIZE) throw new Error('curl size mismatch');
  await rm(out);
  const [user, sys] = [...(times.trim().split('\n')[1] ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { ms, cpuMs: (user + sys) * 1000 };
}

const hyved: { ms: number; rssGrowth: number; cpuMs: number }[] = [];
const curl: { ms: number; cpuMs: number }[] = [];
for (let i = 0; i < ROUNDS; i++) {
  curl.push(await viaCurl(i));
  hyved.push(await viaHyved(i));
}
const best = (xs: number[]) => Math.min(...xs);
const mibps = (ms: number) => Math.round((SIZE / 1048576 / (ms / 1000)) * 10) / 10;
const h = best(hyved.map((x) => x.ms));
const cu = best(curl.map((x) => x.ms));
const perGib = (ms: number) => Math.round((ms / 1000 / (SIZE / 2 ** 30)) * 100) / 100;
const growth = Math.max(...hyved.map((x) => x.rssGrowth)) / 1048576;
console.log(JSON.stringify({
  scenario: 'iso-fetch',
  size_mib: SIZE / 1048576,
  rounds: ROUNDS,
  hyved_mib_s: mibps(h),
  curl_mib_s: mibps(cu),
  ratio_hyved_over_curl: Math.round((cu / h) * 100) / 100,
  hyved_rounds_mib_s: hyved.map((x) => mibps(x.ms)),
  curl_rounds_mib_s: curl.map((x) => mibps(x.ms)),
  hyved_cpu_s_per_gib: perGib(median(hyved.map((x) => x.cpuMs))),
  curl_cpu_s_per_gib: perGib(median(curl.map((x) => x.cpuMs))),
  target_ratio: 0.9,
  daemon_rss_growth_mib: Math.round(growth * 10) / 10,
  target_rss_growth_mib: 30,
  met: cu / h >= 0.9 && growth < 30,
}));
c.close();
await d.stop();
server.close();
await rm(dir, { recursive: true, force: true });
