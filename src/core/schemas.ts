import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** schemas/ at the package root; this file runs from dist/src/server/. */
export const SCHEMA_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../schemas');

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv2020) => Ajv2020;

export const ajv = addFormats(new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }));

/** Shared definitions, referenced from other schemas as "defs.json#/$defs/<name>". */
export const DEFS = readSchemaFile('defs.json') as { $defs: Record<string, unknown> };
ajv.addSchema(DEFS);

export function readSchemaFile(rel: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(SCHEMA_DIR, rel), 'utf8'));
}

export function compileSchemaFile(rel: string): ValidateFunction {
  return ajv.compile(readSchemaFile(rel));
}

/**
 * The schema with every reference to the shared definitions replaced by the definition itself,
 * so that what rpc/schema publishes stands alone for clients that never saw defs.json.
 */
export function inlineRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inlineRefs);
  if (typeof schema !== 'object' || schema === null) return schema;
  const { $ref, ...rest } = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (typeof $ref === 'string') {
    const m = /^(?:defs\.json)?#\/\$defs\/(\w+)$/.exec($ref);
    if (!m || !Object.hasOwn(DEFS.$defs, m[1])) throw new Error(`cannot inline $ref ${$ref}`);
    Object.assign(out, inlineRefs(DEFS.$defs[m[1]]));
  }
  for (const [k, v] of Object.entries(rest)) out[k] = inlineRefs(v);
  return out;
}

export interface ErrorDetail { path: string; message: string; keyword: string }

/** ajv errors as details that name the offending field (JSON Pointer), not its parent. */
export function formatAjvErrors(errors: ErrorObject[] | null | undefined, prefix = ''): ErrorDetail[] {
  return (errors ?? []).map((e) => {
    let at = prefix + e.instancePath;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      at += '/' + escapePointer(key);
      message = 'is not a known field';
    } else if (e.keyword === 'required') {
      at += '/' + escapePointer((e.params as { missingProperty: string }).missingProperty);
      message = 'is required';
    } else if (e.keyword === 'enum') {
      message += ': ' + (e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ');
    }
    return { path: at, message, keyword: e.keyword };
  });
}

export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
