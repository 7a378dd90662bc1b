// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * The base of every jupyter_rt widget model: it owns one socket.io-client socket.
 *
 * The socket belongs to the model, not to a view: a widget shown twice is still one
 * client. When it opens and closes:
 * - it opens when a view is shown (with `autoconnect`), or as soon as the kernel uses
 *   the widget (a message, or a handler registered with `on`), so a widget that is never
 *   displayed still works for the kernel;
 * - it closes when the last view goes away (a re-run cell, cleared output) unless the
 *   kernel uses the widget, and for good when the model is closed.
 * Models that the page restores from a running kernel (a reload) stay quiet until shown
 * or used: widgets left over from earlier runs of a cell do not come back to life.
 *
 * Several pages on one kernel (two tabs on a notebook) each get every model. One page,
 * `_driver` (chosen by the kernel, see jupyter_rt/widgets/_base.py), speaks for the
 * kernel: it alone acts on the kernel's commands (each names its page in `to`), forwards
 * server events and the socket's life to kernel handlers, and syncs its status. Other
 * pages open a socket only while they show a view: one more client, as another user is.
 * A page tells the kernel when it starts and stops showing the widget (`views`).
 *
 * Subclasses override `onServerEvent` (events from the server), `onConnected`
 * (after every (re)connect) and `onKernelMessage` (their own message kinds).
 */

import { DOMWidgetModel, WidgetModel } from '@jupyter-widgets/base';
import type { Socket } from 'socket.io-client';

import { deconstruct, reconstruct } from './binary';
import { currentTransport, openSocket, TransportName } from './connection';
import { preview } from './dom';
import type { BrowserToKernel, KernelToBrowser } from './messages';
import { MODULE_NAME, MODULE_VERSION } from './version';

/** One line of a model's event log. */
export interface ILogEntry {
  /** Milliseconds since the epoch. */
  time: number;
  /** `in`: from the server; `out`: to the server; `ack`: an ack; `sys`: status. */
  dir: 'in' | 'out' | 'ack' | 'sys' | 'error';
  text: string;
}

type AckCallback = (...args: unknown[]) => void;

/** Events that socket.io-client reserves on a socket; never forwarded from `onAny`. */
const LIFECYCLE = new Set(['connect', 'disconnect', 'connect_error']);

/** Hard cap on the log, whatever `log_limit` says. */
const LOG_HARD_LIMIT = 1000;

/** This page's id when the widget manager has no kernel connection to name it. */
const LONE_PAGE = `page-${Math.random().toString(36).slice(2)}`;

/** Models this page shows: the kernel hears that they are hidden when the page goes. */
const SHOWN = new Set<SocketModel>();
window.addEventListener('pagehide', () => {
  for (const model of Array.from(SHOWN)) {
    model.announce(false);
  }
});

