import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS package loaded on its first use rather than at start-up: the parsers only image and
 * Deltacloud requests need (XML, tar, multipart) are no work for a daemon that never serves one.
 */
export function lazyRequire<T>(id: string): () => T {
  let mod: T | undefined;
  return () => (mod ??= require(id) as T);
}
