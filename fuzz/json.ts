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

const OVER_BUDGET = Symbol('over budget');

/**
 * The JSON text of `v`, cut off once it passes `limit` characters: stacked mutations (10 000 copies
 * of a near-frame-sized string) can describe texts longer than V8 strings may be, and a frame that
 * long is clamped anyway.
 */
export function serialize(v: unknown, limit = Infinity): string {
  const out: string[] = [];
  let length = 0;
  const put = (s: string) => {
    out.push(s);
    length += s.length;
    if (length > limit) throw OVER_BUDGET;
  };
  try {
    write(v, put);
  } catch (e) {
    if (e !== OVER_BUDGET) throw e;
    return out.join('').slice(0, limit + 1);
  }
  return out.join('');
}

function write(v: unknown, put: (s: string) => void): void {
  if (v instanceof Raw) return put(v.text);
  const entries = v instanceof Dup ? v.entries : v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v) : null;
  if (entries) {
    put('{');
    let first = true;
    for (const [k, x] of entries) {
      if (x === undefined && !(v instanceof Dup)) continue;
      if (!first) put(',');
      first = false;
      put(JSON.stringify(k) + ':');
      write(x, put);
    }
    return put('}');
  }
  if (Array.isArray(v)) {
    put('[');
    v.forEach((x, i) => {
      if (i) put(',');
      write(x, put);
    });
    return put(']');
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return put(String(v)); // NaN / Infinity: invalid JSON on purpose
  put(v === undefined ? 'null' : JSON.stringify(v));
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
    // Own keys only: a path through "__proto__" must never reach (and let setAt edit) Object.prototype.
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, p)) return undefined;
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
