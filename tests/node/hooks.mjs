// The official clients against the engine's hooks and details their own test suites rely on;
// driven by tests/interop/test_node_hooks.py against tests/interop/hooks_app.py.
//
//   node hooks.mjs <scenario> <url> '<json options>'
//
// Options: {"transport": "polling" | "websocket" | "upgrade", "tag": "<unique>", "nsp": "/late"}. The outcome is
// one line `RESULT {"ok": true, "result": ...}` or `RESULT {"ok": false, "error": ...}`; every
// wait is bounded.

import { io } from "socket.io-client";
import { Socket as EngineSocket } from "engine.io-client";

const [, , name, url, rawOptions] = process.argv;
const options = rawOptions ? JSON.parse(rawOptions) : {};
const tag = options.tag ?? `t${process.pid}`;
const started = Date.now();
const since = () => Date.now() - started;

function transports() {
  switch (options.transport ?? "upgrade") {
    case "polling":
      return ["polling"];
    case "websocket":
      return ["websocket"];
    default:
      return ["polling", "websocket"];
  }
}

function client(extra = {}) {
  return io(`${url}${options.nsp ?? ""}`, {
    forceNew: true,
    reconnection: false,
    timeout: 5000,
    transports: transports(),
    query: { tag },
    auth: { tag },
    ...extra,
  });
}

function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// All the arguments of the ack of `event`.
const ack = (socket, event, ...args) =>
  within(5000, new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply))), `${event} ack`);

const once = (emitter, event, ms = 5000) =>
  within(ms, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), event);

function details(err) {
  const description = err.description;
  return {
    message: err.message,
    type: err.type ?? null,
    description:
      typeof description === "number" ? description : String(description?.message ?? description),
    responseText: err.context?.responseText ?? null,
  };
}

const scenarios = {
  // allow_request refuses: the client's connect_error carries engine.io's answer.
  async refused() {
    const socket = client({ query: { tag, deny: "1" } });
    // Read at once: the client aborts the XHR (its responseText gone) right after the event.
    const seen = within(5000, new Promise((resolve) => socket.once("connect_error", (err) => resolve(details(err)))), "connect_error");
    const error = await seen;
    socket.close();
    return error;
  },

  // Cookies set by initial_headers are sent back by the client (withCredentials, as in the
  // official client's own test); the server logs what every later request carried.
  async cookies() {
    const socket = client({ withCredentials: true });
    await once(socket, "connect");
    if ((options.transport ?? "upgrade") === "upgrade" && socket.io.engine.transport.name !== "websocket") {
      await once(socket.io.engine, "upgrade");
    }
    const echoed = await ack(socket, "echo", "after the handshake");
    socket.close();
    return { echoed, transport: socket.io.engine?.transport?.name ?? null };
  },

  // Per-packet middleware: a refused event reaches the server's error handler (which answers
  // with "refused"), another is changed on its way to the handler.
  async packetMiddleware() {
    const socket = client();
    await once(socket, "connect");
    const refused = once(socket, "refused");
    socket.emit("forbidden", "payload");
    const [answer] = await refused;
    const shouted = await ack(socket, "shout", "hi", "there");
    const still = await ack(socket, "echo", "still connected");
    socket.close();
    return { answer, shouted, still };
  },

  // As socket.io-client's retry test "should not emit a packet twice in the 'connect' handler":
  // what the client sends and gets in its first moments; no NOOP may come between them.
  async firstPackets() {
    const socket = client({ retries: 3, auth: undefined }); // as in that test: CONNECT is "0"
    const engine = socket.io.engine;
    const sent = [];
    const received = [];
    let upgrading = null;
    engine.on("packetCreate", ({ type, data }) => sent.push({ t: since(), type, data }));
    engine.on("packet", ({ type, data }) => received.push({ t: since(), type, data }));
    engine.on("upgrading", () => (upgrading = since()));
    socket.on("connect", () => socket.emit("echo", null));
    await once(socket, "connect");
    await within(5000, new Promise((resolve) => {
      const check = () => (received.length >= 3 ? resolve() : setTimeout(check, 5));
      check();
    }), "the ack");
    if (engine.transport.name !== "websocket") await once(engine, "upgrade");
    socket.close();
    return { sent, received, upgrading };
  },

  // engine.io-client's own "provides details when maxHttpBufferSize is reached (polling)"
  // (against a server with max_payload 100) and "... when the session ID is unknown".
  async engineErrors() {
    const path = "/socket.io";
    const outcome = (socket) =>
      within(
        5000,
        new Promise((resolve) => {
          let error = null;
          socket.on("error", (err) => (error = details(err)));
          socket.on("close", (reason) => resolve({ error, reason }));
        }),
        "close",
      );
    const big = new EngineSocket(url, { path, transports: ["polling"] });
    const tooLarge = outcome(big);
    big.on("open", () => big.send("a".repeat(101)));
    const unknown = new EngineSocket(url, { path, transports: ["polling"], query: { sid: "abc" } });
    const unknownSid = outcome(unknown);
    return { tooLarge: await tooLarge, unknownSid: await unknownSid };
  },
};

async function main() {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const result = await within(options.deadline ?? 20000, scenario(), name);
  process.stdout.write(`RESULT ${JSON.stringify({ ok: true, result })}\n`);
}

main()
  .catch((err) => {
    process.stdout.write(`RESULT ${JSON.stringify({ ok: false, error: String(err?.stack ?? err) })}\n`);
  })
  .finally(() => process.exit(0));
