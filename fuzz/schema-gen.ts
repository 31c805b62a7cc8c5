/**
 * Builds VALID instances of a JSON Schema (2020-12 subset used by hyved's action schemas: type,
 * const, enum, oneOf/anyOf, not, properties/required/additionalProperties, items/minItems/maxItems,
 * pattern/minLength/maxLength/format, minimum/maximum/exclusive*), preferring known-good values
 * per field (harvested from the daemon's own replies), and lists an instance's nodes with the
 * subschema that governs each, for the schema-aware mutations.
 */
import type { ValidateFunction } from 'ajv';
import { ajv } from '../src/core/schemas.js';
import type { Rng } from './prng.js';
import { regexGen } from './regex-gen.js';

export type Schema = boolean | SchemaObject;
export interface SchemaObject {
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  not?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: Schema;
  propertyNames?: Schema;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  [k: string]: unknown;
}

export type Path = (string | number)[];

/** Field-name-aware sources of known-good values: returns candidates (filtered against the schema by the caller). */
export type Known = (path: Path, schema: SchemaObject) => readonly unknown[] | undefined;

const validators = new WeakMap<object, ValidateFunction>();

/** The daemon's own ajv configuration, so "valid" here means valid there. */
export function validator(schema: Schema): ValidateFunction {
  const key = typeof schema === 'boolean' ? (schema ? TRUE : FALSE) : schema;
  let v = validators.get(key);
  if (!v) {
    v = ajv.compile(typeof schema === 'boolean' ? (schema ? {} : { not: {} }) : schema);
    validators.set(key, v);
  }
  return v;
}
const TRUE = {};
const FALSE = {};

export function isValid(schema: Schema, value: unknown): boolean {
  try {
    return validator(schema)(value) as boolean;
  } catch {
    return false;
  }
}

const branchCache = new WeakMap<SchemaObject, SchemaObject[] | null>();

/** The schema of each oneOf/anyOf alternative, with the parent's other keywords folded in (made once per schema, so compiled once). */
function branches(s: SchemaObject): SchemaObject[] | null {
  let out = branchCache.get(s);
  if (out !== undefined) return out;
  const list = s.oneOf ?? s.anyOf;
  if (!list) out = null;
  else {
    const { oneOf: _o, anyOf: _a, ...rest } = s;
    out = list.map((b) => (typeof b === 'boolean' ? rest : { ...rest, ...b }));
  }
  branchCache.set(s, out);
  return out;
}

function typesOf(s: SchemaObject): string[] {
  if (s.type) return Array.isArray(s.type) ? s.type : [s.type];
  if (s.properties || s.required || s.additionalProperties !== undefined) return ['object'];
  if (s.items || s.minItems !== undefined) return ['array'];
  if (s.pattern || s.minLength !== undefined || s.maxLength !== undefined || s.format) return ['string'];
  if (s.minimum !== undefined || s.maximum !== undefined) return ['number'];
  return ['string', 'integer', 'boolean', 'null', 'object', 'array'];
}

export class ValidGen {
  constructor(
    private readonly rng: Rng,
    private readonly known: Known,
  ) {}

  /** A valid instance of `schema` (best effort: re-validated, retried, and the last try returned). */
  generate(schema: Schema, path: Path = []): unknown {
    let last: unknown;
    for (let i = 0; i < 25; i++) {
      last = this.gen(schema, path, 0);
      if (isValid(schema, last)) return last;
    }
    return last;
  }

  private gen(schema: Schema, path: Path, depth: number): unknown {
    if (schema === true) return this.anyValue(depth);
    if (schema === false) return undefined;
    const s = schema;
    const known = this.known(path, s)?.filter((v) => isValid(s, v));
    if (known?.length && this.rng.chance(0.8)) return known[this.rng.int(known.length)];
    if ('const' in s) return s.const;
    if (s.enum) return this.rng.pick(s.enum);
    const alts = branches(s);
    if (alts) return this.gen(this.rng.pick(alts), path, depth);
    switch (this.rng.pick(typesOf(s))) {
      case 'object':
        return this.object(s, path, depth);
      case 'array':
        return this.array(s, path, depth);
      case 'string':
        return this.string(s);
      case 'integer':
        return this.number(s, true);
      case 'number':
        return this.number(s, false);
      case 'boolean':
        return this.rng.chance(0.5);
      default:
        return null;
    }
  }

  private object(s: SchemaObject, path: Path, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const props = s.properties ?? {};
    const required = new Set(s.required ?? []);
    for (const [key, sub] of Object.entries(props)) {
      if (required.has(key) || this.rng.chance(0.5)) {
        const v = this.gen(sub, [...path, key], depth + 1);
        if (v !== undefined) out[key] = v;
      }
    }
    for (const key of required) if (!(key in out) && !props[key]) out[key] = this.anyValue(depth + 1);
    const extra = s.additionalProperties;
    if (extra !== undefined && extra !== false && Object.keys(props).length === 0 && this.rng.chance(0.5)) {
      for (let i = this.rng.int(3); i > 0; i--) {
        const name = s.propertyNames ? String(this.gen(s.propertyNames, path, depth + 1)) : `k${this.rng.int(100)}`;
        out[name] = this.gen(extra, [...path, name], depth + 1);
      }
    }
    return out;
  }

