import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { RpcError, badRequest } from '../../core/errors.js';
import type { TaskContext } from '../../core/task.js';
import type { ImageRef } from '../../provision/image-store.js';
import { parseOvf } from '../../provision/ovf/descriptor.js';
import { XML_LIMITS } from '../../provision/ovf/xml.js';
import { FetchError } from '../../store/fetch/index.js';
import { downloadTo } from '../../store/iso-download.js';
import type { Services } from '../context.js';
import { limitsOf } from './common.js';

/** A manifest is a line per file; one larger than this is not one. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

const folderOf = (p: string) => p.slice(0, p.lastIndexOf('/') + 1);

/**
 * `href` resolved against the descriptor's URL. The descriptor's parser already allows only plain
 * file names; this is the check that matters, made on the URL fetched: the same scheme, host and
 * port, in the descriptor's own folder (400 naming `where` otherwise).
 */
export function besideDescriptor(descriptor: URL, href: string, where: string): URL {
  const url = new URL(href, descriptor);
  if (url.protocol !== descriptor.protocol || url.host !== descriptor.host || folderOf(url.pathname) !== folderOf(descriptor.pathname)) {
    throw badRequest(`${where}: '${href.slice(0, 100)}' does not resolve beside the descriptor (${url.protocol}//${url.host}${url.pathname.slice(0, 100)})`);
  }
  return url;
}

/**
 * The body of `image fetch` of a bare .ovf: the descriptor, then each file its References name,
 * fetched from beside it (bounded in count and size: images.max_members, max_member_bytes, and the
 * File's own size when given), then its manifest if the server has one, all into a hidden folder;
 * checked there (manifest digests, every file present) and only then moved into the store.
 */
export async function fetchOvf(task: TaskContext, services: Services, url: URL, ref: ImageRef, overwrite: boolean): Promise<{ path: string; bytes: number }> {
  const { images, config } = services;
  const limits = limitsOf(config);
  const work = await images.tempPathFor(ref, task.id);
  await task.addCleanup(work);
  await mkdir(work, { mode: 0o700 });
  let bytes = await downloadTo(task, config, url, path.join(work, ref.file), ref.file, XML_LIMITS.maxBytes);
  const d = parseOvf(await readFile(path.join(work, ref.file), 'utf8'));
  const mf = ref.file.replace(/\.ovf$/, '.mf');
  if (d.files.length + 2 > limits.max_members) {
    throw badRequest(`OVF descriptor: References lists ${d.files.length} files; with the descriptor and manifest that is more than images.max_members (${limits.max_members})`);
  }
  const names: string[] = [];
  for (const f of d.files) {
    const where = `OVF descriptor: References/File[${f.id}]/@href`;
    if (f.href === ref.file || f.href === mf) throw badRequest(`${where}: '${f.href}' is the name of the descriptor or its manifest`);
    if (f.size !== null && f.size > limits.max_member_bytes) throw new RpcError(413, `OVF descriptor: References/File[${f.id}]/@size: ${f.size} bytes is more than images.max_member_bytes (${limits.max_member_bytes})`);
    const got = await downloadTo(task, config, besideDescriptor(url, f.href, where), path.join(work, f.href), f.href, f.size ?? limits.max_member_bytes);
    if (f.size !== null && got !== f.size) throw badRequest(`OVF descriptor: References/File[${f.id}]/@size: says ${f.size} bytes, the server sent ${got}`);
    bytes += got;
    names.push(f.href);
  }
  // The manifest is optional; when the server has one, every digest in it must hold.
  const manifest = await downloadTo(task, config, besideDescriptor(url, mf, 'manifest'), path.join(work, mf), mf, MAX_MANIFEST_BYTES).catch(async (err: unknown) => {
    if (!(err instanceof FetchError && err.kind === 'not_found')) throw err;
    await rm(path.join(work, mf), { force: true });
    return null;
  });
  if (manifest !== null) names.push(mf);
  task.progress({ description: `checking ${ref.file}`, percent: null });
  await images.commitFetchedFolder(work, ref, names, overwrite, task.signal);
  await rm(work, { recursive: true, force: true });
  await task.dropCleanup(work);
  task.log(`fetched ${ref.file} and ${names.length} files beside it (${bytes} bytes) into ${ref.path}`);
  return { path: ref.path, bytes };
}
