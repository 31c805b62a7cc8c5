import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTION_KEYS } from '../../src/core/api.gen.js';
import { ajv, readSchemaFile } from '../../src/core/schemas.js';

// The daemon compiles result schemas only with validate_results on: every one must still compile.
test('every action schema, args and result, compiles', () => {
  assert.ok(ACTION_KEYS.length > 40, `${ACTION_KEYS.length} actions`);
  for (const key of ACTION_KEYS) {
    const file = readSchemaFile(`${key}.json`) as { args: object; result: object };
    for (const part of ['args', 'result'] as const) assert.doesNotThrow(() => ajv.compile(file[part]), `${key} ${part}`);
  }
});
