import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One guest NIC as network-config sees it: matched by its MAC, with the fixed addresses it gets. */
export interface SeedNic {
  mac: string;
  /** "a.b.c.d/prefix" and "x::y/prefix"; none: DHCP. */
  addresses: string[];
  gateway4?: string;
  nameservers?: string[];
}

/** What a NoCloud seed says; the clear password never gets here, only its crypt hash. */
export interface SeedInput {
  instanceId: string;
  hostname: string;
  rootHash?: string;
  sshKeys?: string[];
  firstboot?: string;
  /** Written only when some NIC has fixed addresses. */
  nics?: SeedNic[];
}

/** JSON strings are YAML double-quoted scalars: keys and hashes need no other escaping. */
const q = (s: string) => JSON.stringify(s);

function cloudConfig(s: SeedInput): string {
  const lines = ['#cloud-config', 'disable_root: false'];
  if (s.rootHash) {
    // `list` is what cloud-init before 22.3 reads, `users` what later ones prefer; both name one hash.
    lines.push('chpasswd:', '  expire: false', `  list: ${q(`root:${s.rootHash}`)}`, '  users:', '    - name: root', `      password: ${q(s.rootHash)}`, '      type: hash');
  }
  // Top-level keys with disable_root false land in root's authorized_keys, unprefixed.
  if (s.sshKeys?.length) lines.push('ssh_authorized_keys:', ...s.sshKeys.map((k) => `  - ${q(k)}`));
  return lines.join('\n') + '\n';
}

function boundaryFor(parts: string[]): string {
  for (;;) {
    const b = `==hyved-${randomBytes(12).toString('hex')}==`;
    if (!parts.some((p) => p.includes(b))) return b;
  }
}

/**
 * user-data as cloud-init's MIME handling reads it: the cloud-config part, and the firstboot
 * script unchanged as an x-shellscript part (cloud-init runs those once per instance-id).
 */
export function userData(s: SeedInput): string {
  const parts: [string, string][] = [['text/cloud-config', cloudConfig(s)]];
  if (s.firstboot !== undefined) parts.push(['text/x-shellscript', s.firstboot]);
  const boundary = boundaryFor(parts.map(([, body]) => body));
  const out = [`Content-Type: multipart/mixed; boundary="${boundary}"`, 'MIME-Version: 1.0', ''];
  // The line break before each delimiter belongs to the delimiter (RFC 2046): bodies go in as they are.
  parts.forEach(([type, body]) => {
    const file = type === 'text/cloud-config' ? 'cloud-config.txt' : 'firstboot.sh';
    out.push(`--${boundary}`, `Content-Type: ${type}; charset="utf-8"`, 'MIME-Version: 1.0', 'Content-Transfer-Encoding: 8bit', `Content-Disposition: attachment; filename="${file}"`, '', body);
  });
  out.push(`--${boundary}--`, '');
  return out.join('\n');
}

export function metaData(s: SeedInput): string {
  return `instance-id: ${q(s.instanceId)}\nlocal-hostname: ${q(s.hostname)}\n`;
}

/** network-config version 2; null when no NIC has a fixed address (cloud-init's default is DHCP). */
export function networkConfig(s: SeedInput): string | null {
  if (!s.nics?.some((n) => n.addresses.length > 0)) return null;
  const lines = ['version: 2', 'ethernets:'];
  s.nics.forEach((n, i) => {
    lines.push(`  nic${i}:`, '    match:', `      macaddress: ${q(n.mac)}`);
    if (n.addresses.length === 0) {
      lines.push('    dhcp4: true');
      return;
    }
    lines.push(`    addresses: [${n.addresses.map(q).join(', ')}]`);
    if (n.gateway4) lines.push('    routes:', `      - to: ${q('0.0.0.0/0')}`, `        via: ${q(n.gateway4)}`);
    if (n.nameservers?.length) lines.push('    nameservers:', `      addresses: [${n.nameservers.map(q).join(', ')}]`);
  });
  return lines.join('\n') + '\n';
}

export function seedFiles(s: SeedInput): Record<string, string> {
  const net = networkConfig(s);
  return { 'user-data': userData(s), 'meta-data': metaData(s), ...(net ? { 'network-config': net } : {}) };
}

/** The volume label cloud-init's NoCloud source looks for. */
export const SEED_LABEL = 'cidata';

/** qemu-img reading a directory as a FAT12 volume labelled cidata (DESIGN §7): no ISO or mkfs tool. */
export function vvfatArgv(dir: string, out: string): string[] {
  const spec = { driver: 'vvfat', dir, label: SEED_LABEL, 'fat-type': 12, floppy: true };
  return ['convert', '-f', 'vvfat', '-O', 'raw', `json:${JSON.stringify(spec)}`, out];
}

/** FreeBSD's makefs(8) writing the same FAT12 volume. */
export function makefsArgv(dir: string, out: string): string[] {
  return ['-t', 'msdos', '-o', 'fat_type=12', '-o', `volume_label=${SEED_LABEL}`, '-s', '1440k', out, dir];
}

export interface SeedTool { binary: string; argv(dir: string, out: string): string[] }

export function seedTool(platform: NodeJS.Platform, qemuImg: string): SeedTool {
  return platform === 'freebsd' ? { binary: 'makefs', argv: makefsArgv } : { binary: qemuImg, argv: vvfatArgv };
}

/**
 * Writes the seed volume to `out` (0600: it holds the firstboot script and the password hash). The
 * files pass through a private temp directory next to it, removed whatever happens.
 */
export async function buildSeed(tool: SeedTool, input: SeedInput, out: string): Promise<void> {
  const dir = await mkdtemp(path.join(path.dirname(out), '.seed-'));
  const temp = `${out}.part`;
  try {
    for (const [name, text] of Object.entries(seedFiles(input))) await writeFile(path.join(dir, name), text, { mode: 0o600 });
    await run(tool.binary, tool.argv(dir, temp), { timeout: 60_000 });
    await chmod(temp, 0o600);
    await rename(temp, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(temp, { force: true });
  }
}
