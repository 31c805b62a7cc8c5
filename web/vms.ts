import { Component } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { CreateDialog } from './create.js';
import { SerialConsole, VncConsole } from './console.js';
import { errorText, html } from './html.js';
import { ExportDialog, canExport } from './images.js';
import { rowKey, store, useRow, useStore, type VmRow } from './store.js';

/** Deltacloud's action words and the call that carries each out. */
const ACTIONS: Record<string, { label: string; action: string; args?: Record<string, unknown> }> = {
  start: { label: 'Start', action: 'state', args: { state: 'RUNNING' } },
  stop: { label: 'Stop', action: 'state', args: { state: 'STOPPED' } },
  pause: { label: 'Pause', action: 'state', args: { state: 'PAUSED' } },
  resume: { label: 'Resume', action: 'state', args: { state: 'RUNNING' } },
  reboot: { label: 'Reboot', action: 'reboot' },
  delete: { label: 'Delete', action: 'delete' },
};

/** The actions the VM's state allows now that the user may also call. */
function allowed(vm: { actions?: string[] }): string[] {
  return (vm.actions ?? []).filter((a) => ACTIONS[a] && store.canChange('sysadm/vm', ACTIONS[a].action));
}

export function ActionButtons({ vm, onError }: { vm: { vmid: string; name: string; actions?: string[] }; onError: (m: string) => void }) {
  const [busy, setBusy] = useState('');
  const run = async (a: string) => {
    if (a === 'delete' && !confirm(`Delete ${vm.name} and its discs?`)) return;
    setBusy(a);
    try {
      await store.api.call('sysadm', 'vm', { action: ACTIONS[a].action, vmid: vm.vmid, ...ACTIONS[a].args });
      if (a === 'delete') location.hash = '#/vms';
    } catch (e) {
      onError(`${ACTIONS[a].label} ${vm.name}: ${errorText(e)}`);
    } finally {
      setBusy('');
    }
  };
  return html`<span class="actions">
    ${allowed(vm).map(
      (a) => html`<button type="button" class=${a === 'delete' ? 'danger' : ''} disabled=${busy !== ''} data-action=${a} aria-label=${`${ACTIONS[a].label} ${vm.name}`} onClick=${() => run(a)}>
        ${ACTIONS[a].label}
      </button>`,
    )}
  </span>`;
}

function State({ state }: { state: string }) {
  return html`<span class=${`state state-${state.toLowerCase()}`} data-state=${state}>${state}</span>`;
}

interface RowProps { vm: VmRow; onError: (m: string) => void }

/**
 * A VM's row. It re-renders when its VM changes in place (watchRow), and on a re-render of the
 * list only if what it shows changed: a list reload brings 200 new objects, mostly equal. A row
 * is a grid of its own, not a table row: the browser can then contain a change to the row it
 * happens in and skip rows out of view (see .vm-row in style.css).
 */
