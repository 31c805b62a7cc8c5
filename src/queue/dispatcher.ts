import type { TaskRecord } from './task.js';

/**
 * A task as sysadm's dispatcher reports it. sysadm parsed fetch(1)'s progress line into strings
 * (`percent_done`, `download_rate`) and sent its process log along as `process_details`; sysadm's
 * clients read those fields as strings, so they keep that form here. hyved's own figures go beside
 * them, typed, under `progress`.
 */

export interface ProgressFigures {
  percent: number | null;
  bytes: number | null;
  total: number | null;
  /** Bytes per second. */
  rate: number | null;
}

export interface ProgressFields {
  /** fetch(1)'s whole percent, "42%"; "" while the size is unknown. */
  percent_done: string;
  /** fetch(1)'s rate, "1234 kBps"; "" before the first figure. */
  download_rate: string;
  progress: ProgressFigures;
}

export function progressFields(t: TaskRecord): ProgressFields {
  const p = t.progress;
  return {
    percent_done: p.percent === null ? '' : `${Math.floor(p.percent)}%`,
    download_rate: p.rate === null ? '' : fetchRate(p.rate),
    progress: { percent: p.percent, bytes: p.bytes ?? null, total: p.total ?? null, rate: p.rate },
  };
}

const PREFIXES = ['', 'k', 'M', 'G', 'T', 'P'];

/** fetch(1)'s rate: at most four digits, dividing by 1024 per prefix, e.g. "9999 Bps", "12 MBps". */
export function fetchRate(bytesPerSecond: number): string {
  let n = Math.floor(bytesPerSecond);
  let i = 0;
  while (n > 9999 && i < PREFIXES.length - 1) {
    n = Math.floor(n / 1024);
    i++;
  }
  return `${n} ${PREFIXES[i]}Bps`;
}

/**
 * sysadm's process log of the task, as its dispatcher events carried it: the one command, its
 * output under the command itself as key and its exit status under `return_codes/<command>`
 * ("0" on success, "1" otherwise). Commands start with the class name ("iohyve fetch ..."), so
 * they never collide with the fixed keys.
 */
export function processDetails(t: TaskRecord): Record<string, unknown> {
  const cmd = t.command;
  const started = t.time_started !== undefined;
  const output = t.error ? [...t.log, t.error] : t.log;
  return {
    process_id: t.id,
    state: t.state,
    cmd_list: [cmd],
    ...(started ? { time_started: t.time_started, [cmd]: output.join('\n') } : {}),
    ...(t.state === 'running' ? { current_cmd: cmd } : {}),
    ...(started && t.state === 'finished' ? { [`return_codes/${cmd}`]: t.result === 'success' ? '0' : '1' } : {}),
    ...(t.time_finished ? { time_finished: t.time_finished } : {}),
  };
}

/**
 * URLs in `text` cut to scheme, host and path: a query or fragment may carry a signature or token
 * (`?signature=...`) and userinfo a name, which only the task's owner may read back.
 */
export function publicText(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)(?:[^\s/?#@]*@)?([^\s/?#]*)([^\s?#]*)(?:[?#]\S*)?/gi, '$1$2$3');
}

/** The task as anyone but its owner sees it: URLs in its command, error and log cut by publicText. */
export function publicView(t: TaskRecord): TaskRecord {
  return { ...t, command: publicText(t.command), log: t.log.map(publicText), ...(t.error ? { error: publicText(t.error) } : {}) };
}

/** A task as the args of a `dispatcher` event, which every subscriber allowed on its group shares: the public view. */
export function dispatcherEvent(task: TaskRecord): Record<string, unknown> {
  const t = publicView(task);
  return {
    gid: t.gid,
    event_system: t.event_system,
    state: t.state,
    process_id: t.id,
    action: t.action,
    owner: t.owner,
    ...(t.progress.filename ? { filename: t.progress.filename } : {}),
    ...progressFields(t),
    description: t.progress.description,
    ...(t.result ? { result: t.result } : {}),
    ...(t.error ? { error: t.error } : {}),
    ...(t.code !== undefined ? { code: t.code, reason: t.reason } : {}),
    process_details: processDetails(t),
  };
}
