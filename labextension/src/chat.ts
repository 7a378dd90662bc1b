// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

/**
 * `ChatWidget`: the talk's multi-room chat on `/chat`.
 *
 * Server events (see jupyter_rt.apps.chat): `nameAttempt name` → `nameResult
 * {success, name | message}`; `join {newRoom}` → `joinResult {room}`;
 * `message {room, text}` out, `message {text}` in; `rooms` → the list of rooms (as an
 * ack, or as a `rooms` event back). Input lines starting with `/` are commands:
 * `/nick NAME` and `/join ROOM`.
 *
 * After every (re)connect the server names the socket and puts it in `Lobby`; the model
 * then claims the chosen nickname (once) and moves to the chosen room. Lines wait until
 * both are done, and after a `/join` until the server confirms the room, so a line is
 * said in the room it was meant for, under the name it shows. A socket the server recovered
 * (connection state recovery) keeps its name and room: nothing is claimed or joined again.
 *
 * Every message is rendered with `textContent`: chat text is untrusted.
 */

import type { Socket } from 'socket.io-client';

import { clear, h } from './dom';
import type { KernelToBrowser } from './messages';
import { SocketModel } from './model';
import { SocketView } from './view';

/** One line in the message list. */
export interface IChatLine {
  kind: 'mine' | 'other' | 'system';
  text: string;
}

const MAX_LINES = 200;
const ROOMS_POLL_MS = 2000;
/** The `/chat` app ignores a `join` to a room whose name is blank or longer than this. */
const MAX_ROOM = 40;

function validRoom(room: string): boolean {
  return room.trim().length > 0 && room.length <= MAX_ROOM;
}

/** Room names out of a `rooms` answer: a list, or a `{room: members}` / 0.9-style map. */
export function roomNames(value: unknown, namespace: string): string[] {
  let names: string[] = [];
  if (Array.isArray(value)) {
    names = value.filter((v): v is string => typeof v === 'string');
  } else if (value !== null && typeof value === 'object') {
    const prefix = `${namespace.replace(/\/$/, '')}/`;
    for (const key of Object.keys(value as Record<string, unknown>)) {
      let name = key;
      if (name.startsWith(prefix)) {
        name = name.slice(prefix.length);
      } else if (name.startsWith('/')) {
        name = name.slice(1);
      }
      if (name) {
        names.push(name);
      }
    }
  }
  return Array.from(new Set(names)).sort((a, b) => a.localeCompare(b));
}

export class ChatModel extends SocketModel {
  defaults(): Backbone.ObjectHash {
    return {
      ...super.defaults(),
      _model_name: 'ChatModel',
      _view_name: 'ChatView',
      namespace: '/chat',
      room: 'Lobby',
      nickname: '',
      rooms: []
    };
  }

  /** The message list (newest last), shared by every view of this model. */
  lines!: IChatLine[];
  /** The room on the way to (`null`: whichever the server confirms next). */
  private _wantedRoom!: string | null;
  /** The nickname the user chose, claimed after every connect. */
  private _wantedNick!: string | null;
  /** Whether the server confirmed the room since the last connect or `/join`. */
  private _inRoom!: boolean;
  /** Whether the next joinResult is the server's welcome (to `Lobby`). */
  private _welcome!: boolean;
  /** Whether a nameAttempt for `_wantedNick` awaits its nameResult. */
  private _claiming!: boolean;
  /** Lines (and `/join`s) entered before the room and nickname were settled. */
  private _queue!: string[];
  private _poll!: number | null;

  initialize(
    attributes: Backbone.ObjectHash,
    options: Parameters<SocketModel['initialize']>[1]
  ): void {
    this.lines = [];
    this._wantedRoom = null;
    this._wantedNick = null;
    this._inRoom = false;
    this._welcome = false;
    this._claiming = false;
    this._queue = [];
    this._poll = null;
    super.initialize(attributes, options);
    const nick = String(this.get('nickname') || '');
    this._wantedNick = nick && !nick.startsWith('Guest') ? nick : null;
    this.once('destroy', () => this._stopPolling(), this);
  }

  /** Handle one line of input: a `/command` or a message to the current room. */
  input(text: string): void {
    const line = text.trim();
    if (!line) {
      return;
    }
    if (this._ready() || /^\/nick(\s|$)/i.test(line)) {
      this._enter(line);
    } else {
      this._queue.push(line);
    }
  }

