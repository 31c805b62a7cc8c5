import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RpcError } from '../../core/errors.js';
import { VERSION } from '../../core/version.js';
import { CONTENT_TYPE, type Format } from './negotiate.js';
import { API_VERSION, DRIVER, PROVIDER } from './views.js';
import { el, toXml, type XmlNode } from './xml.js';

/** Deltacloud's exception classes by status, as its JSON errors name them. */
const ERROR_CLASS: Record<number, string> = {
  400: 'Deltacloud::Exceptions::ValidationFailure',
  401: 'Deltacloud::Exceptions::AuthenticationFailure',
  403: 'Deltacloud::Exceptions::Forbidden',
  404: 'Deltacloud::Exceptions::ObjectNotFound',
  405: 'Deltacloud::Exceptions::MethodNotAllowed',
  406: 'Deltacloud::Exceptions::UnknownMediaTypeError',
  409: 'Deltacloud::Exceptions::Conflict',
  500: 'Deltacloud::Exceptions::BackendError',
  501: 'Deltacloud::Exceptions::NotSupported',
  502: 'Deltacloud::Exceptions::ProviderError',
  504: 'Deltacloud::Exceptions::ProviderTimeout',
};

export function baseHeaders(res: ServerResponse): void {
  res.setHeader('Server', `Apache-Deltacloud/${API_VERSION} (hyved/${VERSION})`);
  res.setHeader('X-Deltacloud-Driver', DRIVER);
  res.setHeader('X-Deltacloud-Provider', PROVIDER);
  res.setHeader('Cache-Control', 'no-store');
}

/** A body in the negotiated format, with Rack::ETag's entity tag on every 2xx body. */
export function sendBody(req: IncomingMessage, res: ServerResponse, status: number, format: Format, xml: () => XmlNode, json: () => unknown): void {
  if (res.headersSent) return;
  const text = format === 'xml' ? toXml(xml()) : JSON.stringify(json());
  res.setHeader('Content-Type', CONTENT_TYPE[format]);
  if (status >= 200 && status < 300) res.setHeader('ETag', `"${createHash('md5').update(text).digest('hex')}"`);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.writeHead(status);
  res.end(req.method === 'HEAD' ? undefined : text);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

/** Deltacloud's error document (views/errors/common.xml.haml), or its JSON `{code, message, error}`. */
export function sendError(req: IncomingMessage, res: ServerResponse, format: Format, error: RpcError): void {
  if (error.code === 401) res.setHeader('WWW-Authenticate', 'Basic realm="Deltacloud API"');
  // Schema errors name each bad field in their details: a Deltacloud client sees only the message.
  const fields = (error.details as { path?: unknown; message?: unknown }[])
    .filter((d) => typeof d?.path === 'string')
    .map((d) => `${d.path as string} ${String(d.message ?? '')}`.trim());
  const message = fields.length ? `${error.message}: ${fields.join('; ')}` : error.message;
  sendBody(
    req,
    res,
    error.code,
    format,
    () =>
      el(
        'error',
        { url: req.url ?? '', status: error.code },
        el('backend', { driver: DRIVER, provider: PROVIDER }),
        el('code', {}, String(error.code)),
        el('message', {}, message),
      ),
    () => ({ code: error.code, message, error: ERROR_CLASS[error.code] ?? ERROR_CLASS[500], reason: error.reason }),
  );
}
