// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * The "Realtime" side panel: this Jupyter server's namespaces, rooms with member counts,
 * sockets with their transport and user, and a live chart of events/s and sockets. It
 * watches (a socket on `/jupyter/monitor`) while shown, and lets go a little after it is
 * hidden, so a server nobody looks at counts nothing.
 */

import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { clear, h } from './dom';
import { BUCKET_S, drawChart, makeChart, series } from './panelChart';
import {
  IMonitorNamespace,
  IMonitorView,
  LINGER_MS,
  MonitorModel
} from './panelModel';

/** The panel's widget id (for `app.shell.activateById`). */
export const PANEL_ID = 'jupyter-rt-realtime';

export class RealtimePanel extends Widget {
  readonly model = new MonitorModel();
  private readonly statusEl: HTMLElement;
  private readonly totalsEl: HTMLElement;
  private readonly chart: SVGSVGElement;
  private readonly legendEl: HTMLElement;
  private readonly listEl: HTMLElement;
  /** Namespaces the user opened or closed (kept across re-renders). */
  private readonly opened = new Map<string, boolean>();
  private redrawTimer = 0;
  private lingerTimer = 0;

  constructor() {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-RealtimePanel');
    this.title.caption = 'Realtime';
    this.title.iconClass = 'jp-RealtimePanel-icon jp-SideBar-tabIcon';
    this.statusEl = h('div', { cls: 'jp-RealtimePanel-status' });
    this.totalsEl = h('div', { cls: 'jp-RealtimePanel-totals' });
    this.chart = makeChart();
    this.legendEl = h('div', { cls: 'jp-RealtimePanel-legend' });
    this.listEl = h('div', { cls: 'jp-RealtimePanel-namespaces' });
    const header = h('div', { cls: 'jp-RealtimePanel-header' }, [
      h('h2', { cls: 'jp-RealtimePanel-title', text: 'Realtime' }),
      this.statusEl
    ]);
    this.node.append(header, this.totalsEl, this.chart, this.legendEl, this.listEl);
    this.model.changed = () => this.render();
    this.render();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    window.clearTimeout(this.lingerTimer);
    void this.model.start();
    window.clearInterval(this.redrawTimer);
    this.redrawTimer = window.setInterval(() => this.renderChart(), 1000);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    window.clearInterval(this.redrawTimer);
    window.clearTimeout(this.lingerTimer);
    this.lingerTimer = window.setTimeout(() => this.model.stop(), LINGER_MS);
  }

  dispose(): void {
    window.clearInterval(this.redrawTimer);
    window.clearTimeout(this.lingerTimer);
    this.model.stop();
    super.dispose();
  }

  private render(): void {
    const model = this.model;
    this.statusEl.dataset.state = model.state;
    this.statusEl.textContent =
      model.state === 'error' ? `not watching: ${model.error}` : model.state;
    const view = model.view;
    if (view === null) {
      this.totalsEl.textContent = '';
      clear(this.listEl);
      this.renderChart();
      return;
    }
    this.totalsEl.textContent = [
      count(view.clients, 'client'),
      count(view.sockets, 'socket'),
      count(view.namespaceCount, 'namespace')
    ].join(' · ');
    this.renderNamespaces(view);
    this.renderChart();
  }

  private renderChart(): void {
    const model = this.model;
    const view = model.view;
    const data = series(model.samples, model.now(), view?.sockets ?? 0);
    drawChart(this.chart, data);
    const rate = data.rates[data.rates.length - 1] ?? 0;
    const sockets = data.sockets[data.sockets.length - 1] ?? 0;
    clear(this.legendEl);
    this.legendEl.append(
      h('span', {
        cls: 'jp-RealtimePanel-legendEvents',
        text: `events/s ${rate.toFixed(1)} (${BUCKET_S} s avg)`
      }),
      h('span', {
        cls: 'jp-RealtimePanel-legendSockets',
        text: `sockets ${sockets}`
      }),
      h('span', { cls: 'jp-RealtimePanel-legendSpan', text: 'last 5 min' })
    );
  }

  private renderNamespaces(view: IMonitorView): void {
    clear(this.listEl);
    for (const nsp of view.namespaces) {
      this.listEl.appendChild(renderNamespace(nsp, this.opened));
    }
    const hidden = view.namespaceCount - view.namespaces.length;
    if (hidden > 0) {
      this.listEl.appendChild(
        h('div', { cls: 'jp-RealtimePanel-more', text: `and ${hidden} more namespaces` })
      );
    }
  }
}

/** `1 socket`, `2 sockets`. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function renderNamespace(nsp: IMonitorNamespace, opened: Map<string, boolean>): HTMLElement {
  const rooms = h('ul', { cls: 'jp-RealtimePanel-rooms' });
  for (const room of nsp.rooms) {
    rooms.appendChild(
      h('li', { cls: 'jp-RealtimePanel-room', attrs: { 'data-room': room.name } }, [
        h('span', { cls: 'jp-RealtimePanel-roomName', text: room.name }),
        h('span', { cls: 'jp-RealtimePanel-members', text: String(room.members) })
      ])
    );
  }
  if (nsp.roomCount > nsp.rooms.length) {
    rooms.appendChild(
      h('li', {
        cls: 'jp-RealtimePanel-more',
        text: `and ${nsp.roomCount - nsp.rooms.length} more rooms`
      })
    );
  }
  const sockets = h('ul', { cls: 'jp-RealtimePanel-sockets' });
  for (const socket of nsp.sockets) {
    sockets.appendChild(
      h('li', { cls: 'jp-RealtimePanel-socket', attrs: { 'data-sid': socket.id } }, [
        h('span', { cls: 'jp-RealtimePanel-sid', text: socket.id }),
        h('span', { cls: 'jp-RealtimePanel-transport', text: socket.transport }),
        h('span', { cls: 'jp-RealtimePanel-user', text: socket.user ?? '—' })
      ])
    );
  }
  if (nsp.socketCount > nsp.sockets.length) {
    sockets.appendChild(
      h('li', {
        cls: 'jp-RealtimePanel-more',
        text: `and ${nsp.socketCount - nsp.sockets.length} more sockets`
      })
    );
  }
  const details = h('details', {
    cls: 'jp-RealtimePanel-namespace',
    attrs: { 'data-name': nsp.name }
  });
  details.open = opened.get(nsp.name) ?? nsp.socketCount > 0;
  details.addEventListener('toggle', () => opened.set(nsp.name, details.open));
  details.append(
    h('summary', {}, [
      h('span', { cls: 'jp-RealtimePanel-nspName', text: nsp.name }),
      h('span', {
        cls: 'jp-RealtimePanel-count',
        text: `${count(nsp.socketCount, 'socket')} · ${count(nsp.roomCount, 'room')}`
      })
    ]),
    h('div', { cls: 'jp-RealtimePanel-label', text: 'Rooms' }),
    rooms,
    h('div', { cls: 'jp-RealtimePanel-label', text: 'Sockets' }),
    sockets
  );
  return details;
}
