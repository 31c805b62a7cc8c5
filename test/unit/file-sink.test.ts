import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileSink } from '../../src/store/file-sink.js';

/** Resolves on 'close' (events.once would reject on the 'error' that comes first). */
function closing(sink: FileSink): Promise<void> {
  return new Promise((resolve) => sink.once('close', () => resolve()));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyved-sink-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Chunks of uneven sizes (1 byte to 200 KiB) whose bytes tell their offset, so a misplaced write shows. */
function chunks(total: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  let size = 1;
  while (offset < total) {
    const n = Math.min(size, total - offset);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = ((offset + i) * 2654435761) >>> 24;
    out.push(b);
    offset += n;
    size = (size * 7 + 13) % (200 * 1024) || 1;
  }
  return out;
}

test('every byte lands at its offset, whatever the batching and the writes in flight', async () => {
  await withDir(async (dir) => {
    for (const [inFlight, highWaterMark] of [[1, 16 * 1024], [2, 64 * 1024], [3, 1024 * 1024]]) {
      const parts = chunks(8 * 1024 * 1024 + 12345);
      const file = path.join(dir, `out-${inFlight}`);
      const sink = new FileSink(file, { flags: 'wx', mode: 0o600, inFlight, highWaterMark });
      const closed = closing(sink);
      await pipeline(Readable.from(parts), sink);
      await closed;
      assert.ok((await readFile(file)).equals(Buffer.concat(parts)), `inFlight ${inFlight}`);
    }
  });
});

test("an existing file with 'wx': EEXIST as the stream's error, and it closes", async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'taken');
    await writeFile(file, 'keep');
    const sink = new FileSink(file, { flags: 'wx', mode: 0o600 });
    const closed = closing(sink);
    await assert.rejects(pipeline(Readable.from([Buffer.from('x')]), sink), { code: 'EEXIST' });
    await closed;
    assert.equal(await readFile(file, 'utf8'), 'keep');
  });
});

test('a disc that is full: ENOSPC as the error, the file closed', { skip: process.platform !== 'linux' && 'needs /dev/full' }, async () => {
  const sink = new FileSink('/dev/full', { flags: 'w', mode: 0o600 });
  const closed = closing(sink);
  await assert.rejects(pipeline(Readable.from(chunks(4 * 1024 * 1024)), sink), { code: 'ENOSPC' });
  await closed;
});