class Row extends Component<RowProps> {
  private last = '';
  private unwatch = () => {};
  componentDidMount(): void {
    this.unwatch = store.watchRow(this.props.vm.vmid, () => this.forceUpdate());
  }
  componentWillUnmount(): void {
    this.unwatch();
  }
  shouldComponentUpdate(next: RowProps): boolean {
    return rowKey(next.vm) !== this.last;
  }
  render({ vm, onError }: RowProps) {
    this.last = rowKey(vm);
    return html`<div role="row" class="vm-row" data-vm=${vm.name}>
      <span role="rowheader"><a href=${`#/vm/${encodeURIComponent(vm.vmid)}`}>${vm.name}</a></span>
      <span role="cell"><${State} state=${vm.state} /></span>
      <span role="cell">${vm.cpus}</span>
      <span role="cell">${vm.memory_mib} MiB</span>
      <span role="cell"><${ActionButtons} vm=${vm} onError=${onError} /></span>
    </div>`;
  }
}

export function VmList() {
  const s = useStore();
  const [error, setError] = useState('');
  const [creating, setCreating] = useState(false);
  return html`<section aria-labelledby="vms-title">
    <div class="titlebar">
      <h1 id="vms-title">Virtual machines</h1>
      ${s.can('sysadm/vm', 'create') && html`<button type="button" onClick=${() => setCreating(true)}>Create VM</button>`}
    </div>
    ${error && html`<p class="error" role="alert">${error} <button type="button" class="link" onClick=${() => setError('')}>Dismiss</button></p>`}
    ${s.groups.length === 0 && html`<p>No groups you may view.</p>`}
    ${s.groups.map((g) => {
      const vms = s.vms.get(g.gid) ?? [];
      return html`<section class="group" aria-labelledby=${`g-${g.gid}`}>
        <h2 id=${`g-${g.gid}`}>${g.gid}${g.description ? html` <small>${g.description}</small>` : ''}</h2>
        ${vms.length === 0
          ? html`<p class="empty">No VMs in this group.</p>`
          : html`<div class="scroll"><div class="vms" role="table" aria-labelledby=${`g-${g.gid}`} aria-rowcount=${vms.length + 1}>
              <div role="rowgroup" class="vms-head"><div role="row" class="vm-row">
                <span role="columnheader">Name</span><span role="columnheader">State</span><span role="columnheader">CPUs</span><span role="columnheader">Memory</span><span role="columnheader">Actions</span>
              </div></div>
              <div role="rowgroup">${vms.map((vm) => html`<${Row} key=${vm.vmid} vm=${vm} onError=${setError} />`)}</div>
            </div></div>`}
      </section>`;
    })}
    ${creating && html`<${CreateDialog} onClose=${() => setCreating(false)} />`}
  </section>`;
}

interface VmInfo extends VmRow {
  type: string;
  discs: { label: string; size_mib: number; storage_grade: string }[];
  media: { mid: string; mode: string }[];
  nics: { type: string; host?: string; mac?: string }[];
  displays: unknown[];
  agent: boolean;
  addresses?: { interface: string; family: string; address: string; prefix: number }[];
  os?: { pretty_name?: string };
  launch_time: string | null;
  description?: string;
  kernel?: string;
  cmdline?: string;
}

function Facts({ info }: { info: VmInfo }) {
  const facts: [string, unknown][] = [
    ['Group', info.gid],
    ['Firmware', info.type],
    ['CPUs', info.cpus],
    ['Memory', `${info.memory_mib} MiB`],
    ['Started', info.launch_time ?? '—'],
    ['Guest agent', info.agent ? `answering${info.os?.pretty_name ? ` (${info.os.pretty_name})` : ''}` : 'not answering'],
  ];
  if (info.kernel) facts.push(['Direct boot', `${info.kernel} ${info.cmdline ?? ''}`]);
  if (info.description) facts.push(['Description', info.description]);
  return html`<dl class="facts">${facts.map(([k, v]) => html`<dt>${k}</dt><dd>${String(v)}</dd>`)}</dl>`;
}

function Lists({ info }: { info: VmInfo }) {
  const list = (title: string, items: string[]) =>
    html`<section class="card"><h2>${title}</h2>${items.length ? html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>` : html`<p class="empty">None</p>`}</section>`;
  return html`<div class="cards">
    ${list('Discs', info.discs.map((d) => `${d.label}: ${d.size_mib} MiB (${d.storage_grade})`))}
    ${list('Media', info.media.map((m) => `${m.mid} (${m.mode})`))}
    ${list('Network', info.nics.map((n) => [n.type, n.host, n.mac].filter(Boolean).join(' ')))}
    ${list('Addresses', (info.addresses ?? []).map((a) => `${a.interface} ${a.address}/${a.prefix}`))}
  </div>`;
}

export function VmPage({ vmid }: { vmid: string }) {
  const s = useStore();
  const [info, setInfo] = useState<VmInfo | null>(null);
  const [error, setError] = useState('');
  const [pane, setPane] = useState<'serial' | 'vnc' | null>(null);
  const [exporting, setExporting] = useState(false);
  useRow(vmid);
  const row = [...s.vms.values()].flat().find((v) => v.vmid === vmid);
  // Reloaded whenever an event changes the VM's state or actions.
  const key = row ? `${row.state}:${(row.actions ?? []).join()}` : '';
  useEffect(() => {
    store.api
      .call<VmInfo>('sysadm', 'vm', { action: 'info', vmid })
      .then(setInfo)
      .catch((e) => setError(errorText(e)));
  }, [vmid, key]);
  if (!info) return html`<p role=${error ? 'alert' : 'status'} class=${error ? 'error' : ''}>${error || 'Loading…'}</p>`;
  const state = row?.state ?? info.state;
  const canSerial = s.can('sysadm/console', 'ticket');
  const canVnc = canSerial && info.displays.length > 0;
  return html`<article aria-labelledby="vm-title">
    <p><a href="#/vms">← All VMs</a></p>
    <div class="titlebar">
      <h1 id="vm-title">${info.name}</h1>
      <${State} state=${state} />
      <${ActionButtons} vm=${{ ...info, ...row, actions: row?.actions ?? info.actions }} onError=${setError} />
      ${state === 'STOPPED' && canExport() && html`<button type="button" class="secondary" onClick=${() => setExporting(true)}>Export</button>`}
    </div>
    ${exporting && html`<${ExportDialog} vm=${info} onClose=${() => setExporting(false)} />`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <${Facts} info=${info} />
    <${Lists} info=${info} />
    ${canSerial &&
    html`<section class="console-section" aria-labelledby="console-title">
      <h2 id="console-title">Console</h2>
      <div class="tabs" role="group" aria-label="Console kind">
        <button type="button" aria-pressed=${pane === 'serial'} onClick=${() => setPane('serial')}>Serial console</button>
        ${canVnc && html`<button type="button" aria-pressed=${pane === 'vnc'} onClick=${() => setPane('vnc')}>Display (VNC)</button>`}
        ${pane && html`<button type="button" class="secondary" onClick=${() => setPane(null)}>Close console</button>`}
      </div>
      ${pane === 'serial' && html`<${SerialConsole} vmid=${vmid} key=${`s-${vmid}`} />`}
      ${pane === 'vnc' && html`<${VncConsole} vmid=${vmid} key=${`v-${vmid}`} />`}
    </section>`}
  </article>`;
}
