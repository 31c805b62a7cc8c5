import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type tar from 'tar-stream';
import { lazyRequire } from '../../core/lazy.js';
import { RpcError, badRequest } from '../../core/errors.js';
import { MANIFEST_MAX_BYTES, parseManifest, type DigestAlgorithm, type ManifestEntry } from './manifest.js';
import { indexTar, type TarMember } from './tar-index.js';
import { XML_LIMITS } from './xml.js';

const tarStream = lazyRequire<typeof tar>('tar-stream');

export interface OvaLimits {
  /** Members in one archive (descriptor, manifest, certificate, disks). */
  max_members: number;
  /** Bytes of any one member. */
  max_member_bytes: number;
}

export interface OvaContents {
  descriptorName: string;
  descriptor: string;
  manifest: ManifestEntry[] | null;
  members: TarMember[];
}

/** A plain file name: an OVA is flat (OVF 2.0 §5.3), so a directory, `..` or absolute path in a member is refused. */
const MEMBER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._+ -]{0,199}$/;

export function checkMemberName(raw: string): string {
  const name = raw.replace(/^(\.\/)+/, '');
  const why = raw.startsWith('/')
    ? 'is an absolute path'
    : name.split('/').includes('..')
      ? "leads out of the image ('..')"
      : name.includes('/') || name.includes('\\')
        ? 'is in a directory: OVA members are plain file names'
        : !MEMBER_NAME.test(name)
          ? 'is not a plain file name of letters, digits, . _ + - and spaces'
          : null;
  if (why) throw badRequest(`OVA: member '${raw.slice(0, 100)}' ${why}`, [{ path: `/ova/${raw.slice(0, 100)}`, message: why }]);
  return name;
}

const extOf = (name: string) => name.slice(name.lastIndexOf('.') + 1).toLowerCase();

/** Hashes a member as it passes, with the manifest's algorithm for it (both common ones for the descriptor, read before the manifest). */
function hashers(name: string, manifest: ManifestEntry[] | null): Map<DigestAlgorithm, Hash> {
  const listed = manifest?.find((e) => e.file === name);
  const algos: DigestAlgorithm[] = listed ? [listed.algorithm] : manifest === null ? ['sha1', 'sha256'] : [];
  return new Map(algos.map((a) => [a, createHash(a)]));
}

/** What one streaming pass learns: the descriptor, the manifest, each member's size. */
export type Inspected = Omit<OvaContents, 'members'> & { sizes: Map<string, number> };

/** Where the archive's bytes go: tar-stream's parser (a streamx Writable: write, end, drain, destroyed). */
export type OvaInput = tar.Extract;

/**
 * How far the check may fall behind the bytes fed to it before the feeder waits. At tar-stream's
 * default (16 KiB) an upload stops reading its socket at every 1 MiB batch until the batch is
 * hashed, so the network, the disc writes and the hash take turns; 8 MiB lets them overlap. On this
 * loaded machine 1 GiB uploads went 2.1–2.4 s (best per daemon) against 2.2–4.0 s: a modest gain,
 * within the noise of the bench itself (bench/RESULTS.md).
 */
const INSPECT_AHEAD = 8 * 1024 * 1024;

/**
 * Reads an OVA once from start to end, as tar-stream parses it: the descriptor must come first,
 * a manifest (if any) right after it; each member's digest is checked against the manifest as it
 * streams past, so a tampered disk fails before anything is made from it. Only regular files with
 * plain names are allowed (no links, devices, directories or paths), within `limits`.
 */
export function ovaInspector(limits: OvaLimits, signal?: AbortSignal, ahead = INSPECT_AHEAD): { input: OvaInput; result: Promise<Inspected> } {
  const extract = tarStream().extract({ highWaterMark: ahead });
  return { input: extract, result: inspect(extract, limits, signal) };
}

/** Inspects the OVA `source` streams (see ovaInspector). */
export function inspectOvaStream(source: Readable, limits: OvaLimits, signal?: AbortSignal): Promise<Inspected> {
  const { input, result } = ovaInspector(limits, signal);
  source.on('error', (err) => input.destroy(err));
  source.pipe(input);
  // A refusal stops the read too.
  result.catch(() => source.destroy());
  return result;
}

