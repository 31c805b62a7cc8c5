/**
 * The cost of keeping NAT guests off the host loopback, as ratios in one run:
 * - data path: MB/s of full-size frames through the frame guard process, next to a plain relay
 *   process (the same two sockets, no checks) and to no process at all;
 * - memory: resident size of a guard and of a passt;
 * - VM start: requests → RUNNING and → console marker with a guarded NAT nic, next to a slirp nic.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { openNatLinks, socketPair } from '../src/hypervisor/qemu/nat-link.js';
import { record, synFrame } from '../test/helpers/frames.js';
import { startDaemon, tempDir } from '../test/helpers/daemon.js';
import { guestVm, installGuest } from '../test/helpers/guest.js';
import { median, progress, round, timeBoot, type BootTime, knob } from './lib.js';

const ROUNDS = Number(knob('ROUNDS', 3, 1));
const MB = Number(knob('MB', 64, 16));
const GUARD = fileURLToPath(new URL('../src/hypervisor/qemu/nat-guard.js', import.meta.url));
const RELAY = "const net=require('net');const a=new net.Socket({fd:3});const b=new net.Socket({fd:4});a.pipe(b);b.pipe(a)";

/** A full-size frame the guard lets through (a TCP segment to the gateway, padded to 1514 bytes). */
function bigRecord(): Buffer {
  const f = synFrame('10.0.2.15', '10.0.2.2', 80);
  return record(Buffer.concat([f, Buffer.alloc(1514 - f.length)]));
}

/** Writes MB of records into `into` and resolves with MB/s once all of them came out of `out`. */
async function pump(into: net.Socket, out: net.Socket): Promise<number> {
  const rec = bigRecord();
  const batch = Buffer.concat(Array(64).fill(rec));
  const total = Math.floor((MB * 1024 * 1024) / batch.length) * batch.length;
  let got = 0;
  out.resume();
  const done = new Promise<void>((resolve) => out.on('data', (d: Buffer) => (got += d.length) >= total && resolve()));
  const t0 = performance.now();
  for (let sent = 0; sent < total; sent += batch.length) {
    if (!into.write(batch)) await new Promise((r) => into.once('drain', r));
  }
  await done;
  return total / 1024 / 1024 / ((performance.now() - t0) / 1000);
}

async function rssKib(pid: number): Promise<number> {
  const m = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** MB/s through a process holding fds 3 and 4 (or straight through one socket pair), and its RSS. */
async function throughput(dir: string, cmd: string[] | null): Promise<{ mbs: number; rss: number }> {
  if (!cmd) {
    const [a, b] = await socketPair(dir);
    const mbs = await pump(a, b);
    a.destroy();
    b.destroy();
    return { mbs, rss: NaN };
  }
  const [inA, inB] = await socketPair(dir);
  const [outA, outB] = await socketPair(dir);
  const child: ChildProcess = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'inherit', inB, outA] });
  inB.destroy();
  outA.destroy();
  const mbs = await pump(inA, outB);
  const rss = await rssKib(child.pid!);
  inA.destroy();
  outB.destroy();
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  return { mbs, rss };
}

async function pidWith(text: string): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    if ((await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).includes(text)) return Number(p);
  }
  return NaN;
}

async function vmStart(rounds: number): Promise<Record<'guarded' | 'slirp', BootTime[]>> {
  const stateDir = await tempDir('hyved-bench-');
  await installGuest(stateDir);
  const d = await startDaemon({ log: { level: 'warn' } }, stateDir);
  const c = await d.client();
  const out = { guarded: [] as BootTime[], slirp: [] as BootTime[] };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const kind of ['guarded', 'slirp'] as const) {
        const nic = { type: 'NAT', host_loopback: kind === 'slirp' };
        out[kind].push(await timeBoot(c, stateDir, guestVm(`${kind}${i}`, { nics: [nic] })));
      }
    }
  } finally {
    c.close();
    await d.stop();
  }
  return out;
}


const dir = await tempDir('hyved-bench-nat-');
const cells: Record<'direct' | 'relay' | 'guard', { mbs: number; rss: number }[]> = { direct: [], relay: [], guard: [] };
for (let i = 0; i < ROUNDS; i++) {
  progress(`data path round ${i + 1}/${ROUNDS}`);
  cells.direct.push(await throughput(dir, null));
  cells.relay.push(await throughput(dir, [process.execPath, '-e', RELAY]));
  cells.guard.push(await throughput(dir, [process.execPath, GUARD, 'hyved-nat-bench-0']));
}
progress('passt resident size');
const links = await openNatLinks(dir, 'benchrss', [0], 'passt');
const passtPid = await pidWith(path.join(dir, 'passt-0.log'));
const passtRss = await rssKib(passtPid);
links.close();
progress('vm start');
const starts = await vmStart(ROUNDS);

const mbs = (k: keyof typeof cells) => round(median(cells[k].map((c) => c.mbs)), 0);
console.log(JSON.stringify({
  bench: 'nat-guard',
  mb_per_cell: MB,
  mbs: { direct: mbs('direct'), relay: mbs('relay'), guard: mbs('guard') },
  ratio_guard_relay: round(mbs('guard') / mbs('relay')),
  rss_kib: { relay: median(cells.relay.map((c) => c.rss)), guard: median(cells.guard.map((c) => c.rss)), passt: passtRss },
  start_ms: Object.fromEntries(Object.entries(starts).map(([k, v]) => [k, { running: round(median(v.map((x) => x.running)), 0), marker: round(median(v.map((x) => x.marker)), 0) }])),
  ratio_marker_guarded_slirp: round(median(starts.guarded.map((x) => x.marker)) / median(starts.slirp.map((x) => x.marker))),
}));
