/**
 * How hyvectl shows a dispatcher task's progress: pure functions that turn a `dispatcher` event
 * into a line, and a renderer that decides when to write which line (a redrawn bar on a terminal,
 * plain throttled lines otherwise).
 */

import type { ProgressFigures } from '../queue/dispatcher.js';

/** The args of a sysadm `dispatcher` event, as far as showing progress needs them. */
export interface DispatcherEvent {
  event_system?: string;
  state: 'pending' | 'running' | 'finished';
  process_id: string;
  action?: string;
  filename?: string;
  /** hyved's typed figures; sysadm's strings beside them (percent_done, download_rate) are for sysadm's clients. */
  progress: ProgressFigures;
  description?: string;
  result?: 'success' | 'failed' | 'canceled' | 'interrupted';
  error?: string;
  seq?: number;
  time?: string;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `512 B`, `1.5 KiB`, `12.3 MiB`: binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // 1023.96 KiB would print as "1024.0 KiB": move up a unit instead.
  if (Number(value.toFixed(1)) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** `12.3 MiB/s`; an empty string when the rate is unknown. */
export function formatRate(bytesPerSecond: number | null | undefined): string {
  return typeof bytesPerSecond === 'number' ? `${formatBytes(bytesPerSecond)}/s` : '';
}

/** `42.5%`, clamped to 0–100. */
export function formatPercent(percent: number): string {
  return `${clampPercent(percent).toFixed(1)}%`;
}

/** `[#####-----]`: `width` cells between the brackets, filled in proportion to `percent`. */
export function progressBar(percent: number, width: number): string {
  const cells = Math.max(0, Math.floor(width));
  const filled = Math.min(cells, Math.floor((clampPercent(percent) / 100) * cells));
  return `[${'#'.repeat(filled)}${'-'.repeat(cells - filled)}]`;
}

export const SPINNER = ['|', '/', '-', '\\'];

/** `fetchiso big.iso`: the task's action and file, falling back to what the caller knows. */
export function taskLabel(ev: Pick<DispatcherEvent, 'action' | 'filename' | 'process_id'>, fallbackName?: string): string {
  return `${ev.action ?? 'task'} ${ev.filename ?? fallbackName ?? ev.process_id}`;
}

/** `fetchiso big.iso: running`, `fetchiso big.iso: finished (failed)`. */
export function stateLine(label: string, ev: DispatcherEvent): string {
  return ev.state === 'finished' ? `${label}: finished (${ev.result ?? 'unknown'})` : `${label}: ${ev.state}`;
}

/**
 * `fetchiso big.iso: 42.5% 12.3 MiB/s` for a log or a pipe; without a known size
 * `fetchiso big.iso: downloading 12.3 MiB/s`. Null when the event has no progress to tell.
 */
export function plainLine(label: string, ev: DispatcherEvent): string | null {
  if (ev.state !== 'running') return null;
  const { percent } = ev.progress;
  const rate = formatRate(ev.progress.rate);
  if (percent !== null) return [`${label}: ${formatPercent(percent)}`, rate].filter(Boolean).join(' ');
  return rate ? `${label}: downloading ${rate}` : null;
}

export interface TtyLineOptions {
  /** The terminal's width; the line is kept shorter so that it never wraps. */
  columns?: number;
  /** Which spinner frame to show when the size is unknown. */
  frame?: number;
}

/** The one line a terminal shows and redraws: a bar with percent and rate, or a spinner. */
export function ttyLine(label: string, ev: DispatcherEvent, opts: TtyLineOptions = {}): string {
  const columns = opts.columns && opts.columns > 0 ? opts.columns : 80;
  const spin = SPINNER[(opts.frame ?? 0) % SPINNER.length];
  const { percent } = ev.progress;
  const rate = formatRate(ev.progress.rate);
  let line: string;
  if (ev.state === 'pending') line = `${label} ${spin} queued`;
  else if (ev.state === 'finished') line = `${label}: ${ev.result ?? 'finished'}`;
  else if (percent !== null) {
    const shown = formatPercent(percent).padStart(6);
    // label, bar, percent and a rate up to "1023.9 MiB/s" in a line one short of the width.
    const room = columns - 1 - (label.length + 1 + 2 + 1 + 6 + 2 + 12);
    const width = Math.max(10, Math.min(40, room));
    line = `${label} ${progressBar(percent, width)} ${shown}${rate ? `  ${rate}` : ''}`;
  } else line = `${label} ${spin} downloading…${rate ? `  ${rate}` : ''}`;
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 1)) : line;
}

