import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { VmDefinition } from '../core/api.gen.js';
import { writeFileAtomic } from './atomic.js';

const VMID = /^[A-Za-z0-9_-]{6,32}$/;

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
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(path.join(dir, 'vm.json'), JSON.stringify(def, null, 2) + '\n', 0o600);
  }

  /** Every definition that reads back whole; a directory without a valid vm.json is reported, not fatal. */
  async loadAll(onBad: (dir: string, err: Error) => void): Promise<VmDefinition[]> {
    const out: VmDefinition[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || !VMID.test(entry.name)) continue;
      const file = path.join(this.root, entry.name, 'vm.json');
      try {
        const def = JSON.parse(await readFile(file, 'utf8')) as VmDefinition;
        if (def.vmid !== entry.name) throw new Error('vmid does not match its directory');
        out.push(def);
      } catch (err) {
        onBad(file, err as Error);
      }
    }
    return out;
  }

  async remove(vmid: string): Promise<void> {
    await rm(this.dirOf(vmid), { recursive: true, force: true });
  }
}
