import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RpcError } from '../../src/core/errors.js';
import { ImageStore } from '../../src/provision/image-store.js';
import { tempDir } from '../helpers/daemon.js';

test('image paths: <folder>/<file>.ova|.ovf only, the field named otherwise', () => {
  assert.deepEqual(ImageStore.parse('images/x.ova'), { folder: 'images', file: 'x.ova', path: 'images/x.ova', format: 'ova' });
  assert.equal(ImageStore.parse('5012689b/1608T-stoic_carson.ovf').format, 'ovf');
  for (const bad of ['x.ova', 'a/b/c.ova', '../x.ova', 'images/..x.ova', 'images/.x.ova', 'images/x.iso', '/images/x.ova', 'images/x.ova/', 'im ages/x.ova', 7]) {
    assert.throws(() => ImageStore.parse(bad, 'source'), (e: RpcError) => e.code === 400 && /^source: /.test(e.message), String(bad));
  }
});

test('groups: the shared folder and unknown folders are global, a group folder its own, an export folder its mark', async () => {
  const store = new ImageStore(await tempDir('hyved-images-'));
  await store.init();
  const groups = { default: {}, web: {} };
  assert.equal(await store.groupOf(ImageStore.parse('images/x.ova'), groups), '*');
  assert.equal(await store.groupOf(ImageStore.parse('web/x.ova'), groups), 'web');
  assert.equal(await store.groupOf(ImageStore.parse('abc123/x.ova'), groups), '*');
  await store.markGroup('abc123', 'web');
  assert.equal(await store.groupOf(ImageStore.parse('abc123/x.ova'), groups), 'web');
  await store.markGroup('abc124', 'gone');
  assert.equal(await store.groupOf(ImageStore.parse('abc124/x.ova'), groups), '*');
});

test('start-up removes uploads a stop cut off, and nothing else', async () => {
  const dir = await tempDir('hyved-images-');
  await mkdir(path.join(dir, 'images'), { recursive: true });
  await writeFile(path.join(dir, 'images', '.x.ova.part-upload-abc'), 'x');
  await writeFile(path.join(dir, 'images', 'y.ova'), 'y');
  const removed = await new ImageStore(dir).init();
  assert.deepEqual(removed, [path.join('images', '.x.ova.part-upload-abc')]);
  assert.deepEqual(await readdir(path.join(dir, 'images')), ['y.ova']);
});