/** Where the renderer writes: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface RendererOptions {
  /** Redraw in place; default: the stream's isTTY. */
  tty?: boolean;
  /** The task's file name until an event names it. */
  name?: string;
  now?: () => number;
  /** Least time between two redraws on a terminal (default 100 ms, ~10 per second). */
  ttyIntervalMs?: number;
  /** Least time between two progress lines when not on a terminal (default 1 s). */
  plainIntervalMs?: number;
}

/**
 * Shows one task's events. On a terminal: a single line redrawn with `\r` at most every
 * ttyIntervalMs (the latest event is drawn late rather than never), cleared when done. Otherwise:
 * one line per state change and a progress line at most every plainIntervalMs.
 */
export class ProgressRenderer {
  readonly tty: boolean;
  private readonly now: () => number;
  private readonly ttyInterval: number;
  private readonly plainInterval: number;
  private readonly name: string | undefined;
  private lastState: string | null = null;
  private lastDraw = -Infinity;
  private lastPlain = -Infinity;
  private latest: DispatcherEvent | null = null;
  private timer: NodeJS.Timeout | null = null;
  private frame = 0;
  /** A terminal line is on screen and must be cleared before anything else is written. */
  private onScreen = false;
  private done = false;

  constructor(private readonly out: ProgressStream, opts: RendererOptions = {}) {
    this.tty = opts.tty ?? Boolean(out.isTTY);
    this.now = opts.now ?? Date.now;
    this.ttyInterval = opts.ttyIntervalMs ?? 100;
    this.plainInterval = opts.plainIntervalMs ?? 1000;
    this.name = opts.name;
  }

  update(ev: DispatcherEvent): void {
    if (this.done) return;
    const changed = ev.state !== this.lastState;
    this.lastState = ev.state;
    this.latest = ev;
    const label = taskLabel(ev, this.name);
    if (!this.tty) {
      if (changed) {
        this.out.write(stateLine(label, ev) + '\n');
        if (ev.state === 'finished') this.finish();
      } else {
        const line = plainLine(label, ev);
        const t = this.now();
        if (line && t - this.lastPlain >= this.plainInterval) {
          this.out.write(line + '\n');
          this.lastPlain = t;
        }
      }
      return;
    }
    if (ev.state === 'finished') return this.finish();
    const wait = this.lastDraw + this.ttyInterval - this.now();
    if (changed || wait <= 0) this.draw();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.done) this.draw();
      }, wait);
      this.timer.unref();
    }
  }

  /** A message of its own line (e.g. "canceling…"), written below or instead of the bar. */
  note(text: string): void {
    this.clear();
    this.out.write(text + '\n');
    if (this.tty && !this.done && this.latest) this.draw();
  }

  /** Stops redrawing and clears the terminal line; nothing is written after this. */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.clear();
    this.done = true;
  }

  private draw(): void {
    if (!this.latest) return;
    this.lastDraw = this.now();
    const line = ttyLine(taskLabel(this.latest, this.name), this.latest, { columns: this.out.columns, frame: this.frame++ });
    this.out.write(`\r${line}\x1b[K`);
    this.onScreen = true;
  }

  private clear(): void {
    if (!this.onScreen) return;
    this.out.write('\r\x1b[K');
    this.onScreen = false;
  }
}

function clampPercent(p: number): number {
  return Number.isFinite(p) ? Math.min(100, Math.max(0, p)) : 0;
}
