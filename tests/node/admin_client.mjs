// An Admin UI as the official @socket.io/admin-ui page is one: socket.io-client on the admin
// namespace, driven by tests/admin/ (what the page does in ui/src/App.vue, without the page).
//
//   node admin_client.mjs <url of the admin namespace> '<json options>'
//
// Options: {"path": "/socket.io", "transports": ["polling", "websocket"], "query": {...},
// "extraHeaders": {...}, "auth": {...}, "deadline": ms}. Prints one line per thing that happens:
//   CONNECTED <socket id>     CONNECT_ERROR <json message>     DISCONNECTED <reason>
//   EVENT <json [name, ...args]>  for every event the server sends
// and reads JSON lines from stdin: [event, ...args] is emitted as the UI's buttons do.
// It exits when stdin closes or after the deadline (default 30 s).

import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [, , url, rawOptions] = process.argv;
const options = rawOptions ? JSON.parse(rawOptions) : {};
const print = (line) => process.stdout.write(line + "\n");

const socket = io(url, {
  forceNew: true,
  reconnection: false,
  path: options.path ?? "/socket.io",
  transports: options.transports ?? ["polling", "websocket"],
  query: options.query ?? {},
  extraHeaders: options.extraHeaders ?? {},
  auth: options.auth ?? { sessionId: null },
});
socket.on("connect", () => print(`CONNECTED ${socket.id}`));
socket.on("connect_error", (err) => print(`CONNECT_ERROR ${JSON.stringify(err.message)}`));
socket.on("disconnect", (reason) => print(`DISCONNECTED ${reason}`));
socket.onAny((...args) => print(`EVENT ${JSON.stringify(args)}`));

const input = createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (line.trim()) socket.emit(...JSON.parse(line));
});
const stop = () => {
  socket.close();
  setTimeout(() => process.exit(0), 50);
};
input.on("close", stop);
setTimeout(stop, options.deadline ?? 30000).unref();
