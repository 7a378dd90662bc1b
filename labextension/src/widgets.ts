// Copyright (c) jupyter_rt contributors
// Distributed under the terms of the Modified BSD License.

// Everything the widget manager may instantiate by name.
export { SocketModel } from './model';
export { SocketView } from './view';
export { RealtimeClientModel, RealtimeClientView } from './client';
export { TickModel, TickView } from './tick';
export { ChatModel, ChatView } from './chat';
export { RoomsModel, RoomsView } from './rooms';
