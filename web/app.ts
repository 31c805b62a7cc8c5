import { useEffect, useRef, useState } from 'preact/hooks';
import type { Link } from './api.js';
import { errorText, html } from './html.js';
import { ImageStore, IsoStore, TaskList } from './stores.js';
import { store, useStore } from './store.js';
import { VmList, VmPage } from './vms.js';

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function SignIn({ message, onDone }: { message: string; onDone: () => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLInputElement>(null);
  // `autofocus` is not applied to fields a script inserts after the page loaded.
  useEffect(() => first.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    setBusy(true);
    setError('');
    try {
      await store.api.signIn(String(form.get('username')), String(form.get('password')));
      onDone();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin">
    <form onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title">hyved</h1>
      ${message && html`<p class="notice" role="status">${message}</p>`}
      <label>User name <input name="username" autocomplete="username" required ref=${first} /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
  </main>`;
}

/** Says when the connection to the daemon is lost, and for a moment that it is back. */
function Banner() {
  const [link, setLink] = useState<Link>(store.api.link);
  const [back, setBack] = useState(false);
  useEffect(() => {
    const follow = (l: Link) =>
      setLink((prev) => {
        if (prev === 'down' && l === 'up') {
          setBack(true);
          setTimeout(() => setBack(false), 3000);
        }
        return l;
      });
    const off = store.api.onLink(follow);
    // Effects run after paint: a drop between the first render and here would otherwise go unseen.
    follow(store.api.link);
    return off;
  }, []);
  if (link === 'down') return html`<div class="banner down" role="alert" data-banner="down">Connection to the daemon lost — reconnecting…</div>`;
  if (back) return html`<div class="banner up" role="status" data-banner="up">Connection restored.</div>`;
  return null;
}

/** The hash is the route: the skip link moves the focus without changing it. */
function skip(e: Event): void {
  e.preventDefault();
  document.getElementById('main')?.focus();
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const s = useStore();
  const hash = useHash();
  const vm = /^#\/vm\/(.+)$/.exec(hash);
  const page = vm ? 'vms' : hash.replace(/^#\//, '') || 'vms';
  const nav = [
    ['vms', 'Virtual machines', true],
    ['isos', 'ISO store', s.can('sysadm/iohyve', 'listisos')],
    ['images', 'Images', s.can('sysadm/image', 'list')],
    ['tasks', 'Tasks', s.can('rpc/dispatcher', 'list')],
  ] as const;
  return html`<div class="shell">
    <a class="skip" href="#main" onClick=${skip}>Skip to content</a>
    <header>
      <span class="brand">hyved</span>
      <nav aria-label="Main">
        ${nav.filter(([, , ok]) => ok).map(([id, label]) => html`<a href=${`#/${id}`} aria-current=${page === id ? 'page' : undefined}>${label}</a>`)}
      </nav>
      <span class="user">${s.api.user}</span>
      <button type="button" class="secondary" onClick=${onSignOut}>Sign out</button>
    </header>
    <${Banner} />
    <main id="main" tabindex="-1">
      ${vm ? html`<${VmPage} vmid=${decodeURIComponent(vm[1])} />` : page === 'isos' ? html`<${IsoStore} />` : page === 'images' ? html`<${ImageStore} />` : page === 'tasks' ? html`<${TaskList} />` : html`<${VmList} />`}
    </main>
  </div>`;
}

export function App() {
  const [phase, setPhase] = useState<'signin' | 'loading' | 'ready'>(store.api.token ? 'loading' : 'signin');
  const [message, setMessage] = useState('');
  useEffect(() => {
    store.api.onExpired = (m) => {
      setMessage(m);
      setPhase('signin');
    };
  }, []);
  useEffect(() => {
    if (phase !== 'loading') return;
    (async () => {
      if (store.api.link !== 'up') await store.api.resume();
      if (!store.api.token) return;
      await store.load();
      setPhase('ready');
    })().catch((e) => {
      setMessage(errorText(e));
      setPhase('signin');
    });
  }, [phase]);
  if (phase === 'signin')
    return html`<${SignIn}
      message=${message}
      onDone=${() => {
        setMessage('');
        setPhase('loading');
      }}
    />`;
  if (phase === 'loading') return html`<p class="loading" role="status">Loading…</p>`;
  return html`<${Shell}
    onSignOut=${() => {
      store.api.signOut();
      setMessage('You have signed out.');
      setPhase('signin');
    }}
  />`;
}
