import type { TaskContext } from '../core/task.js';
import type { Config } from '../core/config.js';
import { RpcError } from '../core/errors.js';
import { fetchTo } from './fetch/index.js';
import { FileSink } from './file-sink.js';
import { Destinations } from './fetch/destinations.js';
import type { IsoStore } from './iso-store.js';

/**
 * Rate over a sliding window of about 3 s, so a stall shows as a falling rate rather than a
 * frozen one. Progress arrives per network chunk (thousands a second): it keeps one sample per
 * 250 ms, never a sample per chunk.
 */
class RateMeter {
  private samples: { t: number; bytes: number }[] = [];
  private rate: number | null = null;
  update(bytes: number): number | null {
    const t = Date.now();
    const last = this.samples.at(-1);
    if (last && t - last.t < 250) return this.rate;
    this.samples.push({ t, bytes });
    if (this.samples.length > 13) this.samples.shift();
    const first = this.samples[0];
    const dt = (t - first.t) / 1000;
    this.rate = dt > 0 ? Math.round((bytes - first.bytes) / dt) : null;
    return this.rate;
  }
}

/**
 * Streams `url` into the new file `temp` (never an existing one), reporting progress as
 * "downloading LABEL": the transfer every store's fetch-by-URL task shares. The caller owns
 * `temp` (its cleanup and its move into place). More than `maxBytes` (announced or received)
 * stops it with a 413.
 */
export async function downloadTo(ctx: TaskContext, config: Config, url: URL, temp: string, label: string, maxBytes = Infinity): Promise<number> {
  const tooLarge = new AbortController();
  // Two writes in flight, 1 MiB buffered besides: the socket is read while the disk writes. A
  // larger buffer cost more CPU per GiB, not less (chunks live long enough to be promoted): bench/RESULTS.md.
  const out = new FileSink(temp, { flags: 'wx', mode: 0o644, highWaterMark: 1024 * 1024, inFlight: 2 });
  const meter = new RateMeter();
  const description = `downloading ${label}`;
  ctx.progress({ description, percent: 0, bytes: 0 });
  const { bytes } = await fetchTo(url, out, {
    signal: AbortSignal.any([ctx.signal, tooLarge.signal]),
    stallTimeoutMs: config.iso.stall_timeout_s * 1000,
    maxRedirects: config.iso.max_redirects,
    importDirs: config.iso.import_dirs,
    destinations: new Destinations(config.iso.allow_private),
    onProgress(received, total) {
      if (received > maxBytes || (total ?? 0) > maxBytes) tooLarge.abort();
      ctx.progress({
        percent: total ? Math.min(100, Math.floor((received / total) * 1000) / 10) : null,
        rate: meter.update(received),
        bytes: received,
        total,
        description,
      });
    },
  }).catch((err: unknown) => {
    if (tooLarge.signal.aborted && !ctx.signal.aborted) throw new RpcError(413, `${label}: larger than ${maxBytes} bytes`);
    throw err;
  });
  ctx.signal.throwIfAborted();
  return bytes;
}

/**
 * The body of a fetchiso task: stream the URL into a hidden temp file in the store, then move it
 * into place only once complete (and its size matches what the server announced).
 */
export async function downloadIso(
  ctx: TaskContext,
  store: IsoStore,
  config: Config,
  url: URL,
  name: string,
  overwrite: boolean,
): Promise<{ name: string; bytes: number }> {
  const temp = store.tempPathFor(name, ctx.id);
  await ctx.addCleanup(temp);
  const bytes = await downloadTo(ctx, config, url, temp, name);
  await store.commit(temp, name, overwrite);
  await ctx.dropCleanup(temp);
  ctx.log(`fetched ${bytes} bytes into ${name}`);
  return { name, bytes };
}
