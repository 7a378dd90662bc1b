// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

import { DOMWidgetView } from '@jupyter-widgets/base';

import { h } from './dom';
import type { SocketModel } from './model';

/**
 * The base of every jupyter_rt view: a root element with the `jrt` class and a status
 * line (`.jrt-status`, `data-state="connected|disconnected|error"`, `data-transport`).
 */
export class SocketView extends DOMWidgetView {
  declare model: SocketModel;
  protected statusEl!: HTMLElement;

  render(): void {
    this.el.classList.add('jrt');
    this.statusEl = h('span', { cls: 'jrt-status' });
    this.listenTo(this.model, 'change:connected', this.renderStatus);
    this.listenTo(this.model, 'change:transport', this.renderStatus);
    this.listenTo(this.model, 'change:sid', this.renderStatus);
    this.listenTo(this.model, 'change:error', this.renderStatus);
    this.renderStatus();
    this.model.attachView();
  }

  remove(): unknown {
    this.model.detachView();
    return super.remove();
  }

  /** Show connected/disconnected, the transport and the sid. */
  protected renderStatus(): void {
    const connected = this.model.get('connected') === true;
    const transport = String(this.model.get('transport') || '');
    const sid = String(this.model.get('sid') || '');
    const error = String(this.model.get('error') || '');
    let state = connected ? 'connected' : 'disconnected';
    let text = connected ? `● ${transport}` : '○ disconnected';
    if (!connected && error) {
      state = 'error';
      text = `○ ${error}`;
    }
    this.statusEl.dataset.state = state;
    this.statusEl.dataset.transport = transport;
    this.statusEl.dataset.sid = sid;
    this.statusEl.textContent = text;
    this.statusEl.title = connected
      ? `${this.model.namespace} · ${transport} · sid ${sid}`
      : `${this.model.namespace} · ${error || 'disconnected'}`;
  }
}
