import type { Element } from '@xmldom/xmldom';
import { XSI, attr, attrNS, child, childText, children, ovfError, parseXml } from './xml.js';
import { byteUnits, wholeNumber } from './units.js';

export type OvfVersion = '0.9' | '1.x' | '2.x';

const NAMESPACES: Record<string, OvfVersion> = {
  'http://www.vmware.com/schema/ovf/1/envelope': '0.9',
  'http://schemas.dmtf.org/ovf/envelope/1': '1.x',
  'http://schemas.dmtf.org/ovf/envelope/2': '2.x',
};
const VMW = 'http://www.vmware.com/schema/ovf';

export interface OvfFile { id: string; href: string; size: number | null; compression: string | null }
export interface OvfDisk { id: string; file: string | null; capacity_bytes: number; populated_bytes: number | null; format: string | null }
export interface OvfDisc { label: string; disk: string; file: string | null; capacity_bytes: number; controller: string }
export interface OvfNic { label: string; network: string | null; adapter: string | null }
export interface OvfProperty { key: string; type: string; value: string; label: string | null; description: string | null; user_configurable: boolean }
export interface OvfProduct { product: string | null; vendor: string | null; version: string | null }
export interface OvfOption { id: string; label: string; description: string; default: boolean }

export interface OvfSystem {
  id: string;
  name: string;
  os: string | null;
  os_id: number | null;
  cpus: number;
  memory_mib: number;
  firmware: 'EFI' | 'BIOS';
  discs: OvfDisc[];
  nics: OvfNic[];
  cdroms: number;
  controllers: string[];
  product: OvfProduct | null;
  properties: OvfProperty[];
}

/** A type alias, not an interface: results are checked as plain JSON objects. */
export type OvfDescriptor = {
  version: OvfVersion;
  files: OvfFile[];
  disks: OvfDisk[];
  networks: string[];
  deployment_options: OvfOption[];
  /** The deployment option the hardware was read for, null when the descriptor offers none. */
  configuration: string | null;
  /** The VirtualSystemCollection's id when the descriptor holds one. */
  collection: string | null;
  systems: OvfSystem[];
};

/** A plain file name inside the image: no directories, no `..`, no URL, no drive. */
const SAFE_HREF = /^[A-Za-z0-9_][A-Za-z0-9._+ -]{0,199}$/;

const CONTROLLERS: Record<number, string> = { 5: 'ide', 6: 'scsi', 20: 'sata' };

/** The parser's view of one descriptor: its namespace and the chosen deployment option. */
class Reader {
  constructor(
    readonly ns: string,
    readonly version: OvfVersion,
    readonly configuration: string | null,
  ) {}

  attr(el: Element, name: string): string | undefined {
    return attr(el, name, this.ns);
  }

  /** The name a section goes by: its element name (1.x, 2.x) or its xsi:type (0.9's `<Section xsi:type="ovf:DiskSection_Type">`). */
  sectionName(el: Element): string | null {
    if (el.localName === 'Section' || el.localName === 'Content') {
      const type = attrNS(el, XSI, 'type');
      return type ? type.replace(/^.*:/, '').replace(/_Type$/, '') : null;
    }
    return el.localName ?? null;
  }

  sections(el: Element, name: string): Element[] {
    return children(el).filter((c) => this.sectionName(c) === name);
  }

  /** Items of a configuration other than the chosen one, and non-normal bounds, do not apply. */
  applies(el: Element): boolean {
    const configs = this.attr(el, 'configuration');
    if (configs !== undefined && configs.trim() !== '' && !configs.trim().split(/\s+/).includes(this.configuration ?? '')) return false;
    const bound = this.attr(el, 'bound');
    return bound === undefined || bound === 'normal';
  }
}

export interface ParseOptions {
  /** The deployment option to read the hardware for; the descriptor's default when omitted. */
  configuration?: string;
}