async function inspect(extract: tar.Extract, limits: OvaLimits, signal?: AbortSignal): Promise<Inspected> {
  const onAbort = () => extract.destroy(signal!.reason as Error);
  signal?.addEventListener('abort', onAbort, { once: true });
  let descriptorName = '';
  let descriptor = '';
  let manifest: ManifestEntry[] | null = null;
  const sizes = new Map<string, number>();
  const digests = new Map<string, Map<DigestAlgorithm, string>>();
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const index = sizes.size;
      if (index >= limits.max_members) throw badRequest(`OVA: more than ${limits.max_members} members (config images.max_members)`);
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        throw badRequest(`OVA: member '${h.name.slice(0, 100)}' is a ${h.type}: only regular files are allowed`, [{ path: `/ova/${h.name.slice(0, 100)}`, message: `type ${h.type}` }]);
      }
      const name = checkMemberName(h.name);
      const size = h.size ?? 0;
      if (sizes.has(name)) throw badRequest(`OVA: member '${name}' appears twice`);
      if (size > limits.max_member_bytes) throw badRequest(`OVA: member '${name}' is ${size} bytes, over the limit of ${limits.max_member_bytes} (config images.max_member_bytes)`);
      const ext = extOf(name);
      if (index === 0 && ext !== 'ovf') throw badRequest(`OVA: the first member must be the .ovf descriptor, not '${name}'`);
      if (index > 0 && ext === 'ovf') throw badRequest(`OVA: a second descriptor '${name}'`);
      if (ext === 'mf' && index !== 1) throw badRequest(`OVA: the manifest '${name}' must follow the descriptor directly`);
      const keep = index === 0 ? XML_LIMITS.maxBytes : ext === 'mf' ? MANIFEST_MAX_BYTES : 0;
      if (size > keep && keep > 0) throw badRequest(`OVA: '${name}' is ${size} bytes, over the limit of ${keep} for a ${ext === 'mf' ? 'manifest' : 'descriptor'}`);
      const hs = hashers(name, manifest);
      const kept: Buffer[] = [];
      let seen = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        seen += chunk.length;
        for (const hash of hs.values()) hash.update(chunk);
        if (keep > 0) kept.push(chunk);
      }
      if (seen !== size) throw badRequest(`OVA: truncated: member '${name}' ends after ${seen} of ${size} bytes`);
      sizes.set(name, size);
      digests.set(name, new Map([...hs].map(([a, hash]) => [a, hash.digest('hex')])));
      if (index === 0) {
        descriptorName = name;
        descriptor = Buffer.concat(kept).toString('utf8');
      } else if (ext === 'mf') {
        manifest = parseManifest(Buffer.concat(kept).toString('utf8'), name);
      }
      checkDigest(name, manifest, digests);
    }
  } catch (err) {
    extract.destroy();
    if (err instanceof RpcError) throw err;
    if (signal?.aborted) throw signal.reason;
    throw badRequest(`OVA: truncated or not a tar archive: ${(err as Error).message}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  if (sizes.size === 0) throw badRequest('OVA: the archive is empty');
  if (manifest) {
    for (const e of manifest as ManifestEntry[]) {
      if (!sizes.has(e.file)) throw badRequest(`OVA: the manifest lists '${e.file}', which is not in the archive`);
      // The descriptor was hashed before the manifest was known: check it now.
      checkDigest(e.file, manifest, digests);
    }
    for (const name of sizes.keys()) {
      if (!['mf', 'cert'].includes(extOf(name)) && !(manifest as ManifestEntry[]).some((e) => e.file === name)) {
        throw badRequest(`OVA: member '${name}' is not covered by the manifest`);
      }
    }
  }
  return { descriptorName, descriptor, manifest, sizes };
}

function checkDigest(name: string, manifest: ManifestEntry[] | null, digests: Map<string, Map<DigestAlgorithm, string>>): void {
  const listed = manifest?.find((e) => e.file === name);
  const got = digests.get(name)?.get(listed?.algorithm ?? 'sha256');
  if (!listed || got === undefined) return;
  if (got !== listed.digest) {
    throw badRequest(`OVA: ${listed.algorithm.toUpperCase()} of '${name}' does not match the manifest: the file was altered or damaged`, [{ path: `/ova/${name}`, message: 'digest mismatch' }]);
  }
}

/**
 * Inspects an OVA file: the streaming check above (or its result, `inspected`, for the same bytes
 * seen on their way in), then the header walk for data offsets; both
 * readings of the archive must agree on every member's name and size, or the archive is refused
 * (a tar that two readers see differently is an attack on one of them).
 */
export async function readOva(file: string, limits: OvaLimits, signal?: AbortSignal, inspected?: Inspected): Promise<OvaContents> {
  const fh = await open(file, 'r');
  let members: TarMember[];
  try {
    members = await indexTar(fh, (await fh.stat()).size, limits.max_members);
  } finally {
    await fh.close();
  }
  if (members.length > limits.max_members) throw badRequest(`OVA: more than ${limits.max_members} members (config images.max_members)`);
  // An upload was inspected as it arrived: the file is not read a second time.
  const seen = inspected ?? (await inspectOvaStream(createReadStream(file, { highWaterMark: 256 * 1024 }), limits, signal));
  const agree = members.length === seen.sizes.size && members.every((m) => seen.sizes.get(checkMemberName(m.name)) === m.size);
  if (!agree) throw badRequest('OVA: the tar headers can be read two ways (pax or long-name headers that disagree): refused');
  return {
    descriptorName: seen.descriptorName,
    descriptor: seen.descriptor,
    manifest: seen.manifest,
    members: members.map((m) => ({ ...m, name: checkMemberName(m.name) })),
  };
}
