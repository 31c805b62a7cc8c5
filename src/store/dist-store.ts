import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { badRequest, conflict, notFound } from '../core/errors.js';
import { placeFile } from './place.js';
import { Locks } from '../core/locks.js';
import { checkStoreName, hiddenTemp } from './store-names.js';
import { RecordSchema, describeProblems, parseRecord } from './json-records.js';

/** A distribution's name: a single safe path component, as ISO names are. */
const DIST_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

export const DESCRIPTOR = 'distribution.json';
export const DISC_FORMATS = ['qcow2', 'raw'] as const;
export type DiscFormat = (typeof DISC_FORMATS)[number];

export interface DistDescriptor {
  description?: string;
  os?: string;
  min_disc_mib?: number;
  firmware?: 'EFI' | 'BIOS';
  kernel?: string;
  initrd?: string;
  cmdline?: string;
}

export interface Distribution {
  name: string;
  description: string;
  os: string;
  min_disc_mib: number;
  firmware: 'EFI' | 'BIOS';
  format: DiscFormat;
  /** Host path of disk.qcow2 or disk.raw. */
  disk: string;
  size: number;
  /** Host paths, for direct boot. */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
}

const SCHEMA = new RecordSchema<DistDescriptor>('distribution');

/**
 * Distributions under images/dist/ (DESIGN §11): one folder each, a descriptor and a disc image.
 * A folder dropped in by hand counts as soon as it is complete; a broken one is skipped from
 * listings (and named by `get`), never moved: it is the operator's.
 */
export class DistStore {
  private readonly locks = new Locks();

  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
  }

  /** 400 naming the field unless `name` is a safe distribution name. */
  static check(name: unknown, field: string): string {
    return checkStoreName(name, field, 'distribution name', 64);
  }

  dirOf(name: string): string {
    return path.join(this.dir, DistStore.check(name, 'distribution'));
  }

  /** Where an add in progress assembles its folder: hidden, so never listed. */
  tempDirFor(name: string, taskId: string): string {
    return hiddenTemp(this.dir, DistStore.check(name, 'name'), taskId);
  }

  async exists(name: string): Promise<boolean> {
    return stat(this.dirOf(name)).then((s) => s.isDirectory(), () => false);
  }

  async list(): Promise<Distribution[]> {
    const out: Distribution[] = [];
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !DIST_NAME.test(entry.name)) continue;
      const dist = await this.load(entry.name).catch(() => null);
      if (dist) out.push(dist);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The distribution, or 404 naming what is missing or wrong in its folder. */
  async get(name: string): Promise<Distribution> {
    if (!(await this.exists(name))) throw notFound(`no distribution '${name}'`);
    return this.load(name);
  }

  private async load(name: string): Promise<Distribution> {
    const dir = this.dirOf(name);
    const bytes = await readFile(path.join(dir, DESCRIPTOR)).catch(() => null);
    if (!bytes) throw notFound(`distribution '${name}' has no ${DESCRIPTOR}`);
    const parsed = parseRecord(bytes, SCHEMA);
    if ('problems' in parsed) throw notFound(`distribution '${name}': ${DESCRIPTOR} is invalid: ${describeProblems(parsed.problems)}`);
    const d = parsed.value;
    const disc = await this.disc(dir);
    if (!disc) throw notFound(`distribution '${name}' has no disk.qcow2 or disk.raw`);
    const file = async (f: string | undefined, field: string) => {
      if (f === undefined) return undefined;
      const full = path.join(dir, f);
      if (!(await stat(full).then((s) => s.isFile(), () => false))) throw notFound(`distribution '${name}': its ${field} '${f}' is missing`);
      return full;
    };
    const kernel = await file(d.kernel, 'kernel');
    const initrd = await file(d.initrd, 'initrd');
    return {
      name,
      description: d.description ?? '',
      os: d.os ?? 'linux',
      min_disc_mib: d.min_disc_mib ?? 0,
      firmware: d.firmware ?? 'BIOS',
      ...disc,
      ...(kernel ? { kernel } : {}),
      ...(initrd ? { initrd } : {}),
      ...(d.cmdline !== undefined ? { cmdline: d.cmdline } : {}),
    };
  }

  private async disc(dir: string): Promise<{ format: DiscFormat; disk: string; size: number } | null> {
    for (const format of DISC_FORMATS) {
      const disk = path.join(dir, `disk.${format}`);
      const st = await stat(disk).catch(() => null);
      if (st?.isFile()) return { format, disk, size: st.size };
    }
    return null;
  }

  /** 400 naming what is wrong unless `bytes` is a valid distribution.json. */
  static parseDescriptor(bytes: Uint8Array): DistDescriptor {
    const parsed = parseRecord(bytes, SCHEMA);
    if ('problems' in parsed) throw badRequest(`${DESCRIPTOR}: ${describeProblems(parsed.problems)}`, parsed.problems);
    return parsed.value;
  }

  /**
   * Moves one uploaded file into `<name>/` (made if missing); `replaces` are files it supersedes
   * (the other disc format), which make it a 409 unless `overwrite`, and go with it.
   */
  placeUploaded(temp: string, name: string, file: string, overwrite: boolean, replaces: string[] = []): Promise<void> {
    const dir = this.dirOf(name);
    return this.serial(async () => {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      for (const other of replaces) {
        if (!(await stat(path.join(dir, other)).then(() => true, () => false))) continue;
        if (!overwrite) throw conflict(`distribution '${name}' already has ${other} (set overwrite to replace it)`, 'name_taken');
      }
      await placeFile(temp, path.join(dir, file), overwrite, `'${name}/${file}'`);
      for (const other of replaces) await rm(path.join(dir, other), { force: true });
    });
  }

  /** Moves an assembled folder into place; an existing distribution is replaced only with `overwrite`. */
  commit(temp: string, name: string, overwrite: boolean): Promise<void> {
    return this.serial(async () => {
      const target = this.dirOf(name);
      if (await this.exists(name)) {
        if (!overwrite) throw conflict(`distribution '${name}' already exists`, 'name_taken');
        await rm(target, { recursive: true, force: true });
      }
      await rename(temp, target);
    });
  }

  remove(name: string): Promise<void> {
    const dir = this.dirOf(name);
    return this.serial(async () => {
      if (!(await this.exists(name))) throw notFound(`no distribution '${name}'`);
      await rm(dir, { recursive: true, force: true });
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.locks.run('store', 'a change of the distribution store', fn);
  }
}
