import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { RpcError, badRequest, conflict, notFound } from '../core/errors.js';
import { Locks } from '../core/locks.js';
import { placeFile } from './place.js';
import { checkStoreName, hiddenTemp } from './store-names.js';

/**
 * A single path component a shell would read as a plain word: no separators, no `..`, no
 * hidden names (temp files are hidden), no metacharacters, no control characters.
 */
const ISO_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

export interface IsoEntry { name: string; size: number; modified: string }

/** Installation images under images/iso/: names confined to the directory, no silent overwrites. */
export class IsoStore {
  private readonly locks = new Locks();

  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o755 });
  }

  /** 400 naming the field unless `name` is a safe single file name. */
  static check(name: unknown, field: string): string {
    return checkStoreName(name, field, 'ISO name', 200);
  }

  pathOf(name: string): string {
    const full = path.join(this.dir, IsoStore.check(name, 'name'));
    // Belt and braces: the name check already rules out anything that leaves the directory.
    if (path.dirname(full) !== this.dir) throw badRequest(`'${name}' leaves the ISO store`);
    return full;
  }

  /** Where a download in progress lives until it is complete: hidden, so never listed. */
  tempPathFor(name: string, taskId: string): string {
    return hiddenTemp(this.dir, IsoStore.check(name, 'name'), taskId);
  }

  async exists(name: string): Promise<boolean> {
    return stat(this.pathOf(name)).then((s) => s.isFile(), () => false);
  }

  async list(): Promise<IsoEntry[]> {
    const out: IsoEntry[] = [];
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isFile() || !ISO_NAME.test(entry.name)) continue;
      const st = await stat(path.join(this.dir, entry.name)).catch(() => null);
      if (st) out.push({ name: entry.name, size: st.size, modified: st.mtime.toISOString() });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Moves a finished download into place; without `overwrite` an existing ISO is never replaced. */
  commit(temp: string, name: string, overwrite: boolean): Promise<void> {
    return this.serial(() => this.place(temp, name, overwrite));
  }

  private place(temp: string, name: string, overwrite: boolean): Promise<void> {
    return placeFile(temp, this.pathOf(name), overwrite, `ISO '${name}'`);
  }

  rename(source: string, target: string, overwrite = false): Promise<void> {
    const from = this.pathOf(IsoStore.check(source, 'source'));
    IsoStore.check(target, 'target');
    return this.serial(async () => {
      if (!(await this.exists(source))) throw notFound(`no ISO named '${source}'`);
      if (source === target) return;
      if (!overwrite && (await this.exists(target))) throw conflict(`ISO '${target}' already exists`, 'name_taken');
      await this.place(from, target, overwrite).catch((err) => {
        throw err instanceof RpcError ? err : new RpcError(500, `rename failed: ${(err as Error).message}`);
      });
    });
  }

  remove(name: string): Promise<void> {
    const file = this.pathOf(IsoStore.check(name, 'target'));
    return this.serial(async () => {
      if (!(await this.exists(name))) throw notFound(`no ISO named '${name}'`);
      await unlink(file);
    });
  }

  /**
   * Changes run one at a time, so the existence checks above still hold when the change they
   * guard is made: concurrent removals and renames of one ISO used to race into a 500.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.locks.run('store', 'a change of the ISO store', fn);
  }
}

