import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { badRequest, conflict, notAcceptable, notFound } from '../core/errors.js';
import { Locks } from '../core/locks.js';
import { ALL_GROUPS } from '../core/permissions.js';
import { parseOvf } from './ovf/descriptor.js';
import { parseManifest } from './ovf/manifest.js';
import { readOva, type Inspected, type OvaLimits } from './ovf/ova.js';
import { firstMember } from './ovf/tar-index.js';
import { XML_LIMITS } from './ovf/xml.js';
import { fileStampOf } from '../store/file-stamp.js';
import { placeFile } from '../store/place.js';
import { hiddenTemp, removeUploadTemps, uploadTemp } from '../store/store-names.js';

/** VSS's shared folder: `images/<file>`; any other folder is a group's or an exported VM's. */
export const SHARED_FOLDER = 'images';

const FOLDER = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const FILE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}\.(ova|ovf)$/;
/** Who a folder that is not a group's belongs to (an export's VM group), written at export. */
const GROUP_MARK = '.gid';

export interface ImageRef { folder: string; file: string; path: string; format: 'ova' | 'ovf' }
export interface ImageEntry { name: string; path: string; folder: string; format: 'ova' | 'ovf'; size: number; modified: string }

/** Where one file the descriptor references lives: an OVA member (offset into the archive) or a file beside the descriptor. */
export interface DiskSource { file: string; offset: number; size: number }

/** An image whose manifest has been checked: its descriptor and where each referenced file is. */
export interface CheckedImage { descriptor: string; sources: Map<string, DiskSource>; bytes: number }

/**
 * OVA files and OVF folders under images/ova/, addressed as VSS does, `<folder>/<file>.ova|ovf`;
 * a path never leaves the store. Images are checked (manifest digests, tar members) once per
 * version of the file and the result kept, so deploying a big image does not read it twice.
 * It lives beside the OVF code rather than in store/: it checks what it stores with provision/ovf,
 * and provision stands on store, not the other way round.
 */
export class ImageStore {
  private readonly locks = new Locks();
  private readonly checked = new Map<string, { stamp: string; image: CheckedImage }>();

  constructor(readonly dir: string) {}

  /** Creates the store; removes uploads a stopped daemon left half written (fetches and exports are tasks, which clean up after themselves). */
  async init(): Promise<string[]> {
    await mkdir(path.join(this.dir, SHARED_FOLDER), { recursive: true, mode: 0o755 });
    const removed: string[] = [];
    for (const folder of await readdir(this.dir, { withFileTypes: true })) {
      if (folder.isDirectory()) removed.push(...(await removeUploadTemps(path.join(this.dir, folder.name))).map((f) => path.join(folder.name, f)));
    }
    return removed;
  }

  /** 400 naming `field` unless `p` is `<folder>/<file>.ova|.ovf` of safe names. */
  static parse(p: unknown, field = 'path'): ImageRef {
    const parts = typeof p === 'string' ? p.split('/') : [];
    const [folder, file] = parts;
    if (parts.length !== 2 || !FOLDER.test(folder) || !FILE.test(file) || file.includes('..') || folder.includes('..')) {
      throw badRequest(`${field}: '${String(p).slice(0, 120)}' is not an image path`, [
        { path: `/args/${field}`, message: 'must be <folder>/<file>.ova or .ovf: letters, digits, . _ + - (no leading dot, no "..")' },
      ]);
    }
    return { folder, file, path: `${folder}/${file}`, format: file.endsWith('.ova') ? 'ova' : 'ovf' };
  }

  fileOf(ref: ImageRef): string {
    const full = path.join(this.dir, ref.folder, ref.file);
    // The name checks already rule this out; kept because a path that escapes is the one bug that matters.
    if (path.dirname(path.dirname(full)) !== this.dir) throw badRequest(`'${ref.path}' leaves the image store`);
    return full;
  }

  async exists(ref: ImageRef): Promise<boolean> {
    return lstat(this.fileOf(ref)).then((s) => s.isFile(), () => false);
  }

  async require(ref: ImageRef): Promise<void> {
    if (!(await this.exists(ref))) throw notFound(`no image '${ref.path}'`);
  }

  /** The group whose image grants reach the image: ALL_GROUPS for the shared folder and for folders of no configured group. */
  async groupOf(ref: ImageRef, groups: Record<string, unknown>): Promise<string> {
    if (ref.folder === SHARED_FOLDER) return ALL_GROUPS;
    if (Object.hasOwn(groups, ref.folder)) return ref.folder;
    const mark = (await readFile(path.join(this.dir, ref.folder, GROUP_MARK), 'utf8').catch(() => '')).trim();
    return Object.hasOwn(groups, mark) ? mark : ALL_GROUPS;
  }

