import { mkdir, rm } from 'node:fs/promises';
import { customAlphabet } from 'nanoid';
import { Locks } from '../core/locks.js';
import PQueue from 'p-queue';
import type { EventHub } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { TaskFiles } from './history.js';
import { dispatcherEvent, publicText } from './dispatcher.js';
import { ALL_GROUPS } from '../core/permissions.js';
import type { TaskContext } from '../core/task.js';
import { LOG_LINES, type TaskRecord, type TaskResult } from './task.js';
import { RpcError } from '../core/errors.js';

const newId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 12);

/** At most this many progress events per second per task; state changes always go out at once. */
const PROGRESS_INTERVAL_MS = 250;

export interface TaskSpec {
  owner: string;
  gid: string;
  queue: string;
  action: string;
  eventSystem: string;
  command: string;
  key: string | null;
  filename?: string;
  run(ctx: TaskContext): Promise<unknown>;
  /** Called once the task is finished however it went, also when it never ran (canceled or interrupted while queued). */
  onSettled?(result: TaskResult): Promise<void>;
}

export interface QueueOptions { concurrency: number; history: number }

interface Live {
  record: TaskRecord;
  spec: TaskSpec;
  abort: AbortController;
  lastEvent: number;
  /** The description the last event carried: a new one (a task's next phase) goes out at once. */
  lastDescription: string;
  timer: NodeJS.Timeout | null;
}

export class TaskCanceled extends Error {}

/**
 * Tasks as in DESIGN §3: pending → running → finished, a global concurrency limit, one task
 * at a time per resource key, progress pushed as sysadm `dispatcher` events, and every record on
 * disk so that a task cut short by a crash reads `interrupted` after restart with its files gone.
 */
export class TaskQueue {
  private readonly pq: PQueue;
  private readonly files: TaskFiles;
  private readonly live = new Map<string, Live>();
  private history: TaskRecord[] = [];
  /** Per task key: tasks on one resource run one at a time, in submission order. */
  private readonly locks = new Locks();
  private order: string[] = [];

  constructor(
    dir: string,
    private readonly events: EventHub,
    private readonly log: Logger,
    private readonly opts: QueueOptions,
  ) {
    this.pq = new PQueue({ concurrency: opts.concurrency });
    this.files = new TaskFiles(dir);
  }

  /** Loads the history; tasks that were pending or running when the daemon died become `interrupted`. */
  async init(): Promise<void> {
    await mkdir(this.files.dir, { recursive: true, mode: 0o700 });
    const records = await this.files.loadAll((file, err) => this.log.error(`skipping task record ${file}: ${err.message}`));
    for (const rec of records) {
      rec.gid ??= ALL_GROUPS;
      if (rec.state === 'finished') continue;
      await Promise.all(rec.cleanup.map((f) => rm(f, { force: true, recursive: true })));
      rec.state = 'finished';
      rec.result = 'interrupted';
      rec.error = 'the daemon stopped while this task was ' + (rec.time_started ? 'running' : 'queued');
      rec.time_finished = new Date().toISOString();
      rec.cleanup = [];
      await this.files.save(rec);
      this.log.warn(`task ${rec.id} (${publicText(rec.command)}) was interrupted by a daemon stop`);
    }
    this.history = records;
    await this.prune();
  }

  submit(spec: TaskSpec): TaskRecord {
    const id = `${spec.queue.replace(/\W/g, '_')}_${spec.action}::${newId()}`;
    const record: TaskRecord = {
      id,
      owner: spec.owner,
      gid: spec.gid,
      queue: spec.queue,
      action: spec.action,
      event_system: spec.eventSystem,
      command: spec.command,
      key: spec.key,
      state: 'pending',
      progress: { percent: null, rate: null, description: 'queued', ...(spec.filename ? { filename: spec.filename } : {}) },
      log: [],
      time_queued: new Date().toISOString(),
      cleanup: [],
    };
    const live: Live = { record, spec, abort: new AbortController(), lastEvent: 0, lastDescription: '', timer: null };
    this.live.set(id, live);
    this.order.push(id);
    const saved = this.files.save(record);
    this.emit(live);
    // Enqueued synchronously, so tasks start in submission order; the record is on disk before it runs.
    const start = () =>
      this.pq.add(() =>
        saved.then(
          () => this.execute(live),
          (err: Error) => this.finish(live, 'failed', `cannot record the task: ${err.message}`),
        ),
      );
    if (spec.key === null) void start();
    else void this.locks.run(spec.key, id, start);
    return record;
  }

  get(id: string): TaskRecord | undefined {
    return this.live.get(id)?.record ?? this.history.find((t) => t.id === id);
  }

  /** Active tasks in submission order, then (if asked) finished ones, newest last. */
  list(includeHistory: boolean): TaskRecord[] {
    const active = this.order.map((id) => this.live.get(id)!.record);
    return includeHistory ? [...this.history, ...active] : active;
  }

