import { CallError } from './client.js';

/** A mistake in the command line itself: reported with the usage text, exit status 2. */
export class UsageError extends Error {}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Columns padded to their widest cell; the last column is left ragged. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** `hyvectl: <code> <message>` and one indented line per detail (path: message). */
export function describeError(err: unknown): string {
  if (err instanceof CallError) {
    const lines = [`hyvectl: ${err.code ? `${err.code} ` : ''}${err.message}`];
    for (const d of err.details ?? []) lines.push(`  ${describeDetail(d)}`);
    return lines.join('\n');
  }
  return `hyvectl: ${err instanceof Error ? err.message : String(err)}`;
}

function describeDetail(detail: unknown): string {
  const d = detail as { path?: unknown; message?: unknown } | null;
  if (d && typeof d === 'object' && typeof d.message === 'string') {
    return typeof d.path === 'string' && d.path ? `${d.path}: ${d.message}` : d.message;
  }
  return JSON.stringify(detail);
}

type Schema = {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
};

/** A one-line sketch of an args schema: `{action=list}`, `[string] | {events, since?}`. */
export function sketchSchema(schema: unknown): string {
  const s = (schema ?? {}) as Schema;
  const alternatives = s.oneOf ?? s.anyOf;
  if (alternatives) return alternatives.map(sketchSchema).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join('|');
  if (s.properties) {
    const required = new Set(s.required ?? []);
    const fields = Object.entries(s.properties).map(([key, p]) =>
      p.const !== undefined ? `${key}=${typeof p.const === 'string' ? p.const : JSON.stringify(p.const)}` : required.has(key) ? key : `${key}?`,
    );
    return `{${fields.join(', ')}}`;
  }
  if (s.type === 'array') return `[${s.items ? sketchSchema(s.items) : ''}]`;
  if (s.type === 'object') return '{}';
  return Array.isArray(s.type) ? s.type.join('|') : (s.type ?? 'any');
}
