import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../store/atomic.js';
import type { TaskRecord } from './task.js';

const FILE = /^[A-Za-z0-9_:-]+\.json$/;

/** One JSON file per task under tasks/: written when a task is queued, starts and finishes. */
export class TaskFiles {
  constructor(readonly dir: string) {}

  private file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  async save(task: TaskRecord): Promise<void> {
    await writeFileAtomic(this.file(task.id), JSON.stringify(task) + '\n', 0o600);
  }

  async remove(id: string): Promise<void> {
    await rm(this.file(id), { force: true });
  }

  /** Every readable record; a torn or foreign file is skipped, never fatal. */
  async loadAll(): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for (const name of await readdir(this.dir)) {
      if (!FILE.test(name)) continue;
      try {
        const rec = JSON.parse(await readFile(path.join(this.dir, name), 'utf8')) as TaskRecord;
        if (typeof rec.id === 'string' && `${rec.id}.json` === name) out.push(rec);
      } catch {
        // A partial temp file never has the final name (writes are atomic): nothing to recover here.
      }
    }
    return out.sort((a, b) => a.time_queued.localeCompare(b.time_queued));
  }
}