/** Reads an OVF descriptor (0.9, 1.x, 2.x) into what deploy and info need; a 400 naming the element or attribute for anything wrong. */
export function parseOvf(text: string, opts: ParseOptions = {}): OvfDescriptor {
  const root = parseXml(text);
  const ns = root.namespaceURI ?? '';
  const version = NAMESPACES[ns];
  if (root.localName !== 'Envelope') throw ovfError(root.localName ?? 'root', 'the root element must be an OVF Envelope');
  if (!version) throw ovfError('Envelope', `namespace '${ns.slice(0, 100)}' is not OVF 0.9, 1.x or 2.x`);
  const probe = new Reader(ns, version, null);
  const options = deploymentOptions(probe, root);
  const configuration = chooseConfiguration(options, opts.configuration);
  const r = new Reader(ns, version, configuration);
  const files = references(r, root);
  const disks = diskSection(r, root, files);
  const networks = r.sections(root, 'NetworkSection').flatMap((s) => children(s, 'Network').map((n) => r.attr(n, 'name') ?? ''));
  const contents = children(root).filter((c) => ['VirtualSystem', 'VirtualSystemCollection'].includes(r.sectionName(c) ?? ''));
  if (contents.length !== 1) throw ovfError('Envelope', `must hold one VirtualSystem or VirtualSystemCollection, found ${contents.length}`);
  const top = contents[0];
  const isCollection = r.sectionName(top) === 'VirtualSystemCollection';
  const systems = isCollection ? collectionSystems(r, top, disks, files) : [system(r, top, disks, files)];
  if (systems.length === 0) throw ovfError('VirtualSystemCollection', 'holds no VirtualSystem');
  const ids = new Set<string>();
  for (const s of systems) {
    if (ids.has(s.id)) throw ovfError(`VirtualSystem[id=${s.id}]`, 'the id is used twice');
    ids.add(s.id);
  }
  return {
    version,
    files,
    disks,
    networks,
    deployment_options: options,
    configuration,
    collection: isCollection ? (r.attr(top, 'id') ?? '') : null,
    systems,
  };
}

function deploymentOptions(r: Reader, root: Element): OvfOption[] {
  return r.sections(root, 'DeploymentOptionSection').flatMap((s) =>
    children(s, 'Configuration').map((c, i) => {
      const id = r.attr(c, 'id');
      if (!id) throw ovfError(`DeploymentOptionSection/Configuration[${i + 1}]/@id`, 'is missing');
      return { id, label: childText(c, 'Label') ?? id, description: childText(c, 'Description') ?? '', default: r.attr(c, 'default') === 'true' };
    }),
  );
}

function chooseConfiguration(options: OvfOption[], wanted: string | undefined): string | null {
  if (wanted !== undefined) {
    if (!options.some((o) => o.id === wanted)) {
      throw ovfError('DeploymentOptionSection', `no deployment option '${wanted}' (offered: ${options.map((o) => o.id).join(', ') || 'none'})`);
    }
    return wanted;
  }
  return (options.find((o) => o.default) ?? options[0])?.id ?? null;
}

function references(r: Reader, root: Element): OvfFile[] {
  const refs = child(root, 'References');
  const files = (refs ? children(refs, 'File') : []).map((f, i) => {
    const id = r.attr(f, 'id');
    const href = r.attr(f, 'href');
    const where = `References/File[${id ?? i + 1}]`;
    if (!id) throw ovfError(`${where}/@id`, 'is missing');
    if (!href) throw ovfError(`${where}/@href`, 'is missing');
    if (!SAFE_HREF.test(href) || href.includes('..')) {
      throw ovfError(`${where}/@href`, `'${href.slice(0, 100)}' is not a plain file name inside the image (no directories, '..', or URLs)`);
    }
    const sizeText = r.attr(f, 'size');
    const size = sizeText === undefined ? null : wholeNumber(sizeText);
    if (sizeText !== undefined && size === null) throw ovfError(`${where}/@size`, `'${sizeText.slice(0, 40)}' is not a number of bytes`);
    return { id, href, size, compression: r.attr(f, 'compression') ?? null };
  });
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.id) || seen.has(`href:${f.href}`)) throw ovfError(`References/File[${f.id}]`, 'id or href used twice');
    seen.add(f.id).add(`href:${f.href}`);
  }
  return files;
}

function diskSection(r: Reader, root: Element, files: OvfFile[]): OvfDisk[] {
  return r.sections(root, 'DiskSection').flatMap((s) =>
    children(s, 'Disk').map((d, i) => {
      const id = r.attr(d, 'diskId');
      const where = `DiskSection/Disk[${id ?? i + 1}]`;
      if (!id) throw ovfError(`${where}/@diskId`, 'is missing');
      const file = r.attr(d, 'fileRef') ?? null;
      if (file !== null && !files.some((f) => f.id === file)) throw ovfError(`${where}/@fileRef`, `no File '${file}' in References`);
      const capText = r.attr(d, 'capacity');
      const capacity = wholeNumber(capText);
      if (capacity === null) throw ovfError(`${where}/@capacity`, capText === undefined ? 'is missing' : `'${capText.slice(0, 60)}' is not a number (property references are not supported)`);
      const unitsText = r.attr(d, 'capacityAllocationUnits') ?? 'byte';
      const units = byteUnits(unitsText);
      if (units === null) throw ovfError(`${where}/@capacityAllocationUnits`, `'${unitsText.slice(0, 60)}' is not a unit of bytes`);
      const bytes = capacity * units;
      if (!Number.isSafeInteger(bytes) || bytes <= 0) throw ovfError(`${where}/@capacity`, 'must be more than 0 bytes and less than 8 PiB');
      const populated = wholeNumber(r.attr(d, 'populatedSize'));
      return { id, file, capacity_bytes: bytes, populated_bytes: populated, format: r.attr(d, 'format') ?? null };
    }),
  );
}

