// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * The panel's small live chart, plain SVG: events per second (received + sent) and connected
 * sockets over the last minutes, each line scaled to its own maximum.
 */

import type { ISample } from './panelModel';

const SVG = 'http://www.w3.org/2000/svg';
/** The chart's time span (seconds) and the width of one bucket of events. */
export const WINDOW_S = 300;
export const BUCKET_S = 5;
const WIDTH = 300;
const HEIGHT = 60;

/** One line of the chart: values per bucket, oldest first. */
export interface ISeries {
  rates: number[];
  sockets: number[];
}

/**
 * Events per second and sockets per bucket, for the window ending at `now` (server clock).
 * A bucket with no sample had no event; the socket count holds its last value (`initial`
 * before the first sample).
 */
export function series(samples: ISample[], now: number, initial: number): ISeries {
  const buckets = Math.ceil(WINDOW_S / BUCKET_S);
  const start = now - buckets * BUCKET_S;
  const events = new Array<number>(buckets).fill(0);
  const sockets = new Array<number>(buckets).fill(NaN);
  let before = samples.length > 0 ? NaN : initial;
  for (const sample of samples) {
    const index = Math.floor((sample.time - start) / BUCKET_S);
    if (index < 0) {
      before = sample.sockets;
      continue;
    }
    if (index >= buckets) {
      continue;
    }
    events[index] += sample.received + sample.sent;
    sockets[index] = sample.sockets;
  }
  let last = Number.isNaN(before) ? (samples[0]?.sockets ?? initial) : before;
  for (let i = 0; i < buckets; i++) {
    if (Number.isNaN(sockets[i])) {
      sockets[i] = last;
    } else {
      last = sockets[i];
    }
  }
  return { rates: events.map(count => count / BUCKET_S), sockets };
}

function polyline(values: number[], cls: string): SVGPolylineElement {
  const max = Math.max(1, ...values);
  const step = WIDTH / Math.max(1, values.length - 1);
  const points = values
    .map((v, i) => {
      const x = (i * step).toFixed(1);
      const y = (HEIGHT - 2 - (v / max) * (HEIGHT - 4)).toFixed(1);
      return `${x},${y}`;
    })
    .join(' ');
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', points);
  line.setAttribute('class', cls);
  return line;
}

/** Draw `data` into `svg` (an `<svg>` made by {@link makeChart}), replacing what was there. */
export function drawChart(svg: SVGSVGElement, data: ISeries): void {
  while (svg.firstChild) {
    svg.removeChild(svg.firstChild);
  }
  svg.appendChild(polyline(data.sockets, 'jp-RealtimePanel-chartSockets'));
  svg.appendChild(polyline(data.rates, 'jp-RealtimePanel-chartEvents'));
}

/** An empty chart element. */
export function makeChart(): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'jp-RealtimePanel-chart');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'events per second and sockets, last five minutes');
  svg.dataset.testid = 'jp-RealtimePanel-chart';
  return svg;
}
