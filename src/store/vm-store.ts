import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { VmDefinition } from '../core/api.gen.js';
import { writeFileAtomic } from './atomic.js';
import { writeFailure } from './fs-errors.js';
import { RecordSchema, checkRecord, detail, keptNames } from './json-records.js';

const VMID = /^[A-Za-z0-9_-]{6,32}$/;

const SCHEMA = new RecordSchema<VmDefinition>('vm');

/** VM definitions, one directory each under vms/, the definition written atomically as vm.json. */
export class VmStore {
  readonly root: string;

  constructor(stateDir: string) {
    this.root = path.join(stateDir, 'vms');
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
  }

  dirOf(vmid: string): string {
    if (!VMID.test(vmid)) throw new Error(`bad vmid '${vmid}'`);
    return path.join(this.root, vmid);
  }

  async save(def: VmDefinition): Promise<void> {
    const dir = this.dirOf(def.vmid);
    await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
      throw writeFailure(err);
    });
    await writeFileAtomic(path.join(dir, 'vm.json'), JSON.stringify(def, null, 2) + '\n', 0o600);
  }

  /**
   * Every definition that reads back whole; a directory without a valid vm.json is reported, not
   * fatal. Only a damaged vm.json is moved aside: the directory's other files may belong to a
   * QEMU that is still running. Called once, at start-up.
   */
  async loadAll(onBad: (dir: string, err: Error) => void): Promise<VmDefinition[]> {
    const out: VmDefinition[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || !VMID.test(entry.name)) continue;
      const vmid = entry.name;
      const file = path.join(this.root, vmid, 'vm.json');
      try {
        // Read synchronously: this runs once, before the daemon serves, and 10,000 small files read
        // through the thread pool cost four round trips each (open, stat, read, close), seconds in all.
        const bytes = readFileSync(file);
        out.push(await checkRecord(file, bytes, SCHEMA, (def) => (def.vmid === vmid ? [] : [detail('/vmid', `is '${def.vmid}', not its directory's name '${vmid}'`)])));
      } catch (err) {
        onBad(file, (await this.keptInstead(file, err as NodeJS.ErrnoException)) ?? (err as Error));
      }
    }
    return out;
  }

  /** On every later start, a VM whose vm.json was moved aside is reported with how to bring it back. */
  private async keptInstead(file: string, err: NodeJS.ErrnoException): Promise<Error | null> {
    if (err.code !== 'ENOENT') return null;
    const kept = await keptNames(file).catch(() => []);
    return kept.length ? new Error(`missing; the damaged one is kept as ${kept.at(-1)}: repair it and rename it to vm.json to bring the VM back`) : null;
  }

  async remove(vmid: string): Promise<void> {
    await rm(this.dirOf(vmid), { recursive: true, force: true });
  }
}