  /** Position among waiting tasks: 0 for a running task. */
  position(id: string): number {
    const live = this.live.get(id);
    if (!live || live.record.state === 'running') return 0;
    return this.order.filter((o) => this.live.get(o)!.record.state === 'pending').indexOf(id) + 1;
  }

  activeWithKey(key: string): TaskRecord | undefined {
    for (const l of this.live.values()) if (l.record.key === key) return l.record;
    return undefined;
  }

  /** Cancels a pending or running task; false if it is unknown or already finished. */
  kill(id: string): boolean {
    const live = this.live.get(id);
    if (!live) return false;
    live.abort.abort(new TaskCanceled('canceled by request'));
    if (live.record.state === 'pending') void this.finish(live, 'canceled', 'canceled before it started');
    return true;
  }

  /** Daemon shutdown: running tasks are aborted and recorded as interrupted. */
  async stop(): Promise<void> {
    this.pq.clear();
    const pending = [...this.live.values()];
    for (const l of pending) l.abort.abort(new TaskCanceled('daemon stopping'));
    await Promise.all(pending.map((l) => (l.record.state === 'pending' ? this.finish(l, 'interrupted', 'the daemon stopped') : undefined)));
    await this.pq.onIdle();
  }

  private async execute(live: Live): Promise<void> {
    const rec = live.record;
    if (rec.state !== 'pending') return;
    rec.state = 'running';
    rec.time_started = new Date().toISOString();
    rec.progress.description = 'running';
    await this.files.save(rec);
    this.emit(live);
    const ctx: TaskContext = {
      signal: live.abort.signal,
      id: rec.id,
      progress: (p) => {
        Object.assign(rec.progress, p);
        this.throttledEmit(live);
      },
      log: (line) => {
        rec.log.push(line);
        if (rec.log.length > LOG_LINES) rec.log.splice(0, rec.log.length - LOG_LINES);
      },
      addCleanup: async (file) => {
        rec.cleanup.push(file);
        await this.files.save(rec);
      },
      dropCleanup: async (file) => {
        rec.cleanup = rec.cleanup.filter((f) => f !== file);
        await this.files.save(rec);
      },
    };
    try {
      const value = await live.spec.run(ctx);
      rec.return = value;
      await this.finish(live, 'success');
    } catch (err) {
      const reason = live.abort.signal.reason;
      if (live.abort.signal.aborted && reason instanceof TaskCanceled) {
        await this.finish(live, reason.message === 'daemon stopping' ? 'interrupted' : 'canceled', reason.message);
      } else {
        if (err instanceof RpcError) {
          rec.code = err.code;
          rec.reason = err.reason;
        }
        await this.finish(live, 'failed', (err as Error)?.message ?? String(err));
      }
    }
  }

  private async finish(live: Live, result: TaskResult, error?: string): Promise<void> {
    const rec = live.record;
    if (rec.state === 'finished') return;
    rec.state = 'finished';
    rec.result = result;
    if (error) rec.error = error;
    rec.time_finished = new Date().toISOString();
    if (result === 'success') rec.progress.percent = 100;
    rec.progress.description = result;
    await Promise.all(rec.cleanup.map((f) => rm(f, { force: true, recursive: true })));
    rec.cleanup = [];
    await live.spec.onSettled?.(result).catch((err: Error) => this.log.error(`task ${rec.id}: settling failed: ${err.message}`));
    if (live.timer) clearTimeout(live.timer);
    this.live.delete(rec.id);
    this.order = this.order.filter((o) => o !== rec.id);
    this.history.push(rec);
    await this.files.save(rec);
    this.emit(live);
    const level = result === 'success' ? 'info' : 'warn';
    this.log.log(level, `task ${rec.id} ${result}${error ? `: ${publicText(error)}` : ''}`, { command: publicText(rec.command), owner: rec.owner });
    await this.prune();
  }

  private async prune(): Promise<void> {
    while (this.history.length > this.opts.history) {
      const old = this.history.shift()!;
      await this.files.remove(old.id);
    }
  }

  private throttledEmit(live: Live): void {
    const wait = live.lastEvent + PROGRESS_INTERVAL_MS - Date.now();
    if (wait <= 0 || live.record.progress.description !== live.lastDescription) return this.emit(live);
    live.timer ??= setTimeout(() => {
      live.timer = null;
      if (live.record.state === 'running') this.emit(live);
    }, wait);
  }

  private emit(live: Live): void {
    live.lastEvent = Date.now();
    live.lastDescription = live.record.progress.description;
    if (live.timer) {
      clearTimeout(live.timer);
      live.timer = null;
    }
    this.events.publish('dispatcher', dispatcherEvent(live.record));
  }
}
