import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Locks } from '../../src/core/locks.js';
import { RpcError } from '../../src/core/errors.js';

test('run: holders of one key take turns in order, other keys run alongside, a failure frees the key', async () => {
  const locks = new Locks();
  const log: string[] = [];
  const step = (name: string, ms: number) => async () => {
    log.push(`${name}+`);
    await sleep(ms);
    log.push(`${name}-`);
    if (name === 'a2') throw new Error('a2 failed');
    return name;
  };
  const results = await Promise.allSettled([locks.run('a', 'a1', step('a1', 20)), locks.run('a', 'a2', step('a2', 5)), locks.run('b', 'b1', step('b1', 5)), locks.run('a', 'a3', step('a3', 1))]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.deepEqual(log.filter((l) => l.startsWith('a')), ['a1+', 'a1-', 'a2+', 'a2-', 'a3+', 'a3-']);
  assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), 'b ran while a1 held a');
  assert.equal(locks.holder('a'), null, 'released once done');
});

test('claim: refuses at once with 409 naming the holder, and works again once released', async () => {
  const locks = new Locks();
  let release!: () => void;
  const held = locks.claim('vm1', 'RUNNING -> STOPPED', "VM 'web' is busy", () => new Promise<void>((r) => (release = r)));
  assert.equal(locks.holder('vm1'), 'RUNNING -> STOPPED');
  await assert.rejects(locks.claim('vm1', 'updating', "VM 'web' is busy", async () => {}), (e: RpcError) => e.code === 409 && /VM 'web' is busy: RUNNING -> STOPPED/.test(e.message));
  assert.equal(await locks.claim('vm2', 'updating', 'busy', async () => 'other key'), 'other key');
  release();
  await held;
  await sleep(0);
  assert.equal(locks.holder('vm1'), null);
  assert.equal(await locks.claim('vm1', 'updating', 'busy', async () => 'free'), 'free');
});
