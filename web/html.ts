import { h } from 'preact';
import htm from 'htm';

/** JSX-like templates without a compile step: html`<p>${x}</p>`. */
export const html = htm.bind(h);

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(n: number): string {
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${UNITS[i]}`;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
