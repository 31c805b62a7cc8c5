import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../store/atomic.js';
import { RecordSchema, detail, readRecord } from '../store/json-records.js';
import type { TaskRecord } from './task.js';

const FILE = /^[A-Za-z0-9_:-]+\.json$/;

const SCHEMA = new RecordSchema<TaskRecord>('task');

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

  /**
   * Every sound record; a damaged one is moved aside and reported, never fatal. (A partial temp
   * file never has a record's name: writes are atomic.)
   */
  async loadAll(onBad: (file: string, err: Error) => void): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for (const name of await readdir(this.dir)) {
      if (!FILE.test(name)) continue;
      const file = path.join(this.dir, name);
      try {
        out.push(
          await readRecord(file, SCHEMA, (rec) => (`${rec.id}.json` === name ? [] : [detail('/id', `is '${rec.id}', not its file's name`)])),
        );
      } catch (err) {
        onBad(file, err as Error);
      }
    }
    return out.sort((a, b) => a.time_queued.localeCompare(b.time_queued));
  }
}
