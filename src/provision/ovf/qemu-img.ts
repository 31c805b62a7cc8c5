import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { RpcError } from '../../core/errors.js';

/** A file qemu-img reads in place: a whole file, or `size` bytes at `offset` inside one (an OVA member). */
export interface ByteRange { file: string; offset: number; size: number }

/**
 * qemu-img's name for a VMDK inside a byte range (DESIGN §7): the raw driver cuts the member out
 * of the archive and the vmdk driver reads it, so nothing is unpacked. JSON-encoded, and passed
 * as one argv element: a file name cannot break out of it.
 */
export function vmdkInRange(r: ByteRange): string {
  return 'json:' + JSON.stringify({ driver: 'vmdk', file: { driver: 'raw', offset: r.offset, size: r.size, file: { driver: 'file', filename: r.file } } });
}

interface RunOptions { signal?: AbortSignal; onStdout?(chunk: string): void }

function run(binary: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (opts.onStdout) opts.onStdout(d);
      else if (out.length < 1 << 20) out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 65536) err += d;
    });
    child.on('error', (e) => reject(opts.signal?.aborted ? opts.signal.reason : new RpcError(500, `${binary}: ${e.message}`)));
    child.on('close', (code) => {
      if (opts.signal?.aborted) return reject(opts.signal.reason);
      if (code === 0) return resolve(out);
      const why = err.trim().split('\n').slice(-1)[0] || `exit code ${code}`;
      reject(new RpcError(400, `qemu-img ${args[0]} failed: ${why.slice(0, 300)}`));
    });
  });
}

interface VmdkInfo { 'virtual-size'?: number; 'backing-filename'?: string; 'format-specific'?: { data?: { extents?: unknown[]; 'create-type'?: string } } }

/**
 * The virtual size of an untrusted VMDK, refusing the kinds that make qemu-img open other files:
 * only a hosted sparse extent (magic `KDMV`: monolithicSparse, streamOptimized) with one extent
 * and no parent. A text descriptor could name `/etc/shadow` as an extent, a parent hint any file:
 * its bytes would end up in a guest's disc. A damaged VMDK fails here, before any VM is made.
 */
export async function checkVmdk(binary: string, range: ByteRange, signal?: AbortSignal): Promise<number> {
  const fh = await open(range.file, 'r');
  const magic = Buffer.alloc(4);
  try {
    await fh.read(magic, 0, 4, range.offset);
  } finally {
    await fh.close();
  }
  if (range.size < 512 || magic.toString('latin1') !== 'KDMV') throw new RpcError(400, 'VMDK: not a sparse or streamOptimized VMDK (descriptor and flat VMDKs are refused)');
  const info = JSON.parse(await run(binary, ['info', '--output=json', '-f', 'vmdk', vmdkInRange(range)], { signal })) as VmdkInfo;
  const extents = info['format-specific']?.data?.extents ?? [];
  if (info['backing-filename'] !== undefined) throw new RpcError(400, 'VMDK: refers to a parent image: refused');
  if (extents.length !== 1) throw new RpcError(400, `VMDK: ${extents.length} extents: only single-extent VMDKs are accepted`);
  if (typeof info['virtual-size'] !== 'number') throw new RpcError(400, 'qemu-img info: no virtual size');
  return info['virtual-size'];
}

/** Runs a `qemu-img convert -p`, passing on its own progress figures. */
function convert(binary: string, args: string[], onPercent: (p: number) => void, signal?: AbortSignal): Promise<string> {
  return run(binary, ['convert', '-p', ...args], {
    signal,
    onStdout(chunk) {
      const all = [...chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
      if (all.length > 0) onPercent(Number(all.at(-1)![1]));
    },
  });
}

/** Converts `source` into the existing, freshly created (all zero) image `target`. */
export async function convertInto(binary: string, source: string, sourceFormat: string, target: string, targetFormat: string, onPercent: (p: number) => void, signal?: AbortSignal): Promise<void> {
  await convert(binary, ['-n', '--target-is-zero', '-f', sourceFormat, '-O', targetFormat, source, target], onPercent, signal);
}

/** Writes `source` as a new streamOptimized VMDK (what VMware and VirtualBox import). */
export async function exportVmdk(binary: string, source: string, sourceFormat: string, target: string, onPercent: (p: number) => void, signal?: AbortSignal): Promise<void> {
  await convert(binary, ['-f', sourceFormat, '-O', 'vmdk', '-o', 'subformat=streamOptimized', source, target], onPercent, signal);
}
