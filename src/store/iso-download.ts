import { createWriteStream } from 'node:fs';
import type { TaskContext } from '../queue/queue.js';
import type { Config } from '../server/config.js';
import { fetchTo } from './fetch/index.js';
import type { IsoStore } from './iso-store.js';

/** Rate over a sliding window, so a stall shows as a falling rate rather than a frozen one. */
class RateMeter {
  private samples: { t: number; bytes: number }[] = [];
  update(bytes: number): number | null {
    const t = Date.now();
    this.samples.push({ t, bytes });
    while (this.samples.length > 2 && t - this.samples[0].t > 3000) this.samples.shift();
    const first = this.samples[0];
    const dt = (t - first.t) / 1000;
    return dt > 0 ? Math.round((bytes - first.bytes) / dt) : null;
  }
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
  const out = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
  const meter = new RateMeter();
  ctx.progress({ description: `downloading ${name}`, percent: 0 });
  const { bytes } = await fetchTo(url, out, {
    signal: ctx.signal,
    stallTimeoutMs: config.iso.stall_timeout_s * 1000,
    maxRedirects: config.iso.max_redirects,
    importDirs: config.iso.import_dirs,
    onProgress(received, total) {
      ctx.progress({
        percent: total ? Math.min(100, Math.floor((received / total) * 1000) / 10) : null,
        rate: meter.update(received),
        description: `downloading ${name}`,
      });
    },
  });
  ctx.signal.throwIfAborted();
  await store.commit(temp, name, overwrite);
  await ctx.dropCleanup(temp);
  ctx.log(`fetched ${bytes} bytes into ${name}`);
  return { name, bytes };
}
