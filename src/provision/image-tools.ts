import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ImageInfo { format: string; virtualSize: number }

/**
 * What qemu-img says about an image that came from outside (a download, a dropped-in folder):
 * only qcow2 or raw, and never one that points at other files — a backing file or an external
 * data file would let the image read any file on the host into a guest's disc.
 */
export async function inspectImage(imgBinary: string, file: string, format?: string): Promise<ImageInfo> {
  const argv = ['info', '--output=json', ...(format ? ['-f', format] : []), file];
  const { stdout } = await run(imgBinary, argv, { timeout: 60_000, maxBuffer: 1024 * 1024 }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`qemu-img cannot read the image: ${(err.stderr || err.message).trim().split('\n').at(-1)}`);
  });
  const info = JSON.parse(stdout) as { format: string; 'virtual-size': number; 'backing-filename'?: string; 'format-specific'?: { data?: { 'data-file'?: string } } };
  if (info.format !== 'qcow2' && info.format !== 'raw') throw new Error(`the image is ${info.format}: a distribution is qcow2 or raw`);
  if (info['backing-filename'] !== undefined) throw new Error('the image names a backing file: refused');
  if (info['format-specific']?.data?.['data-file'] !== undefined) throw new Error('the image names an external data file: refused');
  return { format: info.format, virtualSize: info['virtual-size'] };
}

/**
 * `qemu-img convert -p` of `source` into `target` (created), calling `onPercent` as qemu-img
 * reports progress ("(12.34/100%)"); rejects with qemu-img's last error line.
 */
export function convertImage(imgBinary: string, source: { file: string; format: string }, target: { file: string; format: string }, onPercent: (p: number) => void, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(imgBinary, ['convert', '-p', '-f', source.format, '-O', target.format, source.file, target.file], { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      const all = [...d.toString().matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
      if (all.length) onPercent(Number(all.at(-1)![1]));
    });
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`qemu-img convert failed: ${err.trim().split('\n').at(-1) || `exit ${code}`}`))));
  });
}

export async function resizeImage(imgBinary: string, file: string, format: string, sizeMib: number): Promise<void> {
  await run(imgBinary, ['resize', '-q', '-f', format, file, `${sizeMib}M`], { timeout: 60_000 }).catch((err: Error & { stderr?: string }) => {
    throw new Error(`qemu-img resize failed: ${(err.stderr || err.message).trim().split('\n').at(-1)}`);
  });
}
