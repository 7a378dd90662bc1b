// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * The custom comm messages between a widget model in the browser and its Python object
 * in the kernel (`model.send` / `msg:custom`). Python mirrors these in
 * jupyter_rt/widgets/_messages.py. Status (`connected`, `transport`, `sid`, `rooms`,
 * `error`) travels as synced traits, not as messages.
 *
 * Ack ids are chosen by whoever waits for the ack: the kernel for `emit`, the browser for
 * server events that ask for an ack.
 *
 * Every page on the kernel gets every kernel → browser message: `to` names the page (its
 * kernel client id) that acts on it, and the others ignore it (`null`: every page acts).
 * Browser → kernel messages carry the sending `page`.
 */

/** What every kernel → browser message carries: the page that acts on it. */
export interface IAddressed {
  to?: string | null;
}

/** Kernel → browser: emit `event` with `args`; `ack` set when the kernel wants the reply. */
export interface IEmitMsg {
  kind: 'emit';
  event: string;
  args: unknown[];
  ack: number | null;
  /** Seconds to wait for the ack (only with `ack`); `null` waits forever. */
  timeout: number | null;
}

/** Kernel → browser: the kernel handler's return value for a server event with an ack. */
export interface IReplyMsg {
  kind: 'reply';
  ack: number;
  args: unknown[];
}

/** Kernel → browser: open or close the socket. */
export interface IControlMsg {
  kind: 'connect' | 'disconnect';
}

/** Kernel → browser: a line of chat input, exactly as if typed (commands included). */
export interface IChatInputMsg {
  kind: 'chat';
  text: string;
}

export type KernelToBrowser = (IEmitMsg | IReplyMsg | IControlMsg | IChatInputMsg) &
  IAddressed;

/** Browser → kernel: a server event the kernel listens to (`_listen`). */
export interface IEventMsg {
  kind: 'event';
  event: string;
  args: unknown[];
  /** Set when the server asked for an ack: answer with a `reply` carrying this id. */
  ack: number | null;
}

/** Browser → kernel: the result of an `emit` that asked for an ack. */
export interface IAckMsg {
  kind: 'ack';
  ack: number;
  args: unknown[];
  /** Set instead of `args` when no ack came: `"timeout"` or `"disconnected"`. */
  error: string | null;
}

/** Browser → kernel: a socket lifecycle event, for kernel `on("connect")` etc. handlers. */
export interface ILifecycleMsg {
  kind: 'lifecycle';
  event: 'connect' | 'disconnect' | 'connect_error';
  args: unknown[];
}

/** Browser → kernel: this page shows the widget now, or no more. */
export interface IViewsMsg {
  kind: 'views';
  shown: boolean;
}

export type BrowserToKernel = IEventMsg | IAckMsg | ILifecycleMsg | IViewsMsg;
