import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './helpers/daemon.js';

// The schema-aware fuzzer against a real daemon, bounded for CI (`npm run fuzz` runs it longer).
test('fuzzing every action and raw frames: every request answered well-formed, the daemon stays up', async () => {
  const seconds = process.env.FUZZ_SECONDS ?? '20';
  const proc = spawn(process.execPath, [path.join(ROOT, 'dist/fuzz/fuzz.js'), '--seconds', seconds], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
  const summary = /fuzz: (\d+) requests, (\d+) actions, (\d+) failures, seed (\d+)/.exec(out);
  assert.ok(summary, out.slice(-2000));
  assert.equal(code, 0, out.slice(-4000));
  assert.equal(summary[3], '0');
  assert.ok(Number(summary[1]) > 1000, 'a meaningful number of requests');
  assert.ok(Number(summary[2]) >= 30, 'every registered action');
});

// The failure CI once hit: three stacked mutations described a frame longer than V8 strings may be.
test('the fuzzer writes an oversized generated value as a clamped prefix instead of failing', async () => {
  const { serialize } = await import('../fuzz/json.js');
  const limit = 2 * 1048576;
  const value = { args: Array.from({ length: 10_000 }, () => 'A'.repeat(1048576)) };
  const text = serialize(value, limit);
  assert.equal(text.length, limit + 1);
  assert.ok(text.startsWith('{"args":["AAAA'));
  assert.equal(serialize({ a: [1, 'x', null, undefined] }), JSON.stringify({ a: [1, 'x', null, null] }));
});
