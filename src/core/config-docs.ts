import { CONFIG_KEYS, type KeySpec } from './config.js';

export const TABLE_BEGIN = '<!-- config-table:begin -->';
export const TABLE_END = '<!-- config-table:end -->';

/** The README's configuration table, one row per entry of CONFIG_KEYS. */
export function renderConfigTable(): string {
  const rows = Object.entries(CONFIG_KEYS).map(([key, spec]: [string, KeySpec<unknown>]) =>
    `| \`${key}\` | ${cell(spec.defaultDoc ?? showDefault(spec.default))} | ${cell(spec.doc)} |`);
  return ['| key | default | meaning |', '|---|---|---|', ...rows].join('\n');
}

/** What the README holds between its markers, blank lines around it trimmed. */
export function readmeConfigTable(readme: string): string {
  const { begin, end } = markers(readme);
  return readme.slice(begin, end).trim();
}

/** The README with the table between its markers rewritten; blank lines keep the markers out of the table. */
export function spliceConfigTable(readme: string): string {
  const { begin, end } = markers(readme);
  return readme.slice(0, begin) + '\n\n' + renderConfigTable() + '\n\n' + readme.slice(end);
}

function markers(readme: string): { begin: number; end: number } {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`README lacks ${TABLE_BEGIN} ... ${TABLE_END}`);
  return { begin: begin + TABLE_BEGIN.length, end };
}

function showDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return '`' + (typeof value === 'string' ? value : literal(value)) + '`';
}

/** JSON with bare keys (`{level:"info", file:"hyved.log"}`): shorter in a table cell, and no less clear to a reader. */
function literal(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (value !== null && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${k}:${literal(v)}`).join(', ')}}`;
  return JSON.stringify(value);
}

// A bare | would end the cell early.
function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}
