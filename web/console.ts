import { useEffect, useRef, useState } from 'preact/hooks';
import { CallError, wsUrl } from './api.js';
import { errorText, html } from './html.js';
import { store } from './store.js';

/** How much scrollback a newly opened serial console asks the daemon to replay. */
const SCROLLBACK_BYTES = 256 * 1024;

async function ticket(vmid: string, kind: 'serial' | 'vnc'): Promise<string> {
  const ask = (extra: Record<string, unknown>) => store.api.call<{ url: string }>('sysadm', 'console', { action: 'ticket', vmid, kind, ...extra });
  // The keyboard needs a permission a viewer may lack: such a viewer watches read-only.
  const t = kind === 'vnc' ? await ask({ shared: true }) : await ask({ write: true }).catch((e) => (e instanceof CallError && e.code === 403 ? ask({}) : Promise.reject(e)));
  return wsUrl(t.url);
}

function FullScreen({ target }: { target: { current: HTMLElement | null } }) {
  return html`<button type="button" class="secondary" onClick=${() => void target.current?.requestFullscreen?.()}>Full screen</button>`;
}

type Opener = (isClosed: () => boolean, setStatus: (s: string) => void) => Promise<(() => void) | undefined>;

/**
 * Opens a console pane once per VM: `open` attaches and returns how to detach, which runs when
 * the pane closes (or at once if it closed while attaching). Returns the status line.
 */
function useAttached(vmid: string, what: string, open: Opener): string {
  const [status, setStatus] = useState('Connecting…');
  useEffect(() => {
    let closed = false;
    let dispose: (() => void) | undefined;
    open(() => closed, (s) => !closed && setStatus(s)).then(
      (d) => (closed ? d?.() : (dispose = d)),
      (e) => setStatus(`${what} unavailable: ${errorText(e)}`),
    );
    return () => {
      closed = true;
      dispose?.();
    };
  }, [vmid]);
  return status;
}

/**
 * The VM's serial console in xterm (DESIGN §10): binary frames carry the terminal's bytes both
 * ways, text frames JSON control messages. xterm is loaded with the first console, not the page.
 */
export function SerialConsole({ vmid }: { vmid: string }) {
  const box = useRef<HTMLDivElement>(null);
  const frame = useRef<HTMLDivElement>(null);
  const [writer, setWriter] = useState<boolean | null>(null);
  const socket = useRef<WebSocket | null>(null);
  const status = useAttached(vmid, 'Console', async (isClosed, setStatus) => {
    const { Terminal } = await import('@xterm/xterm');
    const url = await ticket(vmid, 'serial');
    if (isClosed()) return undefined;
    const term = new Terminal({ cols: 100, rows: 30, scrollback: 5000, fontFamily: 'ui-monospace, monospace' });
    term.open(box.current!);
    const ws = new WebSocket(url);
    socket.current = ws;
    ws.binaryType = 'arraybuffer';
    const encoder = new TextEncoder();
    const input = term.onData((d) => ws.readyState === WebSocket.OPEN && ws.send(encoder.encode(d)));
    // Live bytes that come between hello and the replay's notice are in the replay again.
    let awaitingReplay = false;
    ws.onmessage = (m) => {
      if (m.data instanceof ArrayBuffer) return awaitingReplay || term.write(new Uint8Array(m.data));
      const c = JSON.parse(String(m.data)) as { type: string; offset?: number; writer?: boolean };
      if (c.type === 'hello') {
        setWriter(Boolean(c.writer));
        setStatus('Connected');
        ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
        ws.send(JSON.stringify({ type: 'replay', since: Math.max(0, (c.offset ?? 0) - SCROLLBACK_BYTES) }));
        awaitingReplay = true;
      } else if (c.type === 'replay' || c.type === 'error') awaitingReplay = false;
      else if (c.type === 'writer-changed') setWriter(Boolean(c.writer));
      else if (c.type === 'vm-stopped') setStatus('The VM stopped.');
    };
    ws.onclose = (e) => setStatus(`Disconnected${e.reason ? `: ${e.reason}` : ''}`);
    term.focus();
    return () => {
      input.dispose();
      ws.close();
      term.dispose();
    };
  });
  return html`<div class="console" ref=${frame}>
    <div class="console-bar">
      <span role="status" data-console-status>${status}</span>
      ${writer === false && html`<button type="button" class="secondary" onClick=${() => socket.current?.send(JSON.stringify({ type: 'takeover' }))}>Take the keyboard</button>`}
      <${FullScreen} target=${frame} />
    </div>
    <div class="terminal" ref=${box} aria-label="Serial console" data-terminal></div>
  </div>`;
}

/** The VM's display through noVNC, over the daemon's VNC bridge (raw RFB bytes). */
export function VncConsole({ vmid }: { vmid: string }) {
  const box = useRef<HTMLDivElement>(null);
  const frame = useRef<HTMLDivElement>(null);
  const status = useAttached(vmid, 'Display', async (isClosed, setStatus) => {
    const { default: RFB } = await import('@novnc/novnc');
    const url = await ticket(vmid, 'vnc');
    if (isClosed()) return undefined;
    const rfb = new RFB(box.current!, url, { wsProtocols: ['binary'] });
    rfb.scaleViewport = true;
    let connected = true;
    rfb.addEventListener('connect', () => setStatus('Connected'));
    rfb.addEventListener('disconnect', () => {
      connected = false;
      setStatus('Disconnected');
    });
    // noVNC logs an error when told to disconnect twice (the VM's stop already closed it).
    return () => connected && rfb.disconnect();
  });
  return html`<div class="console" ref=${frame}>
    <div class="console-bar">
      <span role="status" data-vnc-status>${status}</span>
      <${FullScreen} target=${frame} />
    </div>
    <div class="vnc" ref=${box} aria-label="VM display"></div>
  </div>`;
}
