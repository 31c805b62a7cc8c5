import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import { lazyRequire } from '../../core/lazy.js';

const tarStream = lazyRequire<typeof tar>('tar-stream');

/** SHA256 of a file, streamed. */
export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash, { signal });
  return hash.digest('hex');
}

/** Writes an OVA: the members in order (descriptor first, then manifest, then discs), each streamed from its file. */
export async function writeOvaFile(out: string, members: { name: string; file: string }[], signal?: AbortSignal): Promise<void> {
  const pack = tarStream().pack();
  const done = pipeline(pack, createWriteStream(out, { flags: 'wx', mode: 0o644 }), { signal });
  try {
    for (const m of members) {
      const entry = pack.entry({ name: m.name, size: (await stat(m.file)).size, mode: 0o644, mtime: new Date() });
      await pipeline(createReadStream(m.file), entry, { signal });
    }
  } catch (err) {
    // The writing pipeline fails with it (or would wait for ever): it is settled here, not left unhandled.
    pack.destroy(err as Error);
    await done.catch(() => {});
    // A cancel destroys the pack under the loop, which then fails for that reason: say the cancel.
    throw signal?.aborted ? signal.reason : err;
  }
  pack.finalize();
  await done;
}
