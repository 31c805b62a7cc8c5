import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, writeFile, access } from 'node:fs/promises';
import path from 'node:path';
import { EventHub } from '../../src/core/events.js';
import { createLogger } from '../../src/core/logger.js';
import { TaskQueue, type TaskSpec } from '../../src/queue/queue.js';
import { tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import { setTimeout as sleep } from 'node:timers/promises';

const log = createLogger('error', null);

interface Ev { process_id: string; state: string; result?: string; error?: string; percent_done: string; progress: { percent: number | null }; seq: number }

/** The text of a WebSocket frame as EventHub builds them (unmasked). */
function payloadOf(frame: Buffer): string {
  const len = frame[1] & 0x7f;
  return frame.subarray(len < 126 ? 2 : len === 126 ? 4 : 10).toString();
}

async function setup(opts = { concurrency: 2, history: 50 }) {
  const dir = await tempDir();
  const hub = new EventHub(10_000, 1 << 30);
  hub.defineType('dispatcher', { permission: 'task.view' });
  const events: Ev[] = [];
  hub.subscribe(
    { grants: { admin: true, perms: {} }, bufferedAmount: () => 0, isOpen: () => true, sendFrame: (f) => events.push(JSON.parse(payloadOf(f)).args), drop() {}, whenDrained() {} },
    ['dispatcher'],
  ).activate();
  const q = new TaskQueue(path.join(dir, 'tasks'), hub, log, opts);
  await q.init();
  return { q, events, dir };
}

function spec(run: TaskSpec['run'], key: string | null = null): TaskSpec {
  return { owner: 'admin', gid: 'default', queue: 'test/q', action: 'work', eventSystem: 'test/q', command: 'work', key, run };
}

function finished(events: Ev[], id: string): Promise<Ev> {
  return waitFor(() => events.find((x) => x.process_id === id && x.state === 'finished'), `task ${id} to finish`, 20_000, 5);
}

test('no more tasks run at once than the concurrency limit', async () => {
  const { q, events } = await setup({ concurrency: 2, history: 50 });
  let running = 0;
  let peak = 0;
  const ids = Array.from({ length: 6 }, () =>
    q.submit(spec(async () => {
      peak = Math.max(peak, ++running);
      await sleep(30);
      running--;
    })).id,
  );
  for (const id of ids) assert.equal((await finished(events, id)).result, 'success');
  assert.equal(peak, 2);
});

test('tasks with the same key run one at a time, in submission order; other keys run alongside', async () => {
  const { q, events } = await setup({ concurrency: 4, history: 50 });
  const order: string[] = [];
  let sameKeyRunning = 0;
  let overlap = false;
  const mk = (label: string, key: string) =>
    q.submit(spec(async () => {
      if (key === 'vm1' && ++sameKeyRunning > 1) overlap = true;
      order.push(`start ${label}`);
      await sleep(20);
      order.push(`end ${label}`);
      if (key === 'vm1') sameKeyRunning--;
    }, key)).id;
  const ids = [mk('a', 'vm1'), mk('b', 'vm1'), mk('x', 'vm2'), mk('c', 'vm1')];
  for (const id of ids) await finished(events, id);
  assert.equal(overlap, false);
  const vm1 = order.filter((o) => /[abc]$/.test(o));
  assert.deepEqual(vm1, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  assert.ok(order.indexOf('start x') < order.indexOf('end a'), 'vm2 did not wait for vm1');
});

test('kill: a pending task never runs; a running one is aborted and its cleanup files removed', async () => {
  const { q, events, dir } = await setup({ concurrency: 1, history: 50 });
  const partial = path.join(dir, 'partial.bin');
  const running = q.submit(spec(async (ctx) => {
    await ctx.addCleanup(partial);
    await writeFile(partial, 'half');
    await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))));
  }));
  let ran = false;
  const pending = q.submit(spec(async () => {
    ran = true;
  }));
  while (q.get(running.id)?.state !== 'running') await sleep(5);
  await sleep(20);
  assert.equal(q.position(pending.id), 1);
  assert.equal(q.kill(pending.id), true);
  assert.equal(q.kill(running.id), true);
  assert.equal((await finished(events, running.id)).result, 'canceled');
  assert.equal((await finished(events, pending.id)).result, 'canceled');
  await sleep(20);
  assert.equal(ran, false);
  await assert.rejects(access(partial));
  assert.equal(q.kill(running.id), false, 'finished tasks cannot be killed');
});

test('a failing task reads failed with its error; its return value is kept on success', async () => {
  const { q, events } = await setup();
  const bad = q.submit(spec(async () => {
    throw new Error('disk on fire');
  }));
  const good = q.submit(spec(async () => ({ answer: 42 })));
  const e = await finished(events, bad.id);
  assert.equal(e.result, 'failed');
  assert.equal(e.error, 'disk on fire');
  await finished(events, good.id);
  assert.deepEqual(q.get(good.id)?.return, { answer: 42 });
});

test('progress events are throttled to a few per second, and the final one always goes out', async () => {
  const { q, events } = await setup();
  const t = q.submit(spec(async (ctx) => {
    for (let i = 0; i <= 1000; i++) {
      ctx.progress({ percent: i / 10 });
      if (i % 100 === 0) await sleep(50);
    }
  }));
  await finished(events, t.id);
  const mine = events.filter((e) => e.process_id === t.id);
  const progress = mine.filter((e) => e.state === 'running');
  assert.ok(progress.length <= 6, `${progress.length} running events for ~0.5 s of progress`);
  assert.equal(mine.at(-1)!.state, 'finished');
  assert.equal(mine.at(-1)!.progress.percent, 100);
  assert.equal(mine.at(-1)!.percent_done, '100%');
  const seqs = mine.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
});

test('history on disk is bounded; records of a crashed run read interrupted and their files go', async () => {
  const { q, events, dir } = await setup({ concurrency: 2, history: 3 });
  const ids = Array.from({ length: 6 }, () => q.submit(spec(async () => {})).id);
  for (const id of ids) await finished(events, id);
  await sleep(50);
  assert.equal((await readdir(path.join(dir, 'tasks'))).filter((f) => f.endsWith('.json')).length, 3);

  const leftover = path.join(dir, 'leftover.part');
  await writeFile(leftover, 'x');
  await writeFile(
    path.join(dir, 'tasks', 'test_q_work::crashed1.json'),
    JSON.stringify({
      id: 'test_q_work::crashed1', owner: 'admin', queue: 'test/q', action: 'work', event_system: 'test/q', command: 'work',
      key: null, state: 'running', progress: { percent: 40, rate: null, description: 'running' }, log: [],
      time_queued: new Date().toISOString(), time_started: new Date().toISOString(), cleanup: [leftover],
    }),
  );
  await writeFile(path.join(dir, 'tasks', 'garbage.json'), '{ torn');
  const q2 = new TaskQueue(path.join(dir, 'tasks'), new EventHub(10, 1 << 20), log, { concurrency: 1, history: 10 });
  await q2.init();
  const rec = q2.get('test_q_work::crashed1');
  assert.equal(rec?.result, 'interrupted');
  assert.equal(rec?.state, 'finished');
  await assert.rejects(access(leftover));
});
