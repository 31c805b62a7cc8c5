/** file:// imports, confined to the configured import directories. */
import { constants as fsConstants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { FetchError, classify, pump, type FetchOptions, type FetchResult } from './common.js';

function inside(dir: string, p: string): boolean {
  if (p === dir) return true;
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return p.startsWith(prefix);
}

/** The import directories as configured (normalised) and as resolved by realpath (when they exist). */
async function importRoots(dirs: string[]): Promise<{ lexical: string[]; real: string[] }> {
  const lexical: string[] = [];
  const real: string[] = [];
  for (const d of dirs) {
    if (!path.isAbsolute(d)) continue;
    lexical.push(path.resolve(d));
    try {
      real.push(await realpath(d));
    } catch {
      // A missing import directory confines nothing.
    }
  }
  return { lexical, real };
}

export async function fetchFile(url: URL, out: Writable, opts: FetchOptions): Promise<FetchResult> {
  const where = url.href;
  let requested: string;
  try {
    requested = path.resolve(fileURLToPath(url));
  } catch (err) {
    throw new FetchError(`${where} is not a valid local file URL (${(err as Error).message})`, 'bad_url');
  }
  if (requested.includes('\0')) throw new FetchError(`${where} is not a valid local file URL`, 'bad_url');
  const outside = () => new FetchError(`${where} is outside the import directories`, 'forbidden');
  const roots = await importRoots(opts.importDirs);
  // Refuse paths that are not even nominally inside an import directory before touching the file
  // system, so that the answer does not reveal whether files exist elsewhere.
  if (![...roots.lexical, ...roots.real].some((d) => inside(d, requested))) throw outside();

  let real: string;
  try {
    real = await realpath(requested);
  } catch (err) {
    throw classify(err, where, 'local file system');
  }
  if (!roots.real.some((d) => inside(d, real))) throw outside();

  // O_NOFOLLOW: the resolved path must not have become a symlink since realpath;
  // O_NONBLOCK: opening a FIFO must not hang (it is refused below anyway).
  let fh;
  try {
    fh = await open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ELOOP' || code === 'EMLINK') throw outside();
    throw classify(err, where, 'local file system');
  }
  let total: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FetchError(`${where} is not a regular file`, 'forbidden');
    // A hard link puts a file from anywhere into an import dir, and realpath cannot tell.
    if (st.nlink > 1) {
      throw new FetchError(`${where} has ${st.nlink} hard links: a file with more than one may live outside the import directories, so it is refused (copy it in instead)`, 'forbidden');
    }
    // Re-check after open: the directory chain must still resolve to the file we opened.
    let again: string;
    let st2;
    try {
      again = await realpath(requested);
      st2 = await stat(again);
    } catch (err) {
      throw classify(err, where, 'local file system');
    }
    if (again !== real || st2.ino !== st.ino || st2.dev !== st.dev) {
      throw new FetchError(`${where} changed while being opened`, 'forbidden');
    }
    total = st.size;
  } catch (err) {
    await fh.close();
    throw err;
  }
  // The stream owns (and closes) the handle from here on, including on destroy.
  const source = fh.createReadStream({ highWaterMark: 1024 * 1024 });
  return pump(source, out, total, opts, where, 'local file system');
}
