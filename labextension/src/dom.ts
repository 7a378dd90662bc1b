// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * Small DOM helpers. Every piece of text that may come from a peer goes in through
 * `textContent`, never `innerHTML`: chat messages, room names and event payloads are
 * untrusted.
 */

export interface IElementOptions {
  /** CSS classes (the first one is also the `data-testid`, unless `testid` is given). */
  cls?: string | string[];
  /** `data-testid`, for browser tests. */
  testid?: string;
  /** Plain text content (assigned with `textContent`). */
  text?: string;
  /** Other attributes (strings only; never event handlers). */
  attrs?: Record<string, string>;
}

/** Create an element with classes, a test id and plain text. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: IElementOptions = {},
  children: Node[] = []
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  const classes =
    options.cls === undefined
      ? []
      : Array.isArray(options.cls)
        ? options.cls
        : [options.cls];
  if (classes.length > 0) {
    el.classList.add(...classes);
  }
  const testid = options.testid ?? classes[0];
  if (testid !== undefined) {
    el.dataset.testid = testid;
  }
  if (options.text !== undefined) {
    el.textContent = options.text;
  }
  for (const [name, value] of Object.entries(options.attrs ?? {})) {
    if (name.toLowerCase().startsWith('on')) {
      continue;
    }
    el.setAttribute(name, value);
  }
  for (const child of children) {
    el.appendChild(child);
  }
  return el;
}

/** Remove every child of `el`. */
export function clear(el: Element): void {
  while (el.firstChild) {
    el.removeChild(el.firstChild);
  }
}

/** A short, single-line rendering of event arguments for logs. */
export function preview(value: unknown, limit = 160): string {
  let text: string;
  try {
    text = JSON.stringify(value, (_key, v) =>
      v instanceof ArrayBuffer || ArrayBuffer.isView(v)
        ? `<${(v as ArrayBuffer).byteLength} bytes>`
        : v
    );
  } catch {
    text = String(value);
  }
  if (text === undefined) {
    text = String(value);
  }
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}
