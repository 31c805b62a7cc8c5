/** A small XML writer: Deltacloud's documents are shallow trees of elements, attributes and text. */
export interface XmlNode {
  tag: string;
  attrs: Record<string, string | number | undefined>;
  children: (XmlNode | string)[];
}

export function el(tag: string, attrs: XmlNode['attrs'] = {}, ...children: (XmlNode | string | null | undefined | false)[]): XmlNode {
  return { tag, attrs, children: children.filter((c): c is XmlNode | string => c !== null && c !== undefined && c !== false) };
}

// XML 1.0 has no way to write most control characters, escaped or not: guest output may hold them.
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function escapeText(s: string): string {
  return s.replace(NOT_XML, '\ufffd').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/'/g, '&apos;').replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

function write(node: XmlNode, indent: string, out: string[]): void {
  const attrs = Object.entries(node.attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}='${escapeAttr(String(v))}'`)
    .join('');
  if (node.children.length === 0) {
    out.push(`${indent}<${node.tag}${attrs}></${node.tag}>`);
  } else if (node.children.every((c) => typeof c === 'string')) {
    out.push(`${indent}<${node.tag}${attrs}>${node.children.map((c) => escapeText(c as string)).join('')}</${node.tag}>`);
  } else {
    out.push(`${indent}<${node.tag}${attrs}>`);
    for (const c of node.children) {
      if (typeof c === 'string') out.push(indent + '  ' + escapeText(c));
      else write(c, indent + '  ', out);
    }
    out.push(`${indent}</${node.tag}>`);
  }
}

/** The document as Deltacloud's haml views write it: a declaration, then the tree, indented. */
export function toXml(root: XmlNode): string {
  const out = ["<?xml version='1.0' encoding='utf-8' ?>"];
  write(root, '', out);
  return out.join('\n') + '\n';
}
