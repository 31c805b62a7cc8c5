import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile as execFileCb } from 'node:child_process';
import { chown, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildSeed, seedTool } from '../src/provision/cloud-init.js';
import { hashPassword } from '../src/provision/sha512-crypt.js';
import { ROOT, tempDir } from './helpers/daemon.js';

// No cloud image can be booted here (no network to fetch one), so the seed hyved builds is read by
// cloud-init's own code instead: Debian's cloud-init package, downloaded and unpacked (not
// installed), parses the seed volume's files as its NoCloud datasource, user-data processing,
// schema and network renderer do.

const run = promisify(execFileCb);
let work: string;
let pythonPath: string;

before(async () => {
  work = await tempDir('hyved-cloud-init-');
  const debs = path.join(work, 'debs');
  await mkdir(debs);
  // apt-get download run as root drops to _apt, which must be able to write here.
  await chown(work, 0, 0);
  await run('chmod', ['755', work]);
  const apt = await run('id', ['-u', '_apt']).then((r) => Number(r.stdout), () => null);
  if (apt !== null) await chown(debs, apt, 0);
  await run('apt-get', ['download', '-qq', 'cloud-init', 'python3-configobj'], { cwd: debs, timeout: 120_000 });
  for (const deb of await readdir(debs)) await run('dpkg-deb', ['-x', path.join(debs, deb), path.join(work, 'root')]);
  pythonPath = path.join(work, 'root', 'usr', 'lib', 'python3', 'dist-packages');
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

interface Read {
  files: string[];
  parts: { type: string; payload: string }[];
  config: { disable_root: boolean; chpasswd: { list: string; users: { name: string; password: string; type: string }[] }; ssh_authorized_keys: string[] };
  schema_errors: string[];
  schema_deprecations: string[];
  eni: string | null;
  meta: Record<string, string>;
}

/** Builds the seed as hyved does, copies its files back out of the FAT image (mtools), and lets cloud-init read them. */
async function readByCloudInit(input: Parameters<typeof buildSeed>[1]): Promise<Read> {
  const dir = await tempDir('hyved-seed-');
  const img = path.join(dir, 'seed.img');
  await buildSeed(seedTool('linux', 'qemu-img'), input, img);
  const out = path.join(dir, 'out');
  await mkdir(out);
  await run('mcopy', ['-i', img, '-s', '::/*', out]);
  const { stdout } = await run('python3', [path.join(ROOT, 'test', 'helpers', 'cloud-init-read.py'), out], { env: { ...process.env, PYTHONPATH: pythonPath } });
  await rm(dir, { recursive: true, force: true });
  return JSON.parse(stdout) as Read;
}

const SCRIPT = '#!/bin/sh\nset -e\necho "hello from firstboot" > /root/firstboot.txt\n';

test("cloud-init's NoCloud code reads hyved's seed: the files, the two parts, a valid cloud-config, the meta-data", async () => {
  const hash = hashPassword('correct horse');
  const r = await readByCloudInit({ instanceId: 'iid-0123456789abcdef', hostname: 'web1', rootHash: hash, sshKeys: ['ssh-ed25519 AAAAC3Nz one@a', 'ssh-rsa AAAAB3Nz two@b'], firstboot: SCRIPT });
  assert.deepEqual(r.files, ['meta-data', 'user-data']);
  assert.deepEqual(r.parts.map((p) => p.type), ['text/cloud-config', 'text/x-shellscript']);
  assert.equal(r.parts[1].payload, SCRIPT, 'the firstboot script arrives unchanged');
  assert.deepEqual(r.meta, { 'instance-id': 'iid-0123456789abcdef', 'local-hostname': 'web1' });
  assert.equal(r.config.disable_root, false);
  assert.deepEqual(r.config.ssh_authorized_keys, ['ssh-ed25519 AAAAC3Nz one@a', 'ssh-rsa AAAAB3Nz two@b']);
  assert.deepEqual(r.config.chpasswd.users, [{ name: 'root', password: hash, type: 'hash' }]);
  assert.equal(r.config.chpasswd.list, `root:${hash}`);
  // Valid for cloud-init's schema; `chpasswd.list` is deprecated there and kept on purpose, for
  // the cloud-init releases before 22.3 (older images) that read only it.
  assert.deepEqual(r.schema_errors, []);
  assert.deepEqual(r.schema_deprecations, ['chpasswd.list']);
});

test("cloud-init renders hyved's network-config v2: the fixed address, gateway and DNS on the nic matched by MAC", async () => {
  const r = await readByCloudInit({ instanceId: 'i', hostname: 'h', nics: [{ mac: '52:54:00:12:34:56', addresses: ['10.0.2.50/24', 'fd00::50/64'], gateway4: '10.0.2.2', nameservers: ['10.0.2.3'] }, { mac: '52:54:00:12:34:57', addresses: [] }] });
  assert.deepEqual(r.files, ['meta-data', 'network-config', 'user-data']);
  assert.match(r.eni!, /iface nic0 inet static\n\s+address 10\.0\.2\.50\/24/);
  assert.match(r.eni!, /iface nic0 inet6 static\n\s+address fd00::50\/64/);
  assert.match(r.eni!, /route add default gw 10\.0\.2\.2/);
  assert.match(r.eni!, /dns-nameservers 10\.0\.2\.3/);
  assert.match(r.eni!, /iface nic1 inet dhcp/);
});
