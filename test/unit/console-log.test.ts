import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Ring } from '../../src/hypervisor/console/ring.js';
import { SegmentLog } from '../../src/hypervisor/console/segments.js';
import { tempDir } from '../helpers/daemon.js';

test('ring: keeps the last bytes by offset, across wrap-around and oversized pushes', () => {
  const r = new Ring(10);
  const all: number[] = [];
  let n = 0;
  for (const len of [3, 4, 5, 1, 12, 2, 9]) {
    const chunk = Buffer.from(Array.from({ length: len }, () => n++ % 256));
    all.push(...chunk);
    r.push(chunk);
    assert.equal(r.end, all.length);
    assert.equal(r.start, Math.max(0, all.length - 10));
    for (let from = r.start; from <= r.end; from++) assert.deepEqual([...r.slice(from)!], all.slice(from), `from ${from}`);
    assert.equal(r.slice(r.start - 1), all.length > 10 ? null : r.slice(r.start - 1));
  }
  assert.deepEqual([...r.slice(r.start, 3)!], all.slice(r.start, r.start + 3));
  r.reset(1000);
  assert.equal(r.start, 1000);
  assert.deepEqual([...r.slice(1000)!], []);
  assert.equal(r.slice(999), null);
});

test('segments: offsets are continuous across rotation, pruning and reopening; a legacy console.log becomes segment 0', async () => {
  const vmDir = await tempDir('hyved-seg-');
  await writeFile(path.join(vmDir, 'console.log'), 'legacy-');
  let log = await SegmentLog.forVm(vmDir, 2);
  assert.equal(log.current.seq, 0);
  assert.deepEqual(await readdir(vmDir), ['console']);
  let written = 'legacy-';
  const write = async (s: string) => {
    await appendFile(log.current.path, s);
    written += s;
  };
  await write('aaaa');
  await log.next();
  await write('bbbbbb');
  await log.next(); // segment 0 pruned: 11 bytes
  await write('cc');
  assert.equal(log.start, 11);
  assert.equal(await log.end(), written.length);
  assert.equal((await log.read(0, 100)).offset, 11, 'a read of pruned bytes starts at the oldest kept');
  assert.equal((await log.read(0, 100)).data.toString(), written.slice(11));
  assert.equal((await log.read(13, 3)).data.toString(), written.slice(13, 16));
  // Reopened (a daemon restart): the same numbering.
  log = await SegmentLog.forVm(vmDir, 2);
  assert.equal(await log.end(), written.length);
  assert.equal((await log.read(15, 100)).data.toString(), written.slice(15));
  assert.deepEqual(JSON.parse(await readFile(path.join(vmDir, 'console', 'index.json'), 'utf8')), { first_seq: 1, first_base: 11 });
});

test('segments: a new VM\'s first segment counts before the hypervisor creates it, so the first rotation keeps and later prunes it', async () => {
  const vmDir = await tempDir('hyved-seg-');
  const log = await SegmentLog.forVm(vmDir, 2);
  assert.equal(log.current.seq, 0);
  await appendFile(log.current.path, 'first!');
  await log.next();
  await appendFile(log.current.path, 'second');
  assert.equal(await log.end(), 12);
  assert.equal((await log.read(0, 100)).data.toString(), 'first!second');
  await log.next();
  assert.deepEqual((await readdir(path.join(vmDir, 'console'))).filter((f) => f.endsWith('.log')).sort(), ['serial-1.log']);
  assert.equal(log.start, 6);
});
