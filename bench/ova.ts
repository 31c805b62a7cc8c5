/**
 * OVA images: (1) deploy of an uploaded OVA (its disc converted by qemu-img straight out of the
 * archive) against `qemu-img convert` of the same VMDK, extracted, run directly; (2) upload of a
 * 1 GiB OVA with `curl -T` to hyved against `curl -T` to a bare Node server that only writes the
 * body to a file; the daemon's RSS growth during the upload. Interleaved rounds, best of each.
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { rssOf, startDaemon, tempDir } from '../test/helpers/daemon.js';
import { fixture, writeOva } from '../test/helpers/ova.js';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);
const UPLOAD_SIZE = Number(process.env.UPLOAD_MIB ?? 1024) * 1024 * 1024;
const DISC_MIB = Number(process.env.DISC_MIB ?? 512);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const best = (xs: number[]) => Math.min(...xs);
const ratio = (x: number) => Math.round(x * 100) / 100;

const dir = await tempDir('hyved-bench-ova-');

/** A disc whose clusters differ (so the VMDK's compression has work to do), as a streamOptimized VMDK. */
async function makeVmdk(): Promise<string> {
  const qcow = path.join(dir, 'src.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow, `${DISC_MIB}M`]);
  const raw = path.join(dir, 'src.raw');
  const fh = await open(raw, 'w');
  const chunk = Buffer.alloc(4 * 1024 * 1024);
  for (let off = 0; off < DISC_MIB * 1024 * 1024; off += chunk.length) {
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE(((off + i) * 2654435761) >>> (i % 7 === 0 ? 8 : 20), i);
    await fh.write(chunk);
  }
  await fh.close();
  const vmdk = path.join(dir, 'disk.vmdk');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', raw, vmdk]);
  await rm(raw);
  return vmdk;
}

async function makeUploadOva(): Promise<string> {
  const blob = path.join(dir, 'blob.vmdk');
  const fh = await open(blob, 'w');
  const chunk = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
  for (let written = 0; written < UPLOAD_SIZE; written += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, UPLOAD_SIZE - written));
  await fh.close();
  const ovf = (await fixture('vmware-1.0.ovf')).replace(/ovf:size="\d+"/, `ovf:size="${UPLOAD_SIZE}"`);
  const ova = path.join(dir, 'upload.ova');
  await writeOva(ova, 'up.ovf', ovf, [{ name: 'appliance-disk1.vmdk', file: blob }]);
  await rm(blob);
  return ova;
}

function curlPut(file: string, url: string, auth?: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn('curl', ['-s', '-f', '-o', '/dev/null', '-T', file, ...(auth ? ['-u', auth] : []), url], { stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`curl exited ${code}`))));
  });
}

const vmdk = await makeVmdk();
const ovaFile = path.join(dir, 'deploy.ova');
const deployOvf = (await fixture('vmware-1.0.ovf')).replace(/ovf:size="\d+"/, `ovf:size="${(await stat(vmdk)).size}"`).replace('ovf:capacity="16"', `ovf:capacity="${DISC_MIB}"`);
await writeOva(ovaFile, 'deploy.ovf', deployOvf, [{ name: 'appliance-disk1.vmdk', file: vmdk }]);
const uploadOva = await makeUploadOva();

const d = await startDaemon({ log: { level: 'warn' } });
const auth = `admin:${d.adminPassword}`;
const c = await d.client();
const done = new Map<string, string>();
c.on('event', (_n: string, a: { process_id: string; state: string; result: string }) => a.state === 'finished' && done.set(a.process_id, a.result));
await c.call('events', 'subscribe', ['dispatcher']);
await curlPut(ovaFile, `${d.url}/upload/ova/deploy.ova`, auth);

