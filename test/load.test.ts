import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './helpers/daemon.js';

// The load test, bounded for CI (`npm run load` runs it for 60 s): 200 clients mixing reads,
// subscriptions and failed logins; it exits non-zero on any unexpected error or failed check.
test('200 concurrent clients: no unexpected errors, blacklisted addresses get 403, RSS flat after warm-up', async () => {
  const proc = spawn(process.execPath, [path.join(ROOT, 'dist/test/load/load.js')], {
    env: { ...process.env, LOAD_SECONDS: process.env.LOAD_SECONDS ?? '20' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
  const summary = JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
  assert.equal(code, 0, `${out.slice(-3000)}\n${err.slice(-2000)}`);
  assert.equal(summary.ok, true);
  assert.deepEqual(summary.errors.unexpected, {});
  assert.deepEqual(summary.failed_checks, []);
  assert.ok(summary.requests > 10_000);
});