  private array(s: SchemaObject, path: Path, depth: number): unknown[] {
    const min = s.minItems ?? 0;
    const max = Math.min(s.maxItems ?? min + 4, min + 4);
    const n = this.rng.length(min, max);
    const items = s.items ?? true;
    return Array.from({ length: n }, (_, i) => this.gen(items, [...path, i], depth + 1));
  }

  string(s: SchemaObject): string {
    const min = s.minLength ?? 0;
    const max = s.maxLength ?? Infinity;
    let last = '';
    for (let i = 0; i < 20; i++) {
      if (s.format) last = formatValue(s.format, this.rng);
      else if (s.pattern) last = regexGen(s.pattern).generate(this.rng, { maxRepeat: Math.min(24, Number.isFinite(max) ? max : 24), exotic: 0.15 });
      else last = randomText(this.rng, this.rng.length(min, Math.min(max, min + 24)));
      const len = [...last].length;
      if (len < min) last += 'a'.repeat(min - len);
      if (len <= max && isValid(s, last)) return last;
    }
    return last;
  }

  private number(s: SchemaObject, integer: boolean): number {
    let lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (integer ? 1 : 1e-6) : -1000);
    let hi = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - (integer ? 1 : 1e-6) : lo + 1000);
    if (integer) {
      lo = Math.ceil(lo);
      hi = Math.floor(hi);
    }
    const r = this.rng.float();
    if (r < 0.15) return lo;
    if (r < 0.25) return hi;
    if (integer) {
      // Mostly small values: huge sizes are for the mutations.
      if (r < 0.8) return Math.min(hi, lo + this.rng.int(16));
      return lo + Math.floor(this.rng.float() * (hi - lo + 1));
    }
    return lo + this.rng.float() * (hi - lo);
  }

  private anyValue(depth: number): unknown {
    const kinds = depth > 2 ? ['string', 'number', 'bool', 'null'] : ['string', 'number', 'bool', 'null', 'object', 'array'];
    switch (this.rng.pick(kinds)) {
      case 'string':
        return randomText(this.rng, this.rng.int(12));
      case 'number':
        return this.rng.int(1000);
      case 'bool':
        return this.rng.chance(0.5);
      case 'object':
        return { [`k${this.rng.int(10)}`]: this.anyValue(depth + 1) };
      case 'array':
        return [this.anyValue(depth + 1)];
      default:
        return null;
    }
  }
}

const TEXT = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.';

export function randomText(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += TEXT[rng.int(TEXT.length)];
  return s;
}

function formatValue(format: string, rng: Rng): string {
  switch (format) {
    case 'date-time':
      return new Date(1_600_000_000_000 + rng.int(1e9) * 1000).toISOString();
    case 'date':
      return '2024-02-29';
    case 'time':
      return '12:34:56Z';
    case 'email':
      return 'fuzz@example.invalid';
    case 'hostname':
      return 'localhost';
    case 'ipv4':
      return '127.0.0.1';
    case 'ipv6':
      return '::1';
    case 'uuid':
      return '123e4567-e89b-42d3-a456-426614174000';
    case 'uri':
    case 'uri-reference':
    case 'iri':
    case 'url':
      return 'http://127.0.0.1:1/fuzz';
    case 'regex':
      return '^a+$';
    default:
      return 'x';
  }
}

export interface SchemaNode { path: Path; schema: SchemaObject; value: unknown }

/** Every node of `value` (root first) with the subschema that applies to it. */
export function nodesOf(value: unknown, schema: Schema, path: Path = [], out: SchemaNode[] = [], depth = 0): SchemaNode[] {
  const s: SchemaObject = typeof schema === 'boolean' ? {} : schema;
  const alts = branches(s);
  if (alts) {
    const match = alts.find((b) => isValid(b, value)) ?? alts[0];
    return nodesOf(value, match, path, out, depth);
  }
  out.push({ path, schema: s, value });
  if (depth > 20) return out;
  if (Array.isArray(value)) {
    value.forEach((v, i) => nodesOf(v, s.items ?? {}, [...path, i], out, depth + 1));
  } else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    // Plain objects only: Raw text and Dup key lists are leaves.
    for (const key of Object.keys(value)) {
      const sub = s.properties?.[key] ?? (typeof s.additionalProperties === 'object' ? s.additionalProperties : {});
      nodesOf((value as Record<string, unknown>)[key], sub, [...path, key], out, depth + 1);
    }
  }
  return out;
}
