import type { Element } from '@xmldom/xmldom';
import { lazyRequire } from '../../core/lazy.js';

const xmldom = lazyRequire<typeof import('@xmldom/xmldom')>('@xmldom/xmldom');
import { badRequest } from '../../core/errors.js';

/** What an untrusted descriptor may be: vendors' OVFs are tens of KiB; these bounds are far above that. */
export const XML_LIMITS = { maxBytes: 4 * 1024 * 1024, maxDepth: 64, maxElements: 100_000 };

export const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

/** A 400 about the descriptor; `where` names the element or attribute at fault. */
export function ovfError(where: string, message: string) {
  return badRequest(`OVF descriptor: ${where}: ${message}`, [{ path: `/ovf/${where}`, message }]);
}

/**
 * Parses a descriptor, refusing what could make the parser reach outside the text or grow without
 * bound: any DOCTYPE (so no entity declarations, internal or external), more than `maxBytes`,
 * nesting deeper than `maxDepth`, more than `maxElements` elements.
 */
export function parseXml(text: string): Element {
  if (Buffer.byteLength(text) > XML_LIMITS.maxBytes) throw ovfError('Envelope', `the descriptor is larger than ${XML_LIMITS.maxBytes} bytes`);
  if (/<!DOCTYPE/i.test(text) || /<!ENTITY/i.test(text)) {
    throw ovfError('DOCTYPE', 'document type declarations (and so entities, internal or external) are not allowed in an OVF descriptor');
  }
  let doc;
  try {
    doc = new (xmldom().DOMParser)({
      onError(level, message) {
        if (level !== 'warning') throw new Error(message);
      },
    }).parseFromString(text, 'text/xml');
  } catch (err) {
    throw ovfError('Envelope', `not well-formed XML: ${(err as Error).message.split('\n')[0].slice(0, 200)}`);
  }
  const root = doc.documentElement;
  if (!root) throw ovfError('Envelope', 'the descriptor has no root element');
  checkShape(root);
  return root;
}

function checkShape(root: Element): void {
  let count = 0;
  const stack: [Element, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [el, depth] = stack.pop()!;
    if (depth > XML_LIMITS.maxDepth) throw ovfError(el.localName ?? 'element', `nested deeper than ${XML_LIMITS.maxDepth} levels`);
    if (++count > XML_LIMITS.maxElements) throw ovfError('Envelope', `more than ${XML_LIMITS.maxElements} elements`);
    for (const child of children(el)) stack.push([child, depth + 1]);
  }
}

export function children(el: Element, localName?: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (localName === undefined || (n as Element).localName === localName)) out.push(n as Element);
  }
  return out;
}

export function child(el: Element, localName: string): Element | undefined {
  return children(el, localName)[0];
}

/** Text of the first child element named `localName`, trimmed; undefined when absent. */
export function childText(el: Element, localName: string): string | undefined {
  const c = child(el, localName);
  return c ? (c.textContent ?? '').trim() : undefined;
}

/**
 * An OVF attribute by local name: `ovf:name` in the envelope's namespace, or unqualified as some
 * exporters write it. Other namespaces' attributes of the same name (vmw:, vbox:) are not it.
 */
export function attr(el: Element, name: string, ovfNs: string): string | undefined {
  const attrs = el.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs.item(i)!;
    if (a.localName === name && (a.namespaceURI === ovfNs || a.namespaceURI === null)) return a.value;
  }
  return undefined;
}

/** An attribute in a given namespace by local name (vmw:key, xsi:type). */
export function attrNS(el: Element, ns: string, name: string): string | undefined {
  const v = el.getAttributeNS(ns, name);
  return v === null || v === '' ? undefined : v;
}