export class SocketModel extends DOMWidgetModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_module: MODULE_NAME,
      _model_module_version: MODULE_VERSION,
      _view_module: MODULE_NAME,
      _view_module_version: MODULE_VERSION,
      namespace: '/',
      transports: null,
      auth: {},
      autoconnect: true,
      connected: false,
      transport: '',
      sid: '',
      error: '',
      log_limit: 50,
      _listen: [],
      _driver: ''
    };
  }

  /** The socket, once opened. */
  socket!: Socket | null;
  /** The event log, newest last, capped at `log_limit`. Views listen to `log:changed`. */
  log!: ILogEntry[];
  /** Acks the server asked for, waiting on the kernel's reply, by browser-chosen id. */
  private _pendingReplies!: Map<number, AckCallback>;
  private _nextReply!: number;
  /** How many views are shown. */
  private _views!: number;
  /** Whether the kernel uses this widget through this page (then views do not decide its life). */
  private _kernelDriven!: boolean;
  /** Whether this page spoke for the kernel when last checked. */
  private _driving!: boolean;
  /** Whether the kernel was last told that this page shows the widget. */
  private _shown!: boolean;
  private _idleTimer!: number | null;

  initialize(
    attributes: Backbone.ObjectHash,
    options: Parameters<WidgetModel['initialize']>[1]
  ): void {
    super.initialize(attributes, options);
    this.socket = null;
    this.log = [];
    this._pendingReplies = new Map();
    this._nextReply = 1;
    this._views = 0;
    this._kernelDriven = false;
    this._driving = false;
    this._shown = false;
    this._idleTimer = null;
    this.on('msg:custom', this._handleCustom, this);
    this.on('change:log_limit', () => this._trimLog(), this);
    this.on('change:_listen change:_driver', this._roleChanged, this);
    this.once(
      'destroy',
      () => {
        this.announce(false);
        this.closeSocket();
      },
      this
    );
    this._roleChanged();
  }

  /** This page, as the kernel knows it: the client id of its kernel connection. */
  get page(): string {
    const manager = this.widget_manager as unknown as {
      kernel?: { clientId?: unknown } | null;
    };
    const id = manager.kernel?.clientId;
    return typeof id === 'string' && id ? id : LONE_PAGE;
  }

  /**
   * Whether this page speaks for the kernel (see the module docstring). Before the
   * kernel picks a page, or when it cannot tell pages apart, every page does.
   */
  get driving(): boolean {
    const driver = this.get('_driver');
    return !driver || driver === this.page;
  }

  /** A view is shown: open the socket (with `autoconnect`). */
  attachView(): void {
    this._views += 1;
    this._clearIdleTimer();
    this.announce(true);
    if (this.get('autoconnect') !== false) {
      this.openSocket();
    }
  }

  /** A view is gone: with no view left, tell the kernel and close the socket soon. */
  detachView(): void {
    this._views = Math.max(0, this._views - 1);
    if (this._views > 0) {
      return;
    }
    this._clearIdleTimer();
    // A short grace period: a view re-rendered in place comes back at once.
    this._idleTimer = window.setTimeout(() => {
      this._idleTimer = null;
      if (this._views === 0) {
        this.announce(false);
        this._closeIfUnused();
      }
    }, 2000);
  }

  /** Tell the kernel whether this page shows the widget (once per change). */
  announce(shown: boolean): void {
    if (shown) {
      SHOWN.add(this);
    } else {
      SHOWN.delete(this);
    }
    if (shown !== this._shown) {
      this._shown = shown;
      try {
        this.sendToKernel({ kind: 'views', shown });
      } catch {
        // The kernel connection is going away with the page.
      }
    }
  }

  /** The kernel uses this widget through this page: keep the socket open, shown or not. */
  markKernelDriven(): void {
    this._kernelDriven = true;
    this._clearIdleTimer();
  }

  /** The namespace this model connects to. */
  get namespace(): string {
    return String(this.get('namespace') || '/');
  }

  /** Open the socket (no-op when it is open or opening). */
  openSocket(): void {
    if (this.socket !== null) {
      if (!this.socket.active) {
        this.socket.connect();
      }
      return;
    }
    const transports = this.get('transports') as TransportName[] | null;
    const socket = openSocket({
      namespace: this.namespace,
      transports: transports && transports.length > 0 ? transports : null,
      auth: (this.get('auth') as Record<string, unknown>) || {}
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.setStatus({
        connected: true,
        sid: socket.id ?? '',
        transport: currentTransport(socket),
        error: ''
      });
      this.addLog('sys', `connected to ${this.namespace} via ${currentTransport(socket)}`);
      this._forwardLifecycle('connect', []);
      this.onConnected(socket);
    });
    socket.on('disconnect', (reason: string) => {
      this.setStatus({ connected: false, sid: '' });
      this.addLog('sys', `disconnected: ${reason}`);
      this._forwardLifecycle('disconnect', [reason]);
      this.onDisconnected(reason);
    });
    socket.on('connect_error', (err: Error & { data?: unknown }) => {
      const message = err.message || String(err);
      this.setStatus({ connected: false, error: message });
      this.addLog('error', `connect error: ${message}`);
      this._forwardLifecycle('connect_error', [
        err.data === undefined ? { message } : { message, data: err.data }
      ]);
    });
    socket.io.on('open', () => {
      const engine = socket.io.engine;
      engine.on('upgrade', () => {
        this.setStatus({ transport: currentTransport(socket) });
        this.addLog('sys', `upgraded to ${currentTransport(socket)}`);
      });
    });
    socket.onAny((event: string, ...args: unknown[]) => {
      if (LIFECYCLE.has(event)) {
        return;
      }
      let ack: AckCallback | null = null;
      if (args.length > 0 && typeof args[args.length - 1] === 'function') {
        ack = args.pop() as AckCallback;
      }
      this.addLog('in', `${event} ${preview(args)}`);
      const handled = this.onServerEvent(event, args, ack);
      if (this.driving && this.listensTo(event)) {
        this._forwardEvent(event, args, handled ? null : ack);
      } else if (ack !== null && !handled) {
        // Nobody will answer: acknowledge with nothing rather than let the server wait.
        ack();
      }
    });
    socket.connect();
  }

  /** Close the socket for good (the model is going away). */
  closeSocket(): void {
    this._clearIdleTimer();
    if (this.socket !== null) {
      this.socket.disconnect();
    }
    for (const reply of this._pendingReplies.values()) {
      reply();
    }
    this._pendingReplies.clear();
  }

  /** Set status attributes locally and sync them to the kernel. */
  setStatus(values: Record<string, unknown>): void {
    this.set(values);
    this.saveIfLive();
  }

  /** Push local changes to the kernel, when this page speaks for it. */
  saveIfLive(): void {
    if (this.comm_live && this.driving) {
      this.save_changes();
    }
  }

  /** Whether the kernel asked for `event` (or for everything, `*`). */
  listensTo(event: string): boolean {
    const listen = (this.get('_listen') as string[]) || [];
    return listen.includes(event) || listen.includes('*');
  }

  /**
   * Emit to the server and log it. `callback` gets the ack (with `timeoutMs`, an error
   * first, as socket.io-client's `timeout()` does).
   */
  emitToServer(
    event: string,
    args: unknown[],
    callback?: (err: Error | null, ...resp: unknown[]) => void,
    timeoutMs?: number
  ): void {
    const socket = this.socket;
    this.addLog('out', `${event} ${preview(args)}`);
    if (socket === null) {
      callback?.(new Error('disconnected'));
      return;
    }
    if (callback === undefined) {
      socket.emit(event, ...args);
    } else if (timeoutMs !== undefined) {
      socket.timeout(timeoutMs).emit(event, ...args, callback);
    } else {
      socket.emit(event, ...args, (...resp: unknown[]) => callback(null, ...resp));
    }
  }

  /** Append to the event log (capped) and tell the views. */
  addLog(dir: ILogEntry['dir'], text: string): void {
    this.log.push({ time: Date.now(), dir, text: text.slice(0, 400) });
    this._trimLog();
    this.trigger('log:changed', this.log);
  }

  /** Hook: a server event arrived; return true when the model answered its ack itself. */
  protected onServerEvent(
    _event: string,
    _args: unknown[],
    _ack: AckCallback | null
  ): boolean {
    return false;
  }

  /** Hook: the socket (re)connected. */
  protected onConnected(_socket: Socket): void {
    // Subclasses join rooms, ask for state, etc.
  }

  /** Hook: the socket disconnected. */
  protected onDisconnected(_reason: string): void {
    // Subclasses clear state.
  }

  /** Hook: a kernel message of a kind this class does not know. */
  protected onKernelMessage(
    _msg: KernelToBrowser,
    _buffers: (ArrayBuffer | ArrayBufferView)[] | undefined
  ): void {
    // Subclasses handle their own kinds.
  }

  /** Send a message to the kernel, with binary values as comm buffers, signed by this page. */
  protected sendToKernel(msg: BrowserToKernel): void {
    if (!this.comm_live) {
      return;
    }
    const { json, buffers } = deconstruct({ ...msg, page: this.page });
    this.send(json as never, {}, buffers);
  }

  private _clearIdleTimer(): void {
    if (this._idleTimer !== null) {
      window.clearTimeout(this._idleTimer);
      this._idleTimer = null;
    }
  }

  /** `_driver` or `_listen` changed: take up speaking for the kernel, or hand it over. */
  private _roleChanged(): void {
    const driving = this.driving;
    const tookOver = driving && !this._driving;
    this._driving = driving;
    if (!driving) {
      this._kernelDriven = false;
      this._closeIfUnused();
      return;
    }
    if (tookOver && this.socket !== null) {
      // The kernel's status is now this page's, and so is its connection.
      this.saveIfLive();
      if (this.socket?.connected) {
        this._forwardLifecycle('connect', []);
      }
    }
    const listen = (this.get('_listen') as string[]) || [];
    if (listen.length > 0 && !this._kernelDriven) {
      this.markKernelDriven();
      if (this.get('autoconnect') !== false) {
        this.openSocket();
      }
    }
  }

  /** Close the socket when no view shows it and the kernel does not use it here. */
  private _closeIfUnused(): void {
    if (this._views > 0 || this._kernelDriven || this._idleTimer !== null) {
      return;
    }
    if (this.socket !== null && this.socket.active) {
      this.addLog('sys', 'no view left: closing');
      this.socket.disconnect();
    }
  }

  private _trimLog(): void {
    const limit = Math.max(
      0,
      Math.min(Number(this.get('log_limit')) || 0, LOG_HARD_LIMIT)
    );
    if (this.log.length > limit) {
      this.log.splice(0, this.log.length - limit);
    }
  }

  private _forwardLifecycle(
    event: 'connect' | 'disconnect' | 'connect_error',
    args: unknown[]
  ): void {
    if (this.driving && this.listensTo(event)) {
      this.sendToKernel({ kind: 'lifecycle', event, args });
    }
  }

  private _forwardEvent(
    event: string,
    args: unknown[],
    ack: AckCallback | null
  ): void {
    let id: number | null = null;
    if (ack !== null) {
      id = this._nextReply++;
      this._pendingReplies.set(id, ack);
    }
    this.sendToKernel({ kind: 'event', event, args, ack: id });
  }

  private _handleCustom(
    content: unknown,
    buffers: (ArrayBuffer | ArrayBufferView)[] | undefined
  ): void {
    const msg = reconstruct(content, buffers) as KernelToBrowser;
    if (msg === null || typeof msg !== 'object') {
      return;
    }
    if (typeof msg.to === 'string' && msg.to !== this.page) {
      return; // for another page on this kernel
    }
    this.markKernelDriven();
    if (msg.kind !== 'disconnect' && msg.kind !== 'reply') {
      this.openSocket();
    }
    switch (msg.kind) {
      case 'emit': {
        const args = Array.isArray(msg.args) ? msg.args : [];
        if (msg.ack === null || msg.ack === undefined) {
          this.emitToServer(msg.event, args);
          return;
        }
        const ackId = msg.ack;
        const timeoutMs =
          typeof msg.timeout === 'number' ? Math.max(0, msg.timeout * 1000) : undefined;
        this.emitToServer(
          msg.event,
          args,
          (err, ...resp) => {
            if (err) {
              const error = /timed out|timeout/i.test(err.message)
                ? 'timeout'
                : err.message || 'error';
              this.addLog('error', `no ack for ${msg.event}: ${error}`);
              this.sendToKernel({ kind: 'ack', ack: ackId, args: [], error });
            } else {
              this.addLog('ack', `${msg.event} → ${preview(resp)}`);
              this.sendToKernel({ kind: 'ack', ack: ackId, args: resp, error: null });
            }
          },
          timeoutMs
        );
        return;
      }
      case 'reply': {
        const reply = this._pendingReplies.get(msg.ack);
        if (reply !== undefined) {
          this._pendingReplies.delete(msg.ack);
          reply(...(Array.isArray(msg.args) ? msg.args : []));
        }
        return;
      }
      case 'connect':
        this.openSocket();
        return;
      case 'disconnect':
        if (this.socket !== null) {
          this.socket.disconnect();
        }
        return;
      default:
        this.onKernelMessage(msg, buffers);
    }
  }
}
