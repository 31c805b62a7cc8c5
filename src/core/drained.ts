/** What `drained` listens to: a node stream, a streamx one, or an upload's inspector. */
export interface DrainEvents {
  on(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

/** Resolves once `stream` takes more ('drain') or is gone ('close'): a writer waiting on either must not wait forever. */
export function drained(stream: DrainEvents): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      stream.off('drain', go);
      stream.off('close', go);
      resolve();
    };
    stream.on('drain', go);
    stream.on('close', go);
  });
}
