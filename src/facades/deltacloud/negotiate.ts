export type Format = 'xml' | 'json';

const MEDIA: Record<Format, string[]> = {
  xml: ['application/xml', 'text/xml'],
  json: ['application/json'],
};

export const CONTENT_TYPE: Record<Format, string> = { xml: 'application/xml', json: 'application/json' };

interface Range { type: string; q: number }

function parseAccept(header: string): Range[] {
  return header
    .split(',')
    .map((part) => {
      const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.map((p) => /^q=([0-9.]+)$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { type, q: q === undefined ? 1 : Math.min(1, Number(q)) };
    })
    .filter((r) => r.type !== '' && Number.isFinite(r.q));
}

/**
 * Deltacloud's negotiation (sinatra/rack_accept.rb): a `format` query parameter decides alone;
 * else the Accept header by q-value; no Accept at all means XML; nothing served matches: null
 * (406). hyved serves no HTML, so a wildcard (`*` / `*`, which Deltacloud answered with its HTML
 * pages) gets XML, the API's default: browsers and curl's `Accept: *` / `*` read the XML.
 */
export function negotiate(format: string | undefined, accept: string | undefined): Format | null {
  if (format !== undefined) return format === 'xml' || format === 'json' ? format : null;
  const ranges = accept === undefined || accept.trim() === '' ? [] : parseAccept(accept);
  if (ranges.length === 0) return 'xml';
  let best: { format: Format; q: number; exact: boolean } | null = null;
  for (const f of ['xml', 'json'] as const) {
    // The most specific range naming the type decides its q (RFC 9110 §12.5.1).
    const exact = ranges.filter((r) => MEDIA[f].includes(r.type));
    const partial = ranges.filter((r) => MEDIA[f].some((m) => r.type === m.split('/')[0] + '/*'));
    const any = f === 'xml' ? ranges.filter((r) => r.type === '*/*') : [];
    const chosen = exact.length ? exact : partial.length ? partial : any;
    if (chosen.length === 0) continue;
    const q = Math.max(...chosen.map((r) => r.q));
    if (q <= 0) continue;
    const isExact = exact.length > 0;
    if (!best || q > best.q || (q === best.q && isExact && !best.exact)) best = { format: f, q, exact: isExact };
  }
  return best?.format ?? null;
}
