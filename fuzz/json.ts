/**
 * JSON text building for the fuzzer: values may embed `Raw` text (numbers JSON.stringify cannot
 * write, deep nesting without recursion, deliberate syntax errors) and `Dup` objects (duplicate
 * keys). Objects may carry an own "__proto__" key, which is written like any other key.
 */
import type { Path } from './schema-gen.js';

export class Raw {
  constructor(readonly text: string) {}
}

/** An object written with these entries in order, duplicates included. */
export class Dup {
  constructor(readonly entries: [string, unknown][]) {}
}

export function serialize(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Dup) return '{' + v.entries.map(([k, x]) => JSON.stringify(k) + ':' + serialize(x)).join(',') + '}';
  if (Array.isArray(v)) return '[' + v.map((x) => (x === undefined ? 'null' : serialize(x))).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    const parts: string[] = [];
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) parts.push(JSON.stringify(k) + ':' + serialize(x));
    }
    return '{' + parts.join(',') + '}';
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v); // NaN / Infinity: invalid JSON on purpose
  if (v === undefined) return 'null';
  return JSON.stringify(v);
}

/** Sets an own property, even "__proto__", without touching any prototype. */
export function setOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

export function clone<T>(v: T): T {
  if (v instanceof Raw || v === null || typeof v !== 'object') return v;
  if (v instanceof Dup) return new Dup(v.entries.map(([k, x]) => [k, clone(x)])) as T;
  if (Array.isArray(v)) return v.map(clone) as T;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) setOwn(out, k, clone((v as Record<string, unknown>)[k]));
  return out as T;
}

export function getAt(root: unknown, path: Path): unknown {
  let cur = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Replaces the node at `path` (root when empty); returns the new root. */
export function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const parent = getAt(root, path.slice(0, -1));
  const key = path[path.length - 1];
  if (Array.isArray(parent) && typeof key === 'number') parent[key] = value;
  else if (parent !== null && typeof parent === 'object') setOwn(parent as Record<string, unknown>, String(key), value);
  return root;
}

export function deleteAt(root: unknown, path: Path): unknown {
  if (path.length === 0) return undefined;
  const parent = getAt(root, path.slice(0, -1));
  const key = path[path.length - 1];
  if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
  else if (parent !== null && typeof parent === 'object') delete (parent as Record<string, unknown>)[String(key)];
  return root;
}