function collectionSystems(r: Reader, coll: Element, disks: OvfDisk[], files: OvfFile[]): OvfSystem[] {
  return children(coll).flatMap((c) => {
    const kind = r.sectionName(c);
    if (kind === 'VirtualSystem') return [system(r, c, disks, files)];
    if (kind === 'VirtualSystemCollection') return collectionSystems(r, c, disks, files);
    return [];
  });
}

interface Rasd {
  type: number;
  id: string;
  label: string;
  quantity: number | null;
  units: string | undefined;
  host: string | undefined;
  parent: string | undefined;
  subtype: string | undefined;
  connection: string | undefined;
  el: Element;
}

/** One RASD item; 0.9 spells InstanceId and Caption, 1.x/2.x InstanceID and ElementName. */
function rasd(el: Element): Rasd {
  const type = wholeNumber(childText(el, 'ResourceType')) ?? -1;
  const id = childText(el, 'InstanceID') ?? childText(el, 'InstanceId') ?? '';
  return {
    type,
    id,
    label: childText(el, 'ElementName') ?? childText(el, 'Caption') ?? id,
    quantity: wholeNumber(childText(el, 'VirtualQuantity')),
    units: childText(el, 'AllocationUnits') ?? childText(el, 'VirtualQuantityUnits'),
    host: childText(el, 'HostResource'),
    parent: childText(el, 'Parent'),
    subtype: childText(el, 'ResourceSubType'),
    connection: childText(el, 'Connection'),
    el,
  };
}

function system(r: Reader, vs: Element, disks: OvfDisk[], files: OvfFile[]): OvfSystem {
  const id = r.attr(vs, 'id');
  if (!id) throw ovfError('VirtualSystem/@id', 'is missing');
  const at = `VirtualSystem[${id}]`;
  const hw = r.sections(vs, 'VirtualHardwareSection')[0];
  if (!hw) throw ovfError(`${at}/VirtualHardwareSection`, 'is missing');
  const items = children(hw).filter((c) => ['Item', 'StorageItem', 'EthernetPortItem'].includes(c.localName ?? '') && r.applies(c)).map(rasd);
  const hwAt = `${at}/VirtualHardwareSection`;
  const itemAt = (it: Rasd) => `${hwAt}/Item[InstanceID=${it.id}]`;

  const cpuItem = items.find((it) => it.type === 3);
  const cpus = cpuItem ? cpuItem.quantity : 1;
  if (cpuItem && (cpus === null || cpus < 1 || cpus > 1024)) throw ovfError(`${itemAt(cpuItem)}/VirtualQuantity`, 'must be a CPU count from 1 to 1024');

  const memItem = items.find((it) => it.type === 4);
  if (!memItem) throw ovfError(hwAt, 'has no memory Item (ResourceType 4)');
  const memUnits = byteUnits(memItem.units ?? 'byte * 2^20');
  if (memUnits === null) throw ovfError(`${itemAt(memItem)}/AllocationUnits`, `'${(memItem.units ?? '').slice(0, 60)}' is not a unit of bytes`);
  if (memItem.quantity === null || memItem.quantity < 1) throw ovfError(`${itemAt(memItem)}/VirtualQuantity`, 'must be a positive whole number');
  const memory_mib = Math.ceil((memItem.quantity * memUnits) / 2 ** 20);
  if (!Number.isSafeInteger(memory_mib) || memory_mib > 16 * 1024 * 1024) throw ovfError(`${itemAt(memItem)}/VirtualQuantity`, 'is more than 16 TiB of memory');

  const controllers = new Map<string, string>();
  for (const it of items) {
    const kind = CONTROLLERS[it.type];
    if (kind) controllers.set(it.id, kind === 'sata' && it.subtype && !/sata|ahci/i.test(it.subtype) ? 'other' : kind);
  }

  const discs = items.filter((it) => it.type === 17).map((it) => disc(it, itemAt(it), disks, files, controllers));
  const nics = items.filter((it) => it.type === 10).map((it) => ({ label: it.label, network: it.connection ?? null, adapter: it.subtype ?? null }));
  const osSection = r.sections(vs, 'OperatingSystemSection')[0];
  const osId = osSection ? wholeNumber(r.attr(osSection, 'id')) : null;
  const os = osSection ? (childText(osSection, 'Description') ?? attrNS(osSection, VMW, 'osType') ?? null) : null;
  return {
    id,
    name: childText(vs, 'Name') || id,
    os: os || null,
    os_id: osId,
    cpus: cpus!,
    memory_mib,
    firmware: firmware(r, vs, hw),
    discs,
    nics,
    cdroms: items.filter((it) => it.type === 15 || it.type === 16).length,
    controllers: [...controllers.values()],
    product: product(r, vs),
    properties: r.sections(vs, 'ProductSection').flatMap((s) => properties(r, s, at)),
  };
}

