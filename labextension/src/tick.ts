// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * `TickWidget`: the talk's proof of concept on `/tick`. The server sends
 * `tickEvent {tick: n}` every second; the page shows n and answers
 * `tickReceivedEvent {tick: n}`. Everything happens in the browser, so the count keeps
 * climbing while the kernel is busy; `tick` is synced back to the kernel.
 */

import { h } from './dom';
import { SocketModel } from './model';
import { SocketView } from './view';

export class TickModel extends SocketModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'TickModel',
      _view_name: 'TickView',
      namespace: '/tick',
      tick: null,
      received: 0
    };
  }

  protected onServerEvent(
    event: string,
    args: unknown[],
    _ack: ((...args: unknown[]) => void) | null
  ): boolean {
    if (event !== 'tickEvent') {
      return false;
    }
    const data = args[0] as { tick?: unknown } | undefined;
    const tick = data && typeof data.tick === 'number' ? data.tick : null;
    if (tick === null) {
      return false;
    }
    this.set({ tick, received: (Number(this.get('received')) || 0) + 1 });
    this.saveIfLive();
    this.emitToServer('tickReceivedEvent', [{ tick }]);
    return false;
  }
}

export class TickView extends SocketView {
  private countEl!: HTMLElement;

  render(): void {
    super.render();
    this.el.classList.add('jrt-tick');
    this.el.dataset.testid = 'jrt-tick';
    this.countEl = h('span', { cls: 'jrt-tick-count' });
    this.el.append(
      h('div', { cls: 'jrt-header' }, [
        this.statusEl,
        h('span', { cls: 'jrt-namespace', text: this.model.namespace })
      ]),
      h('div', { cls: 'jrt-tick-line' }, [
        h('span', { cls: 'jrt-tick-label', text: 'tick ' }),
        this.countEl
      ])
    );
    this.listenTo(this.model, 'change:tick', this.renderTick);
    this.renderTick();
  }

  private renderTick(): void {
    const tick = this.model.get('tick');
    this.countEl.textContent = tick === null || tick === undefined ? '–' : String(tick);
    this.countEl.dataset.tick = tick === null || tick === undefined ? '' : String(tick);
  }
}
