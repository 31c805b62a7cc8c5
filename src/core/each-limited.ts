/**
 * Work per item (file reads, liveness checks of 10,000 VMs at start-up) with a few in flight: one
 * at a time, it waits on the thread pool for seconds; all at once, it opens as many files.
 */
export async function eachLimited<T>(items: readonly T[], fn: (item: T) => Promise<void>, limit = 32): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