  async list(): Promise<ImageEntry[]> {
    const out: ImageEntry[] = [];
    for (const folder of await readdir(this.dir, { withFileTypes: true })) {
      if (!folder.isDirectory() || !FOLDER.test(folder.name)) continue;
      for (const f of await readdir(path.join(this.dir, folder.name), { withFileTypes: true }).catch(() => [])) {
        if (!f.isFile() || !FILE.test(f.name)) continue;
        const st = await stat(path.join(this.dir, folder.name, f.name)).catch(() => null);
        if (!st) continue;
        const ref = ImageStore.parse(`${folder.name}/${f.name}`);
        out.push({ name: f.name, path: ref.path, folder: folder.name, format: ref.format, size: st.size, modified: st.mtime.toISOString() });
      }
    }
    return out;
  }

  /** The descriptor's text without checking the whole image, for listings; `check` reads it whole. */
  async peekDescriptor(ref: ImageRef): Promise<string> {
    const fh = await open(this.fileOf(ref), 'r');
    try {
      if (ref.format === 'ovf') {
        const { size } = await fh.stat();
        if (size > XML_LIMITS.maxBytes) throw badRequest(`OVF: the descriptor is larger than ${XML_LIMITS.maxBytes} bytes`);
        return await fh.readFile('utf8');
      }
      const first = await firstMember(fh, XML_LIMITS.maxBytes);
      if (!first.name.endsWith('.ovf')) throw badRequest(`OVA: the first member must be the .ovf descriptor, not '${first.name.slice(0, 100)}'`);
      return first.data.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  /**
   * Checks an image whole (digests, members; for an OVF folder the files beside it) once per
   * version of its file, and says where each file in it is.
   */
  async check(ref: ImageRef, limits: OvaLimits, signal?: AbortSignal): Promise<CheckedImage> {
    const file = this.fileOf(ref);
    const st = await stat(file).catch(() => null);
    if (!st) throw notFound(`no image '${ref.path}'`);
    const stamp = fileStampOf(st);
    const cached = this.checked.get(ref.path);
    if (cached?.stamp === stamp) return cached.image;
    const image = ref.format === 'ova' ? await checkOva(file, limits, signal) : await checkOvfFolder(file, signal);
    this.checked.set(ref.path, { stamp, image });
    return image;
  }

  /** Where a transfer in progress lives until it is complete and checked: hidden, so never listed. */
  async tempPathFor(ref: ImageRef, taskId: string): Promise<string> {
    await mkdir(path.join(this.dir, ref.folder), { recursive: true, mode: 0o755 });
    return hiddenTemp(path.join(this.dir, ref.folder), ref.file, taskId);
  }

  /** Checks a complete OVA at `temp` and moves it into place; nothing is stored when it fails. */
  async commitOva(temp: string, ref: ImageRef, overwrite: boolean, limits: OvaLimits, signal?: AbortSignal, inspected?: Inspected): Promise<CheckedImage> {
    if (ref.format !== 'ova') throw notAcceptable(`${ref.path}: only .ova files arrive whole; an OVF folder is made by export`);
    const checked = await checkOva(temp, limits, signal, inspected);
    const file = this.fileOf(ref);
    await this.serial(() => placeFile(temp, file, overwrite, `image '${ref.path}'`));
    const st = await stat(file);
    const image = { ...checked, sources: new Map([...checked.sources].map(([name, s]) => [name, { ...s, file }])) };
    this.checked.set(ref.path, { stamp: fileStampOf(st), image });
    return image;
  }

  /** Places a folder of files an export wrote (descriptor last, so it is never listed half made). */
  async commitFolder(ref: ImageRef, files: { temp: string; name: string }[], overwrite: boolean): Promise<void> {
    const folder = path.join(this.dir, ref.folder);
    await this.serial(async () => {
      if (!overwrite && (await this.exists(ref))) throw conflict(`image '${ref.path}' already exists`, 'name_taken');
      for (const f of files) await placeFile(f.temp, path.join(folder, f.name), true, f.name);
    });
  }

  /**
   * Places an OVF a fetch assembled in `work` (the descriptor `ref.file` and `names` beside it):
   * checked there first (manifest digests, every referenced file present), then moved in with the
   * descriptor last. The folder may hold other images, so no file of theirs is replaced without
   * `overwrite` (409 naming it, before anything moves).
   */
  async commitFetchedFolder(work: string, ref: ImageRef, names: string[], overwrite: boolean, signal?: AbortSignal): Promise<void> {
    await checkOvfFolder(path.join(work, ref.file), signal);
    const folder = path.join(this.dir, ref.folder);
    await this.serial(async () => {
      if (!overwrite) {
        for (const name of [...names, ref.file]) {
          if (await lstat(path.join(folder, name)).then(() => true, () => false)) throw conflict(`'${ref.folder}/${name}' already exists in the image store (set overwrite to replace it)`, 'name_taken');
        }
      }
      for (const name of [...names, ref.file]) await placeFile(path.join(work, name), path.join(folder, name), true, name);
      this.checked.delete(ref.path);
    });
  }

  /** Marks a folder an export fills with its VM's group, whose grants then reach the images in it. */
  async markGroup(folder: string, gid: string): Promise<void> {
    await mkdir(path.join(this.dir, folder), { recursive: true, mode: 0o755 });
    await writeFile(path.join(this.dir, folder, GROUP_MARK), gid + '\n');
  }

  async remove(ref: ImageRef, hrefs: string[]): Promise<void> {
    await this.serial(async () => {
      await this.require(ref);
      const folder = path.join(this.dir, ref.folder);
      const files = ref.format === 'ova' ? [ref.file] : [ref.file, ...companions(ref.file), ...hrefs];
      for (const f of files) await unlink(path.join(folder, f)).catch(() => {});
      this.checked.delete(ref.path);
      // A folder left with only its group mark goes with it; the shared folder stays.
      if (ref.folder !== SHARED_FOLDER) {
        const left = await readdir(folder).catch(() => ['?']);
        if (left.every((f) => f === GROUP_MARK)) await rm(folder, { recursive: true, force: true });
      }
    });
  }

  async rename(from: ImageRef, to: ImageRef, overwrite: boolean): Promise<void> {
    if (from.format !== 'ova' || to.format !== 'ova') throw notAcceptable('rename: only .ova images can be renamed (an OVF manifest names its descriptor)');
    await this.serial(async () => {
      await this.require(from);
      if (from.path === to.path) return;
      await mkdir(path.join(this.dir, to.folder), { recursive: true, mode: 0o755 });
      await placeFile(this.fileOf(from), this.fileOf(to), overwrite, `image '${to.path}'`);
      this.checked.delete(from.path);
    });
  }

  /** Where an upload of `ref` streams until it is checked (its folder is made for it). */
  async uploadTempFor(ref: ImageRef): Promise<string> {
    await mkdir(path.join(this.dir, ref.folder), { recursive: true, mode: 0o755 });
    return uploadTemp(path.join(this.dir, ref.folder), ref.file);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.locks.run('store', 'a change of the image store', fn);
  }
}

/** The manifest and certificate that travel with a descriptor `x.ovf`. */
function companions(file: string): string[] {
  const base = file.replace(/\.ovf$/, '');
  return [`${base}.mf`, `${base}.cert`];
}

async function checkOva(file: string, limits: OvaLimits, signal?: AbortSignal, inspected?: Inspected): Promise<CheckedImage> {
  const ova = await readOva(file, limits, signal, inspected);
  const sources = new Map(ova.members.map((m) => [m.name, { file, offset: m.offset, size: m.size }]));
  return withFiles({ descriptor: ova.descriptor, sources, bytes: (await stat(file)).size });
}

/** The descriptor must parse, and every file it references must be in the image. */
function withFiles(image: CheckedImage): CheckedImage {
  for (const f of parseOvf(image.descriptor).files) {
    if (!image.sources.has(f.href)) throw badRequest(`OVF descriptor: References/File[${f.id}]/@href: '${f.href}' is not in the image`);
  }
  return image;
}

/** An OVF folder: the files its manifest lists must hash right; each must be a regular file (no links out of the store). */
async function checkOvfFolder(file: string, signal?: AbortSignal): Promise<CheckedImage> {
  const dir = path.dirname(file);
  const descriptor = await readFile(file, 'utf8');
  const mf = path.join(dir, companions(path.basename(file))[0]);
  const manifest = await readFile(mf, 'utf8').then((t) => parseManifest(t, path.basename(mf)), (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  const sources = new Map<string, DiskSource>();
  let bytes = 0;
  for (const name of await readdir(dir)) {
    const st = await lstat(path.join(dir, name));
    if (!st.isFile() || name.startsWith('.')) continue;
    sources.set(name, { file: path.join(dir, name), offset: 0, size: st.size });
    bytes += st.size;
  }
  for (const e of manifest) {
    const src = sources.get(e.file);
    if (!src) throw badRequest(`OVF: the manifest lists '${e.file}', which is not beside the descriptor`);
    const hash = createHash(e.algorithm);
    await pipeline(createReadStream(src.file), hash, { signal });
    if (hash.digest('hex') !== e.digest) throw badRequest(`OVF: ${e.algorithm.toUpperCase()} of '${e.file}' does not match the manifest: the file was altered or damaged`);
  }
  return withFiles({ descriptor, sources, bytes });
}
