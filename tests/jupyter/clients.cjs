// The official npm socket.io-client against a real Jupyter server with jupyter_rt, driven by
// tests/jupyter/test_apps_node.py.
//
//   node clients.cjs <scenario> '<json config>'
//
// config: {"origin": "http://127.0.0.1:PORT", "path": "{base_url}socket.io", "token": "...",
//          "transport": "polling" | "websocket" | "upgrade",
//          "auth": "query" | "header" | "cookie" (with "headers": {...}), ...}
// The outcome is one line: `RESULT {"ok": true, "result": ...}` or `RESULT {"ok": false, "error": ...}`.
// Every wait is bounded. Packages resolve from tests/node/node_modules (NODE_PATH).

"use strict";

const { io } = require("socket.io-client");

const [, , scenario, rawConfig] = process.argv;
const config = JSON.parse(rawConfig);
const STEP = 8000;

function finish(payload) {
  process.stdout.write(`RESULT ${JSON.stringify(payload)}\n`);
  process.exit(0);
}

function transports() {
  switch (config.transport ?? "upgrade") {
    case "polling":
      return { transports: ["polling"] };
    case "websocket":
      return { transports: ["websocket"] };
    default:
      return { transports: ["polling", "websocket"], upgrade: true };
  }
}

// A client of `namespace` with the token in the query (or the Authorization header); `extra`
// options override the defaults (no reconnection).
function connect(namespace, extra = {}) {
  const credentials = {
    query: { query: { token: config.token } },
    header: { extraHeaders: { Authorization: `token ${config.token}` } },
    // What a page served by Jupyter has: the login cookie, and the XSRF header for POSTs.
    cookie: { extraHeaders: config.headers },
  }[config.auth ?? "query"];
  return io(config.origin + namespace, {
    path: config.path,
    forceNew: true,
    reconnection: false,
    timeout: STEP,
    ...transports(),
    ...credentials,
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

function connected(socket) {
  return within(
    STEP,
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
    }),
    "connect",
  );
}

// Collects every `event` a socket receives; next() waits for the next unread one.
function inbox(socket, event) {
  const items = [];
  const waiters = [];
  socket.on(event, (value) => {
    const waiter = waiters.shift();
    if (waiter) waiter(value);
    else items.push(value);
  });
  return {
    next(what = event) {
      if (items.length) return Promise.resolve(items.shift());
      return within(STEP, new Promise((resolve) => waiters.push(resolve)), what);
    },
    drain() {
      return items.splice(0, items.length);
    },
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUpgrade(socket) {
  if (config.transport !== "upgrade") return;
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return;
  await within(STEP, new Promise((resolve) => engine.once("upgrade", resolve)), "upgrade");
}

async function until(predicate, what) {
  const deadline = Date.now() + STEP;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const scenarios = {
  // /recovery (tests/jupyter/recovery_app.py) with connection state recovery on: the client
  // closes its transport right after asking for events, reconnects by itself, and must be the
  // same socket, recovered, with the events sent meanwhile once and in order.
  async recovery() {
    const socket = connect("/recovery", {
      reconnection: true,
      reconnectionDelay: 700,
      reconnectionDelayMax: 700,
      randomizationFactor: 0,
    });
    const received = [];
    socket.onAny((ev, ...args) => received.push([ev, ...args]));
    await connected(socket);
    const before = { id: socket.id, recovered: socket.recovered };
    await until(() => received.length >= 1, "welcome");
    await waitUpgrade(socket);
    const transport = socket.io.engine.transport.name;
    await within(STEP, socket.emitWithAck("emit-later", 0.25), "emit-later");
    const back = within(STEP, new Promise((resolve) => socket.once("connect", resolve)), "reconnection");
    socket.io.engine.close();
    await back;
    const after = { id: socket.id, recovered: socket.recovered };
    await until(() => received.length >= 4, "the missed events and the second welcome");
    const whoami = await within(STEP, socket.emitWithAck("whoami"), "whoami");
    await sleep(300); // a duplicate would come by now
    socket.disconnect();
    return { before, after, transport, received, whoami };
  },

  // Receive `count` ticks, answering each with tickReceivedEvent.
  async tick() {
    const socket = connect("/tick");
    const ticks = inbox(socket, "tickEvent");
    await connected(socket);
    const seen = [];
    for (let i = 0; i < (config.count ?? 3); i++) {
      const { tick } = await ticks.next(`tick ${i}`);
      seen.push(tick);
      socket.emit("tickReceivedEvent", { tick });
    }
    await waitUpgrade(socket);
    const result = { id: socket.id, ticks: seen, transport: socket.io.engine.transport.name };
    await sleep(100); // let the last answer leave before closing
    socket.disconnect();
    return result;
  },

  // Two chat clients: names, rooms, messages, announcements, the rooms ack.
  async chat() {
    const a = connect("/chat");
    const b = connect("/chat");
    const inboxes = new Map();
    for (const s of [a, b]) {
      inboxes.set(s, {
        names: inbox(s, "nameResult"),
        joins: inbox(s, "joinResult"),
        messages: inbox(s, "message"),
      });
    }
    const box = (s) => inboxes.get(s);
    await Promise.all([connected(a), connected(b)]);
    const out = {};
    out.guestA = await box(a).names.next("a's nickname");
    out.guestB = await box(b).names.next("b's nickname");
    out.lobbyA = await box(a).joins.next("a's lobby");
    out.lobbyB = await box(b).joins.next("b's lobby");
    await sleep(200);
    box(a).messages.drain(); // "b has joined Lobby." when b came second
    box(b).messages.drain();

    a.emit("nameAttempt", "Guest99");
    out.guestRefused = await box(a).names.next("Guest refusal");
    a.emit("nameAttempt", config.nameA);
    out.renamedA = await box(a).names.next("rename a");
    out.renameAnnounced = await box(b).messages.next("rename announcement");
    b.emit("nameAttempt", config.nameA);
    out.takenRefused = await box(b).names.next("taken refusal");
    b.emit("nameAttempt", config.nameB);
    out.renamedB = await box(b).names.next("rename b");
    await box(a).messages.next("b's rename announcement");

    a.emit("message", { room: "Lobby", text: "same room" });
    out.sameRoom = await box(b).messages.next("message in the lobby");

    b.emit("join", { newRoom: config.room });
    out.joinedB = await box(b).joins.next("b joins the other room");
    out.leftAnnounced = await box(a).messages.next("b has left Lobby");
    out.rooms = await within(STEP, a.emitWithAck("rooms"), "rooms ack");

    a.emit("message", { room: "Lobby", text: "only the lobby" });
    b.emit("message", { room: config.room, text: "only the other room" });
    await sleep(500);
    out.aGot = box(a).messages.drain();
    out.bGot = box(b).messages.drain();

    a.emit("join", { newRoom: config.room });
    out.joinedA = await box(a).joins.next("a joins b's room");
    out.joinAnnounced = await box(b).messages.next("a has joined");
    out.roomsAfter = await within(STEP, b.emitWithAck("rooms"), "rooms ack");
    a.disconnect();
    b.disconnect();
    return out;
  },

  // Wait in `room` of /chat (named config.name) for config.expect messages, then say config.say.
  async chatPeer() {
    const socket = connect("/chat");
    const names = inbox(socket, "nameResult");
    const joins = inbox(socket, "joinResult");
    const messages = inbox(socket, "message");
    await connected(socket);
    await names.next();
    await joins.next();
    socket.emit("nameAttempt", config.name);
    const renamed = await names.next("rename");
    socket.emit("join", { newRoom: config.room });
    await joins.next("join");
    messages.drain();
    process.stdout.write("READY\n");
    const got = [];
    while (got.length < config.expect) got.push((await messages.next("peer message")).text);
    socket.emit("message", { room: config.room, text: config.say });
    await sleep(200);
    socket.disconnect();
    return { renamed, got };
  },

  // The hub: join, publish to self and others, members, rooms, a validation error.
  async hub() {
    const a = connect("/hub");
    const b = connect("/hub");
    const pings = new Map([
      [a, inbox(a, "ping")],
      [b, inbox(b, "ping")],
    ]);
    await Promise.all([connected(a), connected(b)]);
    const ack = (s, ...args) => within(STEP, s.emitWithAck(...args), args[0]);
    const out = {};
    out.joinA = await ack(a, "join", config.room);
    out.joinB = await ack(b, "join", config.room);
    out.publish = await ack(a, "publish", config.room, "ping", { n: 1 });
    out.bGot = await pings.get(b).next("b's ping");
    out.publishSelf = await ack(a, "publish", { room: config.room, self: true }, "ping", { n: 2 });
    out.aGot = await pings.get(a).next("a's own ping");
    out.bGot2 = await pings.get(b).next("b's second ping");
    out.members = await ack(a, "members", config.room);
    out.rooms = await ack(a, "rooms");
    out.bad = await ack(a, "join", "");
    out.ids = { a: a.id, b: b.id };
    await sleep(200);
    out.aExtra = pings.get(a).drain();
    a.disconnect();
    b.disconnect();
    return out;
  },
};

const run = scenarios[scenario];
if (!run) finish({ ok: false, error: `unknown scenario ${scenario}` });
within(config.deadline ?? 30000, run(), `scenario ${scenario}`).then(
  (result) => finish({ ok: true, result }),
  (err) => finish({ ok: false, error: String(err && err.stack ? err.stack : err) }),
);
