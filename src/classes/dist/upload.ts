import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { badRequest, conflict } from '../../core/errors.js';
import { ALL_GROUPS } from '../../core/permissions.js';
import { inspectImage } from '../../provision/image-tools.js';
import { taskKey } from '../../queue/task.js';
import { DESCRIPTOR, DISC_FORMATS, DistStore } from '../../store/dist-store.js';
import { uploadTemp } from '../../store/store-names.js';
import { defineAction } from '../context.js';
import type { Inspection } from '../../core/inspection.js';

/** A descriptor is a few lines of JSON; anything longer is not one. */
const MAX_DESCRIPTOR_BYTES = 64 * 1024;

/** Reads the body (bounded) and parses it as a distribution.json: 400 naming what is wrong. */
function descriptorInspector(): Inspection<void> {
  const parts: Buffer[] = [];
  let size = 0;
  let settle!: { resolve: () => void; reject: (err: Error) => void };
  const result = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  const input = new Writable({
    write(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > MAX_DESCRIPTOR_BYTES) return done(badRequest(`${DESCRIPTOR}: larger than ${MAX_DESCRIPTOR_BYTES} bytes`));
      parts.push(chunk);
      done();
    },
    final(done) {
      try {
        DistStore.parseDescriptor(Buffer.concat(parts));
        settle.resolve();
      } catch (err) {
        settle.reject(err as Error);
      }
      done();
    },
  });
  input.on('error', (err) => settle.reject(err));
  return { input, result };
}

export default defineAction('sysadm/dist/upload', {
  permission: 'image.manage',
  // The distribution store is shared by every group, as the ISO store is.
  scope: { group: ALL_GROUPS },
  write: true,
  async handler({ name, file, overwrite = false }, ctx) {
    const { dists, tasks, config, uploads, log } = ctx.services;
    const format = DISC_FORMATS.find((f) => file === `disk.${f}`);
    if (!format && file.startsWith('disk.')) throw badRequest(`file: '${file}': a distribution's disc is ${DISC_FORMATS.map((f) => `disk.${f}`).join(' or ')}`, [{ path: '/args/file', message: 'disk.qcow2 or disk.raw' }]);
    const busy = tasks.activeWithKey(taskKey.dist(name));
    if (busy) throw conflict(`distribution '${name}' is in use by task ${busy.id}`, 'busy');
    const target = path.join(dists.dirOf(name), file);
    if (!overwrite && (await stat(target).then(() => true, () => false))) throw conflict(`'${name}/${file}' already exists (set overwrite to replace it)`, 'name_taken');
    const temp = uploadTemp(dists.dir, name);
    const slot = uploads.open({
      temp,
      what: `distribution file '${name}/${file}'`,
      inspect: file === DESCRIPTOR ? descriptorInspector : undefined,
      async commit() {
        // A disc must not point qemu-img at other host files (backing or data file), and must be the format its name says.
        if (format) await inspectImage(config.qemu.img_binary, temp, format).catch((err: Error) => Promise.reject(badRequest(`${file}: ${err.message}`)));
        await dists.placeUploaded(temp, name, file, overwrite, format ? DISC_FORMATS.filter((f) => f !== format).map((f) => `disk.${f}`) : []);
        const { size } = await stat(target);
        log.info(`uploaded ${name}/${file} into the distribution store (${size} bytes)`);
        return { name, file, size };
      },
    });
    return { slot, name, file, max_bytes: config.images.max_upload_bytes };
  },
});
