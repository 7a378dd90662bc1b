// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * The data behind the "Realtime" panel: a socket on the server's reserved namespace
 * `/jupyter/monitor` (see `jupyter_rt.monitor`), opened after asking the server's door
 * (`GET {base_url}socket.io/monitor`, which lets this page's logged-in user watch), and the
 * view and chart samples it receives. No kernel is involved.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { Manager, Socket } from 'socket.io-client';

import { authHeaders, endpoint, pageBaseUrl } from './connection';

/** A socket as the monitor lists it. */
export interface IMonitorSocket {
  id: string;
  transport: string;
  user: string | null;
}

/** A room and how many of this server's sockets are in it. */
export interface IMonitorRoom {
  name: string;
  members: number;
}

/** One namespace of the view (lists bounded by the server; the counts are exact). */
export interface IMonitorNamespace {
  name: string;
  socketCount: number;
  roomCount: number;
  sockets: IMonitorSocket[];
  rooms: IMonitorRoom[];
}

/** What the panel shows: the whole view. */
export interface IMonitorView {
  time: number;
  clients: number;
  sockets: number;
  namespaceCount: number;
  namespaces: IMonitorNamespace[];
}

/** One point of the chart: events received and sent since the previous one, sockets now. */
export interface ISample {
  time: number;
  received: number;
  sent: number;
  sockets: number;
}

/** The connection's state, as the panel's status line says it. */
export type MonitorState = 'idle' | 'connecting' | 'connected' | 'error';

/** Chart samples kept (the server sends at most two a second: ten minutes). */
const MAX_SAMPLES = 1200;
/** How long a hidden panel keeps watching before it lets go (ms). */
export const LINGER_MS = 30_000;

/**
 * The monitor connection. `start()` connects (idempotent), `stop()` disconnects; `changed`
 * is called after every message and state change.
 */
export class MonitorModel {
  state: MonitorState = 'idle';
  /** Why the server refused or the connection failed (for the status line). */
  error = '';
  view: IMonitorView | null = null;
  samples: ISample[] = [];
  /** Seconds between the server's updates. */
  interval = 0.5;
  changed: () => void = () => undefined;

  private socket: Socket | null = null;
  /** Whether the panel wants to watch (false once `stop()` was called). */
  private wanted = false;
  private serverTime = 0;
  private receivedAt = 0;
  private retried = false;

  /** The server's clock now, estimated from the last message (seconds). */
  now(): number {
    if (this.receivedAt === 0) {
      return 0;
    }
    return this.serverTime + (performance.now() - this.receivedAt) / 1000;
  }

  async start(): Promise<void> {
    if (this.wanted) {
      return;
    }
    this.wanted = true;
    this.setState('connecting');
    let namespace: string;
    try {
      namespace = await this.askDoor();
    } catch (error) {
      this.wanted = false;
      this.fail(String((error as Error).message ?? error));
      return;
    }
    if (!this.wanted || this.socket !== null) {
      return; // stopped while asking
    }
    const { origin, path } = endpoint();
    const manager = new Manager(origin, {
      path,
      withCredentials: true,
      extraHeaders: authHeaders(),
      reconnectionDelay: 1000,
      reconnectionDelayMax: 10_000
    });
    const socket = manager.socket(namespace);
    this.socket = socket;
    socket.on('connect', () => {
      this.retried = false;
      this.setState('connected');
    });
    socket.on('disconnect', () => this.setState('connecting'));
    socket.on('connect_error', (error: Error) => void this.refused(error));
    socket.on('snapshot', (data: unknown) => this.onSnapshot(data));
    socket.on('update', (data: unknown) => this.onUpdate(data));
  }

  /** Disconnect (its Manager closes with its only socket); `start()` connects again. */
  stop(): void {
    const socket = this.socket;
    this.wanted = false;
    this.socket = null;
    if (socket !== null) {
      socket.disconnect();
    }
    this.setState('idle');
  }

  private async askDoor(): Promise<string> {
    const url = URLExt.join(pageBaseUrl(), 'socket.io', 'monitor');
    const response = await fetch(url, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    });
    if (!response.ok) {
      throw new Error(
        response.status === 404
          ? 'the realtime monitor is off on this server (c.RealtimeApp.monitor)'
          : `the server answered ${response.status}`
      );
    }
    const answer = (await response.json()) as { namespace?: unknown };
    if (typeof answer.namespace !== 'string') {
      throw new Error('unexpected answer from socket.io/monitor');
    }
    return answer.namespace;
  }

  private async refused(error: Error): Promise<void> {
    const socket = this.socket;
    if (socket === null) {
      return;
    }
    // A server that restarted forgot who may watch: ask its door again, once.
    if (!this.retried && error.message.startsWith('not authorized')) {
      this.retried = true;
      try {
        await this.askDoor();
        socket.connect();
        return;
      } catch {
        // fall through: show the refusal
      }
    }
    this.stop(); // showing the panel again tries again
    this.fail(error.message);
  }

  private fail(message: string): void {
    this.error = message;
    this.setState('error');
  }

  private setState(state: MonitorState): void {
    this.state = state;
    if (state !== 'error') {
      this.error = '';
    }
    this.changed();
  }

  private stamp(time: number): void {
    this.serverTime = time;
    this.receivedAt = performance.now();
  }

  private onSnapshot(data: unknown): void {
    const snapshot = data as IMonitorView & {
      interval: number;
      history: [number, number, number, number][];
    };
    this.view = snapshot;
    this.interval = snapshot.interval;
    this.samples = snapshot.history.map(([time, received, sent, sockets]) => ({
      time,
      received,
      sent,
      sockets
    }));
    this.stamp(snapshot.time);
    this.changed();
  }

  private onUpdate(data: unknown): void {
    const update = data as Partial<IMonitorView> & ISample;
    if (update.namespaces !== undefined && this.view !== null) {
      this.view = update as IMonitorView;
    } else if (this.view !== null) {
      this.view = { ...this.view, sockets: update.sockets };
    }
    this.samples.push({
      time: update.time,
      received: update.received,
      sent: update.sent,
      sockets: update.sockets
    });
    if (this.samples.length > MAX_SAMPLES) {
      this.samples.splice(0, this.samples.length - MAX_SAMPLES);
    }
    this.stamp(update.time);
    this.changed();
  }
}