  addLine(kind: IChatLine['kind'], text: string): void {
    this.lines.push({ kind, text });
    if (this.lines.length > MAX_LINES) {
      this.lines.splice(0, this.lines.length - MAX_LINES);
    }
    this.trigger('lines:changed', this.lines);
  }

  /** Ask the server for the room list. */
  requestRooms(): void {
    const socket = this.socket;
    if (socket === null || !socket.connected) {
      return;
    }
    // Not logged: it runs every couple of seconds.
    socket.timeout(ROOMS_POLL_MS).emit('rooms', (err: Error | null, value: unknown) => {
      if (!err) {
        this._setRooms(value);
      }
    });
  }

  protected onConnected(socket: Socket): void {
    if (socket.recovered) {
      // Connection state recovery: the server kept our name and room and sent the lines we
      // missed; it greets nobody again, so carry on where we were.
      this._startPolling();
      this.requestRooms();
      this._flush();
      return;
    }
    // The server greets a new socket with a name and `Lobby`; then we move on.
    const room = String(this.get('room') || '');
    this._wantedRoom = validRoom(room) ? room : null;
    this._inRoom = false;
    this._welcome = true;
    this._claiming = false;
    if (this._wantedNick !== null) {
      this._claim();
    }
    this._startPolling();
    this.requestRooms();
  }

  protected onDisconnected(reason: string): void {
    this._stopPolling();
    this.addLine('system', `Disconnected (${reason}).`);
  }

  protected onServerEvent(
    event: string,
    args: unknown[],
    _ack: ((...args: unknown[]) => void) | null
  ): boolean {
    const data = (args[0] ?? {}) as Record<string, unknown>;
    switch (event) {
      case 'nameResult':
        if (data.success) {
          const name = String(data.name ?? '');
          this.setStatus({ nickname: name });
          this.addLine('system', `You are now known as ${name}.`);
          this._claiming = this._claiming && name !== this._wantedNick;
        } else {
          this.addLine('system', String(data.message ?? 'That name is not available.'));
          this._claiming = false;
        }
        this._flush();
        break;
      case 'joinResult': {
        const room = String(data.room ?? '');
        const wanted = this._wantedRoom;
        const welcome = this._welcome;
        this._welcome = false;
        if (welcome && wanted !== null && wanted !== room) {
          this.emitToServer('join', [{ newRoom: wanted }]);
          break;
        }
        this.setStatus({ room });
        this.addLine('system', `Room changed: ${room}.`);
        if (wanted === null || wanted === room) {
          this._wantedRoom = null;
          this._inRoom = true;
        }
        this.requestRooms();
        this._flush();
        break;
      }
      case 'message':
        this.addLine('other', String(data.text ?? ''));
        break;
      case 'rooms':
        this._setRooms(args[0]);
        break;
      default:
        return false;
    }
    return false;
  }

  protected onKernelMessage(msg: KernelToBrowser): void {
    if (msg.kind === 'chat') {
      this.input(String(msg.text ?? ''));
    }
  }

  /** Whether a line may go now: connected, in the room, under the chosen name. */
  private _ready(): boolean {
    return this.socket?.connected === true && this._inRoom && !this._claiming;
  }

  /** Send what waited, in order, while the model stays ready. */
  private _flush(): void {
    while (this._queue.length > 0 && this._ready()) {
      this._enter(this._queue.shift() as string);
    }
  }

  private _enter(line: string): void {
    if (line.startsWith('/')) {
      this._command(line);
      return;
    }
    const room = String(this.get('room') || '');
    this.emitToServer('message', [{ room, text: line }]);
    const nick = String(this.get('nickname') || 'me');
    this.addLine('mine', `${nick}: ${line}`);
  }

  /** Ask for `_wantedNick`; lines wait for the answer. */
  private _claim(): void {
    this._claiming = true;
    this.emitToServer('nameAttempt', [this._wantedNick]);
  }

  private _command(line: string): void {
    const [command, ...rest] = line.slice(1).split(/\s+/);
    const arg = rest.join(' ').trim();
    switch (command.toLowerCase()) {
      case 'nick':
        if (!arg) {
          this.addLine('system', 'Usage: /nick NAME');
          return;
        }
        this._wantedNick = arg;
        if (this.socket?.connected) {
          this._claim(); // else claimed once connected
        }
        return;
      case 'join':
        if (!validRoom(arg)) {
          this.addLine('system', `Usage: /join ROOM (up to ${MAX_ROOM} characters)`);
          return;
        }
        this._wantedRoom = arg;
        this._inRoom = false;
        this.emitToServer('join', [{ newRoom: arg }]);
        return;
      default:
        this.addLine('system', 'Unrecognized command.');
    }
  }

