/** offset/limit as a list action takes them (schemas/defs.json). */
export interface PageArgs { offset?: number; limit?: number }

/**
 * One page of `items`, and what the reply adds for it: `total` only when the request asked for a
 * page, so that a client that never pages gets the reply it always got.
 */
export function page<T>(items: readonly T[], { offset, limit }: PageArgs): { items: readonly T[]; extra: { total?: number } } {
  if (offset === undefined && limit === undefined) return { items, extra: {} };
  const from = offset ?? 0;
  return { items: items.slice(from, limit === undefined ? undefined : from + limit), extra: { total: items.length } };
}