async function deployViaHyved(round: number): Promise<number> {
  const t0 = performance.now();
  const r = await c.call<{ deploy: { queueid: string } }>('sysadm', 'image', { action: 'deploy', path: 'images/deploy.ova', gid: 'default', name: `b${round}`, type: 'BIOS' });
  while (!done.has(r.deploy.queueid)) await sleep(5);
  const ms = performance.now() - t0;
  if (done.get(r.deploy.queueid) !== 'success') throw new Error('deploy failed');
  const vm = (await c.call<{ vms: { vmid: string; name: string }[] }>('sysadm', 'vm', { action: 'list', gid: 'default' })).vms.find((v) => v.name === `b${round}`)!;
  await c.call('sysadm', 'vm', { action: 'delete', vmid: vm.vmid, force: true });
  return ms;
}

async function convertDirect(round: number): Promise<number> {
  const out = path.join(dir, `direct${round}.qcow2`);
  const t0 = performance.now();
  await run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'qcow2', vmdk, out]);
  const ms = performance.now() - t0;
  await rm(out);
  return ms;
}

const bare = http.createServer((req, res) => {
  const out = createWriteStream(path.join(dir, 'bare.ova'), { highWaterMark: 1024 * 1024 });
  req.pipe(out).on('finish', () => res.writeHead(201).end());
});
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/up.ova`;

async function uploadViaHyved(round: number): Promise<{ ms: number; rssGrowth: number }> {
  const before = await rssOf(d.proc.pid!);
  let peak = before;
  const sampler = setInterval(() => void rssOf(d.proc.pid!).then((r) => (peak = Math.max(peak, r)), () => {}), 100);
  const ms = await curlPut(uploadOva, `${d.url}/upload/ova/up${round}.ova`, auth);
  clearInterval(sampler);
  await c.call('sysadm', 'image', { action: 'delete', path: `images/up${round}.ova` });
  return { ms, rssGrowth: peak - before };
}

const hyvedDeploy: number[] = [];
const direct: number[] = [];
const hyvedUpload: { ms: number; rssGrowth: number }[] = [];
const bareUpload: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  direct.push(await convertDirect(i));
  hyvedDeploy.push(await deployViaHyved(i));
  bareUpload.push(await curlPut(uploadOva, bareUrl));
  await rm(path.join(dir, 'bare.ova'));
  hyvedUpload.push(await uploadViaHyved(i));
}
const mibps = (bytes: number, ms: number) => Math.round((bytes / 1048576 / (ms / 1000)) * 10) / 10;
const deployRatio = best(direct) / best(hyvedDeploy);
const uploadRatio = best(bareUpload) / best(hyvedUpload.map((x) => x.ms));
const growth = Math.max(...hyvedUpload.map((x) => x.rssGrowth)) / 1048576;
console.log(JSON.stringify({
  scenario: 'ova-deploy',
  disc_mib: DISC_MIB,
  vmdk_mib: Math.round(((await stat(vmdk)).size / 1048576) * 10) / 10,
  rounds: ROUNDS,
  hyved_ms: Math.round(best(hyvedDeploy)),
  qemu_img_ms: Math.round(best(direct)),
  ratio_hyved_over_qemu_img: ratio(deployRatio),
  target_ratio: 0.9,
  met: deployRatio >= 0.9,
}));
const size = (await stat(uploadOva)).size;
console.log(JSON.stringify({
  scenario: 'ova-upload',
  size_mib: Math.round(size / 1048576),
  rounds: ROUNDS,
  hyved_mib_s: mibps(size, best(hyvedUpload.map((x) => x.ms))),
  bare_node_mib_s: mibps(size, best(bareUpload)),
  ratio_hyved_over_bare: ratio(uploadRatio),
  target_ratio: 0.9,
  daemon_rss_growth_mib: Math.round(growth * 10) / 10,
  target_rss_growth_mib: 30,
  met: uploadRatio >= 0.9 && growth < 30,
}));
c.close();
await d.stop();
bare.close();
await rm(dir, { recursive: true, force: true });