function disc(it: Rasd, where: string, disks: OvfDisk[], files: OvfFile[], controllers: Map<string, string>): OvfDisc {
  if (!it.host) throw ovfError(`${where}/HostResource`, 'is missing on a disk Item');
  // 1.x: ovf:/disk/ID or ovf:/file/ID; 0.9: /disk/ID.
  const m = /^(?:ovf:)?\/(disk|file)\/(.+)$/.exec(it.host);
  if (!m) throw ovfError(`${where}/HostResource`, `'${it.host.slice(0, 80)}' is not ovf:/disk/ID or ovf:/file/ID`);
  const controller = (it.parent !== undefined ? controllers.get(it.parent) : undefined) ?? 'unknown';
  if (m[1] === 'disk') {
    const d = disks.find((x) => x.id === m[2]);
    if (!d) throw ovfError(`${where}/HostResource`, `no disk '${m[2].slice(0, 80)}' in DiskSection`);
    return { label: it.label, disk: d.id, file: d.file, capacity_bytes: d.capacity_bytes, controller };
  }
  const f = files.find((x) => x.id === m[2]);
  if (!f) throw ovfError(`${where}/HostResource`, `no File '${m[2].slice(0, 80)}' in References`);
  // A file attached directly has no declared capacity: its image says it.
  return { label: it.label, disk: f.id, file: f.id, capacity_bytes: 0, controller };
}

/** EFI when VMware's `vmw:Config vmw:key="firmware" vmw:value="efi"` or VirtualBox's `<Firmware type="EFI">` says so. */
function firmware(r: Reader, vs: Element, hw: Element): 'EFI' | 'BIOS' {
  for (const c of children(hw, 'Config')) {
    if (r.applies(c) && attrNS(c, VMW, 'key') === 'firmware') return attrNS(c, VMW, 'value')?.toLowerCase() === 'efi' ? 'EFI' : 'BIOS';
  }
  const machine = child(vs, 'Machine');
  const fw = machine?.getElementsByTagNameNS('*', 'Firmware')[0];
  return fw && /efi/i.test(fw.getAttribute('type') ?? '') ? 'EFI' : 'BIOS';
}

function product(r: Reader, vs: Element): OvfProduct | null {
  const p = r.sections(vs, 'ProductSection')[0];
  if (!p) return null;
  return { product: childText(p, 'Product') ?? null, vendor: childText(p, 'Vendor') ?? null, version: childText(p, 'Version') ?? null };
}

/** Properties as OVF environment keys: `class.key.instance` where the section names a class or instance. */
function properties(r: Reader, section: Element, at: string): OvfProperty[] {
  const cls = r.attr(section, 'class');
  const inst = r.attr(section, 'instance');
  const props = [...children(section, 'Property'), ...children(section, 'Category').flatMap((c) => children(c, 'Property'))];
  return props.map((p, i) => {
    const key = r.attr(p, 'key');
    const type = r.attr(p, 'type');
    if (!key) throw ovfError(`${at}/ProductSection/Property[${i + 1}]/@key`, 'is missing');
    if (!type) throw ovfError(`${at}/ProductSection/Property[${key}]/@type`, 'is missing');
    const values = children(p, 'Value').filter((v) => r.applies(v));
    return {
      key: [cls, key, inst].filter((x) => x).join('.'),
      type,
      value: values.length > 0 ? (r.attr(values[0], 'value') ?? '') : (r.attr(p, 'value') ?? ''),
      label: childText(p, 'Label') ?? null,
      description: childText(p, 'Description') ?? null,
      user_configurable: r.attr(p, 'userConfigurable') === 'true',
    };
  });
}
