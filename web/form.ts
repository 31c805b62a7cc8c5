import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { CallError } from './api.js';
import { errorText, html } from './html.js';
import { store } from './store.js';

/** The part of a JSON Schema property a generated field needs. */
export interface Prop {
  type?: string | string[]; enum?: unknown[]; minimum?: number; maximum?: number; description?: string; maxLength?: number; const?: unknown; maxItems?: number;
  /** Not in the schema's `required`: a choice of it offers "(default)", left to the server. */
  optional?: boolean;
}

const LABELS: Record<string, string> = {
  name: 'Name', gid: 'Group', cpus: 'CPUs', memory_mib: 'Memory (MiB)', type: 'Firmware', description: 'Description', hardware_profile: 'Hardware profile',
  cmdline: 'Kernel command line', power_on: 'Start once built', cdrom_url: 'CD from URL', count: 'Count', storage_grade: 'Storage grade',
};

export const label = (k: string) => LABELS[k] ?? k.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());

/** The properties of an action's args as rpc/schema lists them for this user (none if it does not). */
export function argsOf(key: string, action: string): Record<string, Prop> {
  const args = store.schemas[key]?.[action]?.args as { properties?: Record<string, Prop>; required?: string[] } | undefined;
  return Object.fromEntries(Object.entries(args?.properties ?? {}).map(([k, p]) => [k, { ...p, optional: !args?.required?.includes(k) }]));
}

const typeOf = (p: Prop) => (Array.isArray(p.type) ? p.type[0] : p.type);

/** Choices the daemon's definitions give for a field the schema leaves open. */
function choices(key: string): string[] | null {
  const d = store.definitions as { types?: string[]; hardware_profiles?: { name?: string; id?: string }[]; storage_grades?: { name: string }[] };
  if (key === 'gid') return store.groups.map((g) => g.gid);
  if (key === 'type') return d.types ?? null;
  if (key === 'hardware_profile') return ['', ...(d.hardware_profiles ?? []).map((p) => String(p.name ?? p.id ?? p))];
  if (key === 'storage_grade') return d.storage_grades?.map((g) => g.name) ?? null;
  return null;
}

/** A server detail's message under the field or row it belongs to. */
export function FieldError({ id, text }: { id: string; text?: string }) {
  return text ? html`<span class="field-error" id=${id} role="alert">${text}</span>` : null;
}

/** One generated field for a scalar property of the schema. */
export function Field({ name, prop, error, value }: { name: string; prop: Prop; error?: string; value?: string }) {
  const id = `f-${name}`;
  const described = [prop.description ? `${id}-help` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  const help = prop.description ? html`<small id=${`${id}-help`}>${prop.description}</small>` : null;
  const err = html`<${FieldError} id=${`${id}-err`} text=${error} />`;
  const type = typeOf(prop);
  if (type === 'boolean')
    return html`<div class="field check"><label><input type="checkbox" id=${id} name=${name} aria-describedby=${described} /> ${label(name)}</label>${help}${err}</div>`;
  const given = choices(name) ?? (prop.enum as string[] | undefined);
  const options = given && prop.optional && !given.includes('') ? ['', ...given] : given;
  const invalid = error ? 'true' : undefined;
  const control = options
    ? html`<select id=${id} name=${name} aria-invalid=${invalid} aria-describedby=${described}>${options.map((o) => html`<option value=${o} selected=${o === value}>${o || '(default)'}</option>`)}</select>`
    : html`<input id=${id} name=${name} type=${type === 'integer' ? 'number' : 'text'} min=${prop.minimum} max=${prop.maximum} defaultValue=${value ?? ''}
        aria-invalid=${invalid} aria-describedby=${described} />`;
  return html`<div class="field"><label for=${id}>${label(name)}</label>${control}${help}${err}</div>`;
}

/** The scalar fields `keys` of a form as args, typed as the schema says; empty fields left out. */
export function scalars(data: FormData, props: Record<string, Prop>, keys: string[]): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  for (const k of keys) {
    const type = typeOf(props[k]);
    if (type === 'boolean') {
      if (data.get(k) === 'on') args[k] = true;
      continue;
    }
    const v = String(data.get(k) ?? '').trim();
    if (v === '') continue;
    args[k] = type === 'integer' && /^-?\d+$/.test(v) ? Number(v) : v;
  }
  return args;
}

/** The scalar properties a form generates fields for: not the action, not those with widgets of their own. */
export function generated(props: Record<string, Prop>, custom: Set<string>): string[] {
  return Object.keys(props).filter((k) => k !== 'action' && !custom.has(k) && props[k].const === undefined && ['string', 'integer', 'boolean', undefined].includes(typeOf(props[k])));
}

/**
 * The server's `details`, each under what it points at: `/name` → `name`, `/discs/1/size_mib` →
 * `discs/1` (the second disc's row), `/discs` → `discs`. A name already taken goes under the name.
 */
export function detailsByField(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(err instanceof CallError)) return out;
  for (const det of err.details ?? []) {
    const path = det.path?.replace(/^\/args/, '') ?? '';
    const [, first = '', second] = path.split('/');
    const key = second !== undefined && /^\d+$/.test(second) ? `${first}/${second}` : first;
    out[key] = [out[key], `${path} ${det.message}`].filter(Boolean).join('; ');
  }
  if (err.reason === 'name_taken') out.name = err.message;
  return out;
}

/**
 * A form's submit handler around `send`: while it runs the form is busy; when the server refuses,
 * its message and its details (by field, see detailsByField) are kept for the form to show.
 */
export function useSubmit(send: (form: HTMLFormElement) => Promise<void>) {
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setMessage('');
    try {
      await send(e.target as HTMLFormElement);
    } catch (err) {
      setErrors(detailsByField(err));
      setMessage(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return { errors, message, busy, submit };
}

/** A modal dialog, open while mounted; Escape and the close button both end it through `onClose`. */
export function Modal({ title, id, onClose, children }: { title: string; id: string; onClose: () => void; children: ComponentChildren }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => dialog.current?.showModal(), []);
  return html`<dialog ref=${dialog} aria-labelledby=${id} onClose=${onClose} onCancel=${onClose}>
    <h2 id=${id}>${title}</h2>
    ${children}
  </dialog>`;
}
