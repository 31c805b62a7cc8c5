/**
 * The block writer's thread (block-writer.ts): writes each block it is told of from the shared
 * memory into the file descriptor, in PIECE-sized write(2)s, one block after another, and says
 * when each is written.
 */
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { WriterReply, WriterRequest } from './block-writer.js';

/**
 * Small writes: on the VMs this runs on, a large write(2) gets large page-cache folios, which the
 * host backs again at first touch; 1 GiB took 0.2–3.5 s in 1 MiB writes and 0.5 s every time in
 * 16 KiB ones (bench/RESULTS.md, third pass). A thread of its own makes the extra calls cheap.
 */
const PIECE = 16 * 1024;

const port = parentPort!;
const memory = Buffer.from(workerData as SharedArrayBuffer);

port.on('message', (m: WriterRequest) => {
  try {
    for (let done = 0; done < m.length; ) {
      const n = writeSync(m.fd, memory, m.offset + done, Math.min(PIECE, m.length - done), m.position + done);
      if (n === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
      done += n;
    }
    port.postMessage({ id: m.id } satisfies WriterReply);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    port.postMessage({ id: m.id, error: { message: e.message, code: e.code } } satisfies WriterReply);
  }
});
