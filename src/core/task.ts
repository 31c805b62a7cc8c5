/** What a long-running action reports while it runs (DESIGN §3). */
export interface TaskProgress {
  percent: number | null;
  /** Bytes per second, where the task moves bytes. */
  rate: number | null;
  description: string;
  filename?: string;
  /** For a transfer: bytes moved so far, and the size announced (null while unknown). Absent from records written before they existed. */
  bytes?: number | null;
  total?: number | null;
}

/** What a task's body gets from the queue that runs it: the contract between the two, as ActionDef is between router and handler. */
export interface TaskContext {
  readonly signal: AbortSignal;
  readonly id: string;
  progress(p: Partial<TaskProgress>): void;
  log(line: string): void;
  /** Records a path to delete should the task not succeed, before the task creates it. */
  addCleanup(file: string): Promise<void>;
  /** The task took care of a cleanup path itself (renamed it into place). */
  dropCleanup(file: string): Promise<void>;
}