  private _setRooms(value: unknown): void {
    const rooms = roomNames(value, this.namespace);
    const before = JSON.stringify(this.get('rooms') || []);
    if (JSON.stringify(rooms) !== before) {
      this.setStatus({ rooms });
    }
  }

  private _startPolling(): void {
    this._stopPolling();
    this._poll = window.setInterval(() => this.requestRooms(), ROOMS_POLL_MS);
  }

  private _stopPolling(): void {
    if (this._poll !== null) {
      window.clearInterval(this._poll);
      this._poll = null;
    }
  }
}

export class ChatView extends SocketView {
  declare model: ChatModel;
  private nickEl!: HTMLElement;
  private roomEl!: HTMLElement;
  private roomsEl!: HTMLUListElement;
  private messagesEl!: HTMLOListElement;
  private inputEl!: HTMLInputElement;

  render(): void {
    super.render();
    this.el.classList.add('jrt-chat');
    this.el.dataset.testid = 'jrt-chat';
    this.nickEl = h('span', { cls: 'jrt-chat-nick' });
    this.roomEl = h('span', { cls: 'jrt-chat-room' });
    this.roomsEl = h('ul', { cls: 'jrt-chat-rooms' });
    this.messagesEl = h('ol', { cls: 'jrt-chat-messages' });
    this.inputEl = h('input', {
      cls: 'jrt-chat-input',
      attrs: {
        type: 'text',
        placeholder: 'Message, /nick NAME or /join ROOM',
        autocomplete: 'off',
        'aria-label': 'Chat input'
      }
    });
    const send = h('button', {
      cls: 'jrt-chat-send',
      text: 'Send',
      attrs: { type: 'submit' }
    });
    const form = h('form', { cls: 'jrt-chat-form' }, [this.inputEl, send]);
    form.addEventListener('submit', event => {
      event.preventDefault();
      this.model.input(this.inputEl.value);
      this.inputEl.value = '';
    });
    // Keep JupyterLab's notebook shortcuts away from the input.
    this.inputEl.addEventListener('keydown', event => event.stopPropagation());

    this.el.append(
      h('div', { cls: 'jrt-header' }, [
        this.statusEl,
        h('span', { cls: 'jrt-chat-label', text: 'nick ' }),
        this.nickEl,
        h('span', { cls: 'jrt-chat-label', text: 'room ' }),
        this.roomEl
      ]),
      h('div', { cls: 'jrt-chat-body' }, [this.messagesEl, this.roomsEl]),
      form
    );
    this.listenTo(this.model, 'change:nickname', this.renderHeader);
    this.listenTo(this.model, 'change:room', this.renderHeader);
    this.listenTo(this.model, 'change:rooms', this.renderRooms);
    this.listenTo(this.model, 'lines:changed', this.renderLines);
    this.renderHeader();
    this.renderRooms();
    this.renderLines();
  }

  private renderHeader(): void {
    this.nickEl.textContent = String(this.model.get('nickname') || '');
    this.roomEl.textContent = String(this.model.get('room') || '');
  }

  private renderRooms(): void {
    clear(this.roomsEl);
    const current = String(this.model.get('room') || '');
    for (const room of (this.model.get('rooms') as string[]) || []) {
      const li = h('li', { cls: 'jrt-chat-room-item', text: room });
      li.dataset.room = room;
      if (room === current) {
        li.classList.add('jrt-current');
      }
      li.addEventListener('click', () => this.model.input(`/join ${room}`));
      this.roomsEl.appendChild(li);
    }
  }

  private renderLines(): void {
    const el = this.messagesEl;
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - 4;
    clear(el);
    for (const line of this.model.lines) {
      const li = h('li', {
        cls: ['jrt-chat-message', `jrt-chat-${line.kind}`],
        text: line.text
      });
      li.dataset.kind = line.kind;
      el.appendChild(li);
    }
    if (atBottom) {
      el.scrollTop = el.scrollHeight;
    }
  }
}
