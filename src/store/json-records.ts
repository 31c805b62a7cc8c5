import { readdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { compileSchemaFile, escapePointer, formatAjvErrors, type ErrorDetail } from '../core/schemas.js';
import { writeFileAtomic } from './atomic.js';

/** Checks a record needs beyond its schema (a name that must match its file), as details under `at`. */
type ExtraCheck<T> = (value: T, at: string) => ErrorDetail[];

/** The schema schemas/records/<name>.json of one kind of on-disk record. */
export class RecordSchema<T> {
  private readonly validate: ValidateFunction;

  constructor(name: string) {
    this.validate = compileSchemaFile(`records/${name}.json`);
  }

  /** What is wrong with `value` (a part of a file at JSON Pointer `at`); empty when it is a sound T. */
  problems(value: unknown, at = '', extra?: ExtraCheck<T>): ErrorDetail[] {
    if (!this.validate(value)) return formatAjvErrors(this.validate.errors, at);
    return extra?.(value as T, at) ?? [];
  }
}

export function detail(at: string, message: string): ErrorDetail {
  return { path: at, message, keyword: 'record' };
}

/** A JSON Pointer segment: a key such as a user name may itself hold '/' or '~' when the file is damaged. */
export function pointerKey(key: string): string {
  return '/' + escapePointer(key);
}

export function describeProblems(details: ErrorDetail[]): string {
  return details.map((d) => `${d.path || '(root)'}: ${d.message}`).join('; ');
}

/**
 * The record in `bytes`, or what is wrong with it. Bytes that are not UTF-8 count as damage:
 * decoded leniently they would load with U+FFFD in place and be written back that way.
 */
export function parseRecord<T>(bytes: Uint8Array, schema: RecordSchema<T>, extra?: ExtraCheck<T>): { value: T } | { problems: ErrorDetail[] } {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return { problems: [detail('', `is not JSON: ${(err as Error).message}`)] };
  }
  const problems = schema.problems(value, '', extra);
  return problems.length ? { problems } : { value: value as T };
}

/**
 * Reads a file that holds one record. A damaged one is renamed to <file>.corrupt-<time> (never
 * deleted: a human may repair it and rename it back) and rejected with an error naming its bad
 * fields and where it went, so the caller skips that record only. Other errors, e.g. a missing
 * file, reject unchanged.
 */
export async function readRecord<T>(file: string, schema: RecordSchema<T>, extra?: ExtraCheck<T>): Promise<T> {
  return checkRecord(file, await readFile(file), schema, extra);
}

/** readRecord for the `bytes` already read from `file`. */
export async function checkRecord<T>(file: string, bytes: Uint8Array, schema: RecordSchema<T>, extra?: ExtraCheck<T>): Promise<T> {
  const result = parseRecord(bytes, schema, extra);
  if ('value' in result) return result.value;
  const keptAs = newKeptName(file);
  const where = await rename(file, keptAs).then(
    () => `the file is kept as ${keptAs}`,
    (err: Error) => `left in place, not loaded (cannot move it aside: ${err.message})`,
  );
  throw new Error(`${describeProblems(result.problems)}; ${where}`);
}

/**
 * Keeps `bytes`, the damaged content of `file`, as <file>.corrupt-<time> beside it, for a file the
 * caller keeps using (and may rewrite) rather than moving aside. Content already kept is not copied
 * again: the file is re-read on every start and change. Resolves with the copy's path once it is on disk.
 */
export async function preserveCopy(file: string, bytes: Uint8Array, mode: number): Promise<string> {
  for (const name of await keptNames(file)) {
    const kept = await readFile(path.join(path.dirname(file), name)).catch(() => null);
    if (kept?.equals(bytes)) return path.join(path.dirname(file), name);
  }
  const copy = newKeptName(file);
  await writeFileAtomic(copy, bytes, mode);
  return copy;
}

/** The names of the damaged versions of `file` kept beside it, oldest first. */
export async function keptNames(file: string): Promise<string[]> {
  const prefix = `${path.basename(file)}.corrupt-`;
  return (await readdir(path.dirname(file))).filter((n) => n.startsWith(prefix)).sort();
}

/** The time in milliseconds, so that names sort by time; no ':' so that the names survive scp and tar. */
function newKeptName(file: string): string {
  return `${file}.corrupt-${new Date().toISOString().replace(/[-:]/g, '')}`;
}
