// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * Where and how the browser reaches the realtime server: `{base_url}socket.io/` on the
 * page's own Jupyter server, authenticated like every other request of the page.
 *
 * - the login cookie goes with every request (same origin; `withCredentials` for the
 *   rare cross-origin base URL);
 * - polling POSTs carry `X-XSRFToken` from the `_xsrf` cookie, which Jupyter demands
 *   for cookie-authenticated requests that change state;
 * - no token is sent, even when the page knows one: the server binds an Engine.IO
 *   session to the credentials that opened it, and a WebSocket upgrade cannot carry an
 *   `Authorization` header, so every request of a session must use the same cookie.
 *   (A token in the URL would also end up in logs.)
 */

import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { Manager, ManagerOptions, Socket } from 'socket.io-client';

/** The transports a widget may ask for, in socket.io-client's names. */
export type TransportName = 'polling' | 'websocket' | 'webtransport';

/** The page's base URL, absolute, with a trailing slash. */
export function pageBaseUrl(): string {
  let base = PageConfig.getBaseUrl();
  if (!base) {
    base = URLExt.join(window.location.origin, '/');
  }
  return base.endsWith('/') ? base : `${base}/`;
}

/** The value of a cookie of this page, or `undefined`. */
export function getCookie(name: string): string | undefined {
  const prefix = `${name}=`;
  for (const part of document.cookie.split(';')) {
    const item = part.trim();
    if (item.startsWith(prefix)) {
      return decodeURIComponent(item.slice(prefix.length));
    }
  }
  return undefined;
}

/** Headers for polling requests: the XSRF token from the `_xsrf` cookie. */
export function authHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const xsrf = getCookie('_xsrf');
  if (xsrf) {
    headers['X-XSRFToken'] = xsrf;
  }
  return headers;
}

/** What a widget asks for when it opens its socket. */
export interface IConnectOptions {
  /** Namespace, e.g. `/tick`. */
  namespace: string;
  /** Transports in order of preference; `null` for the client's default (polling, then upgrade). */
  transports: TransportName[] | null;
  /** The CONNECT packet's auth payload. */
  auth: Record<string, unknown>;
}

/** The resolved endpoint: origin and Engine.IO path. */
export function endpoint(): { origin: string; path: string } {
  const base = new URL(pageBaseUrl());
  return { origin: base.origin, path: `${base.pathname}socket.io/` };
}

/**
 * Open a socket for one widget.
 *
 * Each widget gets its own Manager (one Engine.IO session): widgets on a page are
 * independent clients with their own sid, rooms and transport, like separate tabs.
 * The socket connects at once and reconnects on its own (socket.io-client defaults).
 */
export function openSocket(options: IConnectOptions): Socket {
  const { origin, path } = endpoint();
  const managerOptions: Partial<ManagerOptions> = {
    path,
    withCredentials: true,
    extraHeaders: authHeaders(),
    autoConnect: false,
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000
  };
  if (options.transports !== null && options.transports.length > 0) {
    managerOptions.transports = options.transports;
    managerOptions.upgrade = options.transports.length > 1;
  }
  const manager = new Manager(origin, managerOptions);
  const namespace = options.namespace.startsWith('/')
    ? options.namespace
    : `/${options.namespace}`;
  return manager.socket(namespace, { auth: options.auth });
}

/** The transport a connected socket uses now (`''` when it has none). */
export function currentTransport(socket: Socket): string {
  const engine = socket.io.engine;
  return engine && engine.transport ? engine.transport.name : '';
}
