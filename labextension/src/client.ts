// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * `RealtimeClient`: a general Socket.IO client on the page, driven from the kernel.
 * By default on `/hub`, whose `join`/`leave`/`publish` events give rooms with no server
 * code. The model re-joins `rooms` after every reconnect; the view is a status line,
 * the joined rooms and a capped live log of what went in and out.
 */

import type { Socket } from 'socket.io-client';

import { clear, h, preview } from './dom';
import { ackError } from './hub';
import { SocketModel } from './model';
import { SocketView } from './view';

export class RealtimeClientModel extends SocketModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'RealtimeClientModel',
      _view_name: 'RealtimeClientView',
      namespace: '/hub',
      rooms: []
    };
  }

  protected onConnected(_socket: Socket): void {
    // A new connection is in no room: join those the kernel asked for.
    const rooms = [...((this.get('rooms') as string[]) || [])];
    for (const room of rooms) {
      this.emitToServer(
        'join',
        [room],
        (err, ...resp) => {
          const error = err ? err.message : ackError(resp);
          if (error === null) {
            this.addLog('ack', `join ${room} → ${preview(resp)}`);
          } else {
            this.addLog('error', `join ${room}: ${error}`);
            const now = (this.get('rooms') as string[]).filter(r => r !== room);
            this.setStatus({ rooms: now });
          }
        },
        5000
      );
    }
  }
}

export class RealtimeClientView extends SocketView {
  declare model: RealtimeClientModel;
  private roomsEl!: HTMLElement;
  private logEl!: HTMLOListElement;

  render(): void {
    super.render();
    this.el.classList.add('jrt-client');
    this.el.dataset.testid = 'jrt-client';
    this.roomsEl = h('span', { cls: 'jrt-client-rooms' });
    const header = h('div', { cls: 'jrt-header' }, [
      this.statusEl,
      h('span', { cls: 'jrt-namespace', text: this.model.namespace }),
      this.roomsEl
    ]);
    this.logEl = h('ol', { cls: 'jrt-log' });
    this.el.append(header, this.logEl);
    this.listenTo(this.model, 'change:rooms', this.renderRooms);
    this.listenTo(this.model, 'log:changed', this.renderLog);
    this.renderRooms();
    this.renderLog();
  }

  private renderRooms(): void {
    clear(this.roomsEl);
    for (const room of (this.model.get('rooms') as string[]) || []) {
      this.roomsEl.appendChild(h('span', { cls: 'jrt-room', text: room }));
    }
  }

  private renderLog(): void {
    const atBottom =
      this.logEl.scrollTop + this.logEl.clientHeight >= this.logEl.scrollHeight - 4;
    clear(this.logEl);
    for (const entry of this.model.log) {
      const time = new Date(entry.time).toLocaleTimeString();
      const li = h('li', { cls: ['jrt-log-entry', `jrt-log-${entry.dir}`] }, [
        h('span', { cls: 'jrt-log-time', text: time }),
        h('span', { cls: 'jrt-log-text', text: entry.text })
      ]);
      li.dataset.dir = entry.dir;
      this.logEl.appendChild(li);
    }
    if (atBottom) {
      this.logEl.scrollTop = this.logEl.scrollHeight;
    }
  }
}
