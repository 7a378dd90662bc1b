// The official npm socket.io-client, driven line by line from a test (tests/kernel/support.py).
//
//   node js_client.cjs '<json config>'       config: {"origin", "path", "token"}
//
// Each stdin line is a command (JSON); each stdout line an observation (JSON):
//   {"op": "open", "id": "a", "ns": "/poll", "options": {...}}  -> {"type": "connect", "id", "sid"}
//   {"op": "emit", "id": "a", "event": "vote", "args": [...], "req": 1, "timeout": 5000}
//        with "req": the ack   -> {"type": "ack", "id", "req", "err", "args"}
//   {"op": "answer", "id": "a", "event": "ask", "with": [...]}  answer the server's calls of
//        "ask" with "with" (or, without "with", with the arguments it came with)
//   {"op": "disconnect", "id": "a"}, {"op": "connect", "id": "a"}, {"op": "exit"}
// and, as they happen: {"type": "event", "id", "event", "args"}, {"type": "disconnect", "id",
// "reason"}, {"type": "connect_error", "id", "message", "data"}, {"type": "error", "message"}.
// Binary values travel as {"$bytes": "<base64>"}. Packages resolve from tests/node (NODE_PATH).

"use strict";

const { io } = require("socket.io-client");
const readline = require("node:readline");

const config = JSON.parse(process.argv[2]);
const sockets = new Map();
const answers = new Map();

function out(message) {
  process.stdout.write(JSON.stringify(message, (key, value) => value) + "\n");
}

function encode(value) {
  if (value instanceof ArrayBuffer) return { $bytes: Buffer.from(value).toString("base64") };
  if (Buffer.isBuffer(value)) return { $bytes: value.toString("base64") };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  }
  return value;
}

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === "object") {
    if (typeof value.$bytes === "string" && Object.keys(value).length === 1) {
      return Buffer.from(value.$bytes, "base64");
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

function open({ id, ns, options }) {
  const socket = io(config.origin + ns, {
    path: config.path,
    query: { token: config.token },
    forceNew: true,
    ...(options ?? {}),
  });
  sockets.set(id, socket);
  socket.on("connect", () => out({ type: "connect", id, sid: socket.id, transport: socket.io.engine.transport.name }));
  socket.on("disconnect", (reason) => out({ type: "disconnect", id, reason }));
  socket.on("connect_error", (err) => out({ type: "connect_error", id, message: err.message, data: err.data ?? null }));
  socket.onAny((event, ...args) => {
    const callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out({ type: "event", id, event, args: encode(args) });
    const answer = answers.get(`${id} ${event}`);
    if (callback && answer) callback(...(answer.with ? decode(answer.with) : args));
  });
  socket.io.on("open", () => socket.io.engine.on("upgrade", () => out({ type: "upgrade", id })));
}

const commands = {
  open,
  emit({ id, event, args, req, timeout }) {
    const socket = sockets.get(id);
    const values = decode(args ?? []);
    if (req === undefined || req === null) {
      socket.emit(event, ...values);
      return;
    }
    socket.timeout(timeout ?? 8000).emit(event, ...values, (err, ...res) => {
      out({ type: "ack", id, req, err: err ? String(err.message ?? err) : null, args: encode(res) });
    });
  },
  answer({ id, event, with: values }) {
    answers.set(`${id} ${event}`, { with: values });
  },
  disconnect({ id }) {
    sockets.get(id).disconnect();
  },
  connect({ id }) {
    sockets.get(id).connect();
  },
  exit() {
    for (const socket of sockets.values()) socket.disconnect();
    setTimeout(() => process.exit(0), 50);
  },
};

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  try {
    const command = JSON.parse(line);
    commands[command.op](command);
  } catch (err) {
    out({ type: "error", message: String(err && err.stack ? err.stack : err) });
  }
});
lines.on("close", () => process.exit(0));
out({ type: "ready" });
