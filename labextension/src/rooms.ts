// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * `RoomsView`: the talk's "Need info about rooms?" — a live table of namespaces, rooms
 * and member counts. It asks `/hub`'s `rooms()` every `interval` seconds (and also takes
 * a pushed `rooms` event), and syncs the rows to the kernel as `table` when they change.
 */

import type { Socket } from 'socket.io-client';

import { clear, h } from './dom';
import { ackError, IRoomRow, roomRows } from './hub';
import { SocketModel } from './model';
import { SocketView } from './view';

export class RoomsModel extends SocketModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'RoomsModel',
      _view_name: 'RoomsView',
      namespace: '/hub',
      interval: 1.0,
      table: [],
      updated: ''
    };
  }

  rows!: IRoomRow[];
  private _poll!: number | null;

  initialize(
    attributes: Backbone.ObjectHash,
    options: Parameters<SocketModel['initialize']>[1]
  ): void {
    this.rows = [];
    this._poll = null;
    super.initialize(attributes, options);
    this.on('change:interval', () => this.socket?.connected && this._startPolling(), this);
    this.once('destroy', () => this._stopPolling(), this);
  }

  /** Ask `rooms()` once. */
  refresh(): void {
    const socket = this.socket;
    if (socket === null || !socket.connected) {
      return;
    }
    const timeout = Math.max(500, this._intervalMs());
    socket.timeout(timeout).emit('rooms', (err: Error | null, ...resp: unknown[]) => {
      if (err) {
        return;
      }
      const error = ackError(resp);
      if (error !== null) {
        this.setStatus({ error });
        return;
      }
      this._setRows(resp[0]);
    });
  }

  protected onConnected(_socket: Socket): void {
    this._startPolling();
    this.refresh();
  }

  protected onDisconnected(_reason: string): void {
    this._stopPolling();
  }

  protected onServerEvent(
    event: string,
    args: unknown[],
    _ack: ((...args: unknown[]) => void) | null
  ): boolean {
    if (event === 'rooms') {
      this._setRows(args[0]);
    }
    return false;
  }

  private _setRows(value: unknown): void {
    const rows = roomRows(value, this.namespace);
    const table = rows.map(r => [r.namespace, r.room, r.members]);
    const changed = JSON.stringify(table) !== JSON.stringify(this.get('table') || []);
    this.rows = rows;
    if (changed) {
      this.setStatus({ table, updated: new Date().toISOString() });
      this.trigger('rows:changed', rows);
    }
  }

  private _intervalMs(): number {
    const seconds = Number(this.get('interval'));
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000;
  }

  private _startPolling(): void {
    this._stopPolling();
    this._poll = window.setInterval(() => this.refresh(), this._intervalMs());
  }

  private _stopPolling(): void {
    if (this._poll !== null) {
      window.clearInterval(this._poll);
      this._poll = null;
    }
  }
}

export class RoomsView extends SocketView {
  declare model: RoomsModel;
  private bodyEl!: HTMLTableSectionElement;

  render(): void {
    super.render();
    this.el.classList.add('jrt-rooms');
    this.el.dataset.testid = 'jrt-rooms';
    this.bodyEl = h('tbody', { cls: 'jrt-rooms-body' });
    const head = h('thead', {}, [
      h('tr', {}, [
        h('th', { text: 'namespace' }),
        h('th', { text: 'room' }),
        h('th', { text: 'members' })
      ])
    ]);
    this.el.append(
      h('div', { cls: 'jrt-header' }, [
        this.statusEl,
        h('span', { cls: 'jrt-namespace', text: 'rooms' })
      ]),
      h('table', { cls: 'jrt-rooms-table' }, [head, this.bodyEl])
    );
    this.listenTo(this.model, 'change:table', this.renderRows);
    this.renderRows();
  }

  private renderRows(): void {
    clear(this.bodyEl);
    const table = (this.model.get('table') as [string, string, number | null][]) || [];
    if (table.length === 0) {
      const td = h('td', { cls: 'jrt-rooms-empty', text: 'no rooms' });
      td.colSpan = 3;
      this.bodyEl.appendChild(h('tr', {}, [td]));
      return;
    }
    for (const [namespace, room, members] of table) {
      const tr = h('tr', { cls: 'jrt-rooms-row' }, [
        h('td', { cls: 'jrt-rooms-ns', text: namespace }),
        h('td', { cls: 'jrt-rooms-room', text: room }),
        h('td', {
          cls: 'jrt-rooms-count',
          text: members === null ? '' : String(members)
        })
      ]);
      tr.dataset.namespace = namespace;
      tr.dataset.room = room;
      this.bodyEl.appendChild(tr);
    }
  }
}
