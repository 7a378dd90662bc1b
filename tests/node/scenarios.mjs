// Interop scenarios for the official npm socket.io-client, driven by tests/interop/test_node_client.py.
//
//   node scenarios.mjs <scenario> <url> '<json options>'
//
// Options: {"transport": "polling" | "websocket" | "upgrade", "tag": "<unique>", "forceBase64": bool,
// "path": "/prefix/socket.io", ...}.
// Progress lines are printed as `EVENT <json>`; the outcome as one final line
// `RESULT {"ok": true, "result": ...}` or `RESULT {"ok": false, "error": ..., "wire": [...]}`.
// "wire" lists the Engine.IO packets each client saw, so a failure shows what was on the wire.
// Every wait is bounded; the whole scenario is bounded by options.deadline (ms, default 20000).

import { io, Manager } from "socket.io-client";

const [, , name, url, rawOptions] = process.argv;
const options = rawOptions ? JSON.parse(rawOptions) : {};
const tag = options.tag ?? `t${process.pid}`;
const started = Date.now();
const wire = [];
const WIRE_MAX = 400;

function describe(data) {
  if (typeof data === "string") return data.length > 160 ? `${data.slice(0, 160)}…(${data.length})` : data;
  if (data === undefined) return undefined;
  const length = data.byteLength ?? data.length;
  return `<binary ${length}>`;
}

const tapped = new WeakSet();
const openedWith = new WeakMap(); // engine -> name of the transport its handshake came over
function tapEngine(label, engine) {
  if (!engine || tapped.has(engine)) return;
  tapped.add(engine);
  const rec = (dir) => (packet) => {
    if (wire.length < WIRE_MAX) {
      wire.push({ t: Date.now() - started, c: label, dir, type: packet.type, data: describe(packet.data) });
    }
  };
  engine.once("open", () => openedWith.set(engine, engine.transport.name));
  engine.on("packet", rec("in"));
  engine.on("packetCreate", rec("out"));
  engine.on("upgrade", (t) => wire.push({ t: Date.now() - started, c: label, upgrade: t.name }));
}

function tapManager(label, manager) {
  tapEngine(label, manager.engine);
  manager.on("open", () => tapEngine(label, manager.engine));
}

function event(payload) {
  process.stdout.write(`EVENT ${JSON.stringify(payload)}\n`);
}

function transportOptions() {
  switch (options.transport ?? "upgrade") {
    case "mixed": // per client, see the rooms scenario
    case "polling":
      return { transports: ["polling"] };
    case "websocket":
      return { transports: ["websocket"] };
    case "upgrade":
      return { transports: ["polling", "websocket"], upgrade: true };
    default:
      throw new Error(`unknown transport ${options.transport}`);
  }
}

function clientOptions(extra = {}) {
  const base64 = options.forceBase64 ? { forceBase64: true } : {};
  const path = options.path ? { path: options.path } : {};
  return { forceNew: true, reconnection: false, timeout: 5000, ...transportOptions(), ...base64, ...path, ...extra };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Connect one socket; resolves with it, rejects with {message, data} on connect_error.
function connect(path = "/", extra = {}, label = path) {
  return connectAt(`${url}${path === "/" ? "" : path}`, extra, label);
}

function connectAt(address, extra = {}, label = address) {
  const socket = io(address, clientOptions({ auth: { tag }, ...extra }));
  tapManager(label, socket.io);
  return within(
    6000,
    new Promise((resolve, reject) => {
      const onConnect = () => {
        socket.off("connect_error", onError);
        resolve(socket);
      };
      const onError = (err) => {
        socket.off("connect", onConnect);
        socket.close();
        reject(Object.assign(new Error(err.message), { data: err.data, connectError: true }));
      };
      socket.once("connect", onConnect);
      socket.once("connect_error", onError);
    }),
    `connect to ${address}`,
  );
}

// A TCP proxy standing for a load balancer: it forwards to `target` (a URL), `cut()` closes every
// connection through it, and while `hold` is set it closes new connections at once.
async function balancer(target) {
  const net = await import("node:net");
  const open = new Set();
  const state = { target: new URL(target), hold: false };
  const server = net.createServer((client) => {
    if (state.hold) return client.destroy();
    const upstream = net.connect(Number(state.target.port), state.target.hostname);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
    };
    open.add(client);
    client.pipe(upstream).pipe(client);
    for (const side of [client, upstream]) side.on("error", end).on("close", end);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${server.address().port}`;
  state.cut = () => {
    for (const client of open) client.destroy();
  };
  state.close = () => server.close();
  return state;
}

async function untilFile(path, ms) {
  const fs = await import("node:fs");
  return waitUntil(() => fs.existsSync(path), ms, `the file ${path}`);
}

// Settles a socket's connection attempt as {connected, error, data}.
function outcome(socket) {
  return within(
    6000,
    new Promise((resolve) => {
      const onConnect = () => {
        socket.off("connect_error", onError);
        resolve({ connected: true });
      };
      const onError = (err) => {
        socket.off("connect", onConnect);
        resolve({ connected: false, error: err.message, data: err.data ?? null });
      };
      socket.once("connect", onConnect);
      socket.once("connect_error", onError);
    }),
    `connection outcome of ${socket.nsp}`,
  );
}

// Emit with an ack callback; resolves with the ack's arguments as an array.
function ack(socket, ev, ...args) {
  return within(
    5000,
    new Promise((resolve) => socket.emit(ev, ...args, (...reply) => resolve(reply))),
    `ack of ${ev} on ${socket.nsp}`,
  );
}

function once(socket, ev, ms = 5000) {
  return within(ms, new Promise((resolve) => socket.once(ev, (...args) => resolve(args))), `${ev} on ${socket.nsp}`);
}

function waitUntil(predicate, ms, what) {
  return within(
    ms,
    new Promise((resolve) => {
      const check = () => (predicate() ? resolve() : setTimeout(check, 10));
      check();
    }),
    what,
  );
}

function hex(value) {
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString("hex");
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex");
  return null;
}

// Replace binary values by {bytes: hex} so the result is JSON.
function plain(value) {
  const h = hex(value);
  if (h !== null) return { bytes: h };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

function waitUpgrade(socket) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return Promise.resolve(true);
  return within(5000, new Promise((resolve) => engine.once("upgrade", () => resolve(true))), "upgrade to websocket");
}

const transportName = (socket) => socket.io.engine.transport.name;

const scenarios = {
  // Connect, check identity/auth/query, echo with several args, empty ack, final transport.
  async basic() {
    const socket = await connect("/", {
      auth: { tag, hello: "world", n: 7 },
      query: { flavor: "vanilla" },
      extraHeaders: { "X-Interop": "yes" },
    });
    const firstTransport = openedWith.get(socket.io.engine);
    // Emitted at once: with "upgrade" these travel while the probe is under way.
    const early = await Promise.all([...Array(10).keys()].map((i) => ack(socket, "echo", i)));
    let upgraded = false;
    if ((options.transport ?? "upgrade") === "upgrade") upgraded = await waitUpgrade(socket);
    const whoami = (await ack(socket, "whoami"))[0];
    const echo = await ack(socket, "echo", 1, "two", { three: [3, null, true] });
    const noop = await ack(socket, "noop", "x");
    const result = {
      socketId: socket.id,
      engineId: socket.io.engine.id,
      firstTransport,
      finalTransport: transportName(socket),
      upgraded,
      whoami,
      early,
      echo,
      noop,
    };
    socket.disconnect();
    await sleep(50);
    return result;
  },

  // Acks in both directions, server call() with timeout, multi-arg and binary acks, a late ack.
  async acks() {
    const socket = await connect("/");
    socket.on("question", (x, cb) => cb({ answer: x * 2 }));
    socket.on("sum", (a, b, cb) => cb(a + b));
    socket.on("pair", (cb) => cb("x", 2));
    socket.on("question-bin", (cb) => cb(Buffer.from([1, 2, 3, 250])));
    socket.on("silent", () => {});
    socket.on("late", (cb) => setTimeout(() => cb("too late"), 800));
    const answer = (await ack(socket, "ask", { event: "question", args: [21], timeout: 5 }))[0];
    const sum = (await ack(socket, "ask", { event: "sum", args: [2, 3], timeout: 5 }))[0];
    const pair = (await ack(socket, "ask", { event: "pair", args: [], timeout: 5 }))[0];
    const bin = plain((await ack(socket, "ask", { event: "question-bin", args: [], timeout: 5 }))[0]);
    const timedOut = (await ack(socket, "ask", { event: "silent", args: [], timeout: 0.5 }))[0];
    const late = (await ack(socket, "ask", { event: "late", args: [], timeout: 0.3 }))[0];
    const askedCb = (await ack(socket, "ask-callback", { event: "sum", args: [40, 2] }))[0];
    const later = [];
    socket.on("later", (v) => later.push(v));
    const scheduled = (await ack(socket, "emit-later", { delay: 0.1, event: "later" }))[0];
    await sleep(700); // the late ack arrives after the server gave up on it
    const afterLate = await ack(socket, "echo", "still here");
    const result = { askedCb, scheduled, later, answer, sum, pair, bin, timedOut, late, afterLate, connected: socket.connected, transport: transportName(socket) };
    socket.disconnect();
    return result;
  },

  // Binary both ways: nested buffers echoed back in an ack, binary pushed by the server.
  async binary() {
    const socket = await connect("/");
    if ((options.transport ?? "upgrade") === "upgrade") await waitUpgrade(socket);
    const big = Buffer.alloc(100_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 256;
    const payload = {
      name: "blob",
      data: Buffer.from([0, 1, 2, 253, 254, 255]),
      list: [Buffer.from("abc"), "x", new Uint8Array([9, 8, 7])],
    };
    const echoed = plain(await ack(socket, "echo", payload, big, "text"));
    const ten = [...Array(10).keys()].map((i) => Buffer.from([i, i]));
    const tenEcho = plain(await ack(socket, "echo", ...ten));
    const nearLimit = (await ack(socket, "echo", "y".repeat(900_000)))[0].length;
    const pushed = once(socket, "bin");
    const pushAck = await ack(socket, "push-binary");
    const bin = plain(await pushed);
    const result = {
      echoed: [echoed[0], { length: echoed[1].bytes.length / 2, same: echoed[1].bytes === big.toString("hex") }, echoed[2]],
      pushAck,
      bin,
      tenEcho,
      nearLimit,
      transport: transportName(socket),
    };
    socket.disconnect();
    return result;
  },

  // Strings that are easy to get wrong on the wire, each echoed on its own.
  async strings() {
    const socket = await connect("/");
    const samples = {
      separator: "a\x1eb\x1e",
      controls: "nul:\u0000 tab:\t nl:\n",
      lineSeparators: "\u2028\u2029",
      emoji: "😀 ünïcödé 中文",
      quotes: '"\\/\'',
      loneSurrogate: "cut emoji: \ud83d", // what "😀".slice(0, 1) gives
    };
    const echoed = {};
    for (const [name, value] of Object.entries(samples)) {
      try {
        const gone = once(socket, "disconnect", 6000).then(([reason]) => {
          throw new Error(`disconnected: ${reason}`);
        });
        const [back] = await Promise.race([ack(socket, "echo", value), gone]);
        echoed[name] = back === value ? "same" : { sent: value, got: back };
      } catch (err) {
        echoed[name] = `no ack (${err.message}); connected: ${socket.connected}`;
      }
    }
    socket.disconnect();
    return { echoed };
  },

  // Messages around the WebSocket frame-length boundaries (125/126 and 65535/65536 bytes),
  // text and binary, echoed both ways.
  async sizes() {
    const socket = await connect("/");
    const lengths = [0, 1];
    for (let n = 112; n <= 132; n++) lengths.push(n);
    for (let n = 65520; n <= 65545; n++) lengths.push(n);
    lengths.push(200_000);
    const bad = [];
    for (const n of lengths) {
      const text = "t".repeat(n);
      const [back] = await ack(socket, "echo", text);
      if (back !== text) bad.push({ kind: "text", n, got: typeof back === "string" ? back.length : back });
      const bin = Buffer.alloc(n, 0xab);
      const [binBack] = await ack(socket, "echo", bin);
      if (hex(binBack) !== bin.toString("hex")) bad.push({ kind: "binary", n, got: hex(binBack)?.length / 2 });
    }
    const result = { checked: lengths.length, bad, transport: transportName(socket) };
    socket.disconnect();
    return result;
  },

  // The server sends an event larger than maxPayload (which only bounds what clients send).
  async "big-push"() {
    const socket = await connect("/");
    const size = options.size ?? 3_000_000;
    const got = once(socket, "big", 15000);
    const [acked] = await ack(socket, "push-big", size);
    const [text, bin] = await got;
    const binOk = bin.length === size && bin.every((b) => b === 0);
    const result = { acked, textOk: text.length === size && text === "z".repeat(size), binOk };
    socket.disconnect();
    return result;
  },

  // Several namespaces over one Manager (one Engine.IO connection), unknown and dynamic ones.
  async namespaces() {
    const manager = new Manager(url, clientOptions());
    tapManager("manager", manager);
    const paths = ["/", "/custom", "/dyn-42", "/nope", "/dyn-abc"];
    const sockets = Object.fromEntries(paths.map((p) => [p, manager.socket(p, { auth: { tag } })]));
    const outcomes = {};
    await Promise.all(paths.map(async (p) => { outcomes[p] = await outcome(sockets[p]); }));
    for (const p of paths) {
      if (!outcomes[p].connected) continue;
      outcomes[p].whoami = (await ack(sockets[p], "whoami"))[0];
      outcomes[p].socketId = sockets[p].id;
      outcomes[p].engineId = manager.engine.id;
    }
    // Binary events and acks carry the namespace too ("51-/custom,0[...]").
    const customBinary = plain(await ack(sockets["/custom"], "echo", Buffer.from([7, 7, 7]), "tail"));
    // Leaving one namespace keeps the connection and the other namespaces.
    const engineBefore = manager.engine.id;
    sockets["/custom"].disconnect();
    await sleep(100);
    const rootEcho = await ack(sockets["/"], "echo", "root still here");
    const dynEcho = await ack(sockets["/dyn-42"], "echo", "dyn still here");
    const result = {
      outcomes,
      transport: manager.engine.transport.name,
      afterLeaving: { rootEcho, dynEcho, sameEngine: manager.engine.id === engineBefore },
      customBinary,
    };
    await sleep(50);
    for (const s of Object.values(sockets)) s.disconnect();
    return result;
  },

  // Middleware refusal reaches connect_error with message and data; the right token gets in.
  async middleware() {
    let refused = null;
    try {
      const s = await connect("/guarded", { auth: { tag: `${tag}-refused`, token: "wrong" } });
      s.disconnect();
    } catch (err) {
      refused = { message: err.message, data: err.data ?? null, connectError: !!err.connectError };
    }
    const banned = {};
    for (const path of ["/", "/custom", "/guarded"]) {
      try {
        const s = await connect(path, { auth: { tag: `${tag}-banned`, banned: true, token: "letmein" } });
        banned[path] = { connected: true };
        s.disconnect();
      } catch (err) {
        banned[path] = { message: err.message, data: err.data ?? null };
      }
    }
    const ok = await connect("/guarded", { auth: { tag, token: "letmein" } });
    const whoami = (await ack(ok, "whoami"))[0];
    ok.disconnect();
    return { refused, banned, whoami };
  },

  // Rooms and broadcasts; "marker" broadcasts to everyone mark the end of each step, so what a
  // client did not get before a marker it will never get.
  async rooms() {
    const names = ["A", "B", "C"];
    const clients = {};
    const seen = { A: [], B: [], C: [], D: [] };
    const mixed = { A: { transports: ["polling"] }, B: { transports: ["websocket"] }, C: { transports: ["polling", "websocket"] } };
    for (const n of names) {
      const own = options.transport === "mixed" ? mixed[n] : {};
      clients[n] = await connect("/", { auth: { tag: `${tag}-${n}` }, ...own }, n);
    }
    clients.D = await connect("/custom", { auth: { tag: `${tag}-D` } }, "D");
    for (const [n, s] of Object.entries(clients)) s.onAny((ev, data) => seen[n].push([ev, data]));
    const rooms = {
      A: (await ack(clients.A, "join", "r1"))[0],
      B: (await ack(clients.B, "join", "r1"))[0],
      C: (await ack(clients.C, "join", "r2"))[0],
      D: (await ack(clients.D, "join", "r1"))[0],
    };
    let markers = 0;
    const mark = async () => {
      markers += 1;
      const m = markers;
      await ack(clients.A, "everyone", { event: "marker", data: m });
      await waitUntil(
        () => names.every((n) => seen[n].some(([ev, d]) => ev === "marker" && d === m)),
        5000,
        `marker ${m} at A, B and C`,
      );
    };
    await ack(clients.A, "broadcast", { room: "r1", event: "room-msg", data: "from-a-excluded", exclude_sender: true });
    await mark();
    await ack(clients.A, "broadcast", { room: "r1", event: "room-msg", data: "to-room", exclude_sender: false });
    await mark();
    const left = (await ack(clients.B, "leave", "r1"))[0];
    await ack(clients.A, "broadcast", { room: "r1", event: "room-msg", data: "after-leave", exclude_sender: false });
    await mark();
    await ack(clients.C, "broadcast", { room: "r2", event: "room-msg", data: "c-alone-excluded", exclude_sender: true });
    await mark();
    await ack(clients.D, "everyone", { event: "marker", data: "custom" });
    await waitUntil(() => seen.D.some(([ev]) => ev === "marker"), 5000, "custom marker at D");
    await sleep(100);
    const result = { rooms, left, seen };
    for (const s of Object.values(clients)) s.disconnect();
    return result;
  },

  // 40 events each way; over polling they are batched into a few HTTP requests.
  async burst() {
    const n = options.n ?? 40;
    const socket = await connect("/");
    const items = [];
    socket.on("item", (i) => items.push(i));
    // Both directions at once: the server's burst and the client's ticks cross on the wire.
    const burstDone = ack(socket, "burst", { n, event: "item" });
    for (let i = 0; i < n; i++) socket.emit("tick", i);
    const [count] = await burstDone;
    const itemsAtAck = items.length;
    await waitUntil(() => items.length >= n, 5000, `${n} items`).catch(() => {});
    const [ticks] = await ack(socket, "ticks");
    const result = { count, itemsAtAck, items, ticks, transport: transportName(socket) };
    socket.disconnect();
    return result;
  },

  // The server disconnects the socket: the client sees "io server disconnect" and stays away.
  async "server-disconnect"() {
    const socket = await connect("/", { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    let connects = 1;
    socket.on("connect", () => { connects += 1; });
    const gone = once(socket, "disconnect");
    socket.emit("disconnect-me");
    const [reason] = await gone;
    await sleep(1000); // a reconnecting client would be back by now
    const result = { reason, connects, active: socket.active, connected: socket.connected };
    socket.close();
    return result;
  },

  // After a server disconnect the application may connect again by hand, on one namespace while
  // another keeps the connection open, and alone (a new connection).
  async "connect-again"() {
    const manager = new Manager(url, clientOptions());
    tapManager("manager", manager);
    const root = manager.socket("/", { auth: { tag } });
    const custom = manager.socket("/custom", { auth: { tag } });
    await Promise.all([outcome(root), outcome(custom)]);
    const engine1 = manager.engine.id;
    const firstIds = { root: root.id, custom: custom.id };
    // /custom is disconnected by the server, / keeps the Engine.IO connection open.
    let gone = once(custom, "disconnect");
    custom.emit("disconnect-me");
    const [reason1] = await gone;
    custom.connect();
    const again1 = await outcome(custom);
    const sameEngine = manager.engine.id === engine1;
    const customEcho = await ack(custom, "echo", "custom again");
    // The client leaves /custom and joins it again on the same connection.
    custom.disconnect();
    custom.connect();
    const again2 = await outcome(custom);
    const customEcho2 = await ack(custom, "echo", "custom again 2");
    // Now / alone: its server disconnect ends the connection; connect() opens a new one.
    custom.disconnect();
    await sleep(50);
    gone = once(root, "disconnect");
    root.emit("disconnect-me");
    const [reason2] = await gone;
    await sleep(50);
    root.connect();
    const again3 = await outcome(root);
    const rootEcho = await ack(root, "echo", "root again");
    const result = {
      firstIds,
      reason1,
      again1,
      sameEngine,
      customEcho,
      again2,
      customEcho2,
      reason2,
      again3,
      rootEcho,
      newEngine: manager.engine.id !== engine1,
    };
    root.disconnect();
    return result;
  },

  // socket.disconnect(close=True) on the server: every namespace of the connection goes.
  async "server-close-connection"() {
    const manager = new Manager(url, clientOptions({ reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 }));
    tapManager("manager", manager);
    const root = manager.socket("/", { auth: { tag } });
    const custom = manager.socket("/custom", { auth: { tag } });
    await Promise.all([outcome(root), outcome(custom)]);
    const reasons = { root: [], custom: [] };
    root.on("disconnect", (r) => reasons.root.push(r));
    custom.on("disconnect", (r) => reasons.custom.push(r));
    let reconnects = 0;
    manager.on("reconnect_attempt", () => { reconnects += 1; });
    root.emit("disconnect-me", { close: true });
    await waitUntil(() => reasons.root.length && reasons.custom.length, 5000, "both disconnects");
    await sleep(700);
    return { reasons: JSON.parse(JSON.stringify(reasons)), reconnects, active: [root.active, custom.active] };
  },

  // The client disconnects; the server records the reason.
  async "client-disconnect"() {
    const socket = await connect("/");
    const id = socket.id;
    const gone = once(socket, "disconnect");
    socket.disconnect();
    const [reason] = await gone;
    await sleep(100);
    return { id, reason };
  },

  // Events emitted at once on /slow, while the server's connection handler is still awaiting.
  async "slow-handler"() {
    const socket = io(`${url}/slow`, clientOptions({ auth: { tag } }));
    tapManager("slow", socket.io);
    const acks = await within(
      5000,
      new Promise((resolve) => {
        socket.once("connect", () => {
          const pending = [0, 1, 2, 3, 4].map(
            (i) => new Promise((res) => socket.emit("echo", "early", i, (...reply) => res(reply))),
          );
          Promise.all(pending).then(resolve);
        });
      }),
      "acks of the early events",
    );
    socket.disconnect();
    return { acks };
  },

  // Clients that emit and disconnect as soon as they are connected (a tab closed during page
  // load), on a namespace whose connection handler awaits before it registers its handlers.
  async "quick-disconnect"() {
    const n = options.n ?? 10;
    const path = options.path ?? "/slow";
    const ids = [];
    for (let i = 0; i < n; i++) {
      const socket = io(`${url}${path}`, clientOptions({ auth: { tag } }));
      tapManager(`q${i}`, socket.io);
      const gone = once(socket, "disconnect");
      socket.once("connect", () => {
        ids.push(socket.id);
        socket.emit("record", "early", i);
        socket.disconnect();
      });
      await gone;
    }
    await sleep(100);
    return { ids };
  },

  // Stays idle for options.idle ms; the heartbeat must keep the connection up.
  async idle() {
    const socket = await connect("/");
    const reasons = [];
    let pings = 0;
    socket.io.engine.on("ping", () => { pings += 1; });
    socket.on("disconnect", (reason) => reasons.push(reason));
    await sleep(options.idle ?? 2000);
    const echo = await ack(socket, "echo", "still here");
    const result = { pings, reasons: [...reasons], echo, id: socket.id, transport: transportName(socket) };
    socket.disconnect();
    return result;
  },

  // Blocks its own event loop for options.freeze ms, so it cannot answer the server's pings.
  async freeze() {
    const socket = await connect("/");
    const id = socket.id;
    const reasons = [];
    socket.on("disconnect", (reason) => reasons.push(reason));
    await sleep(100);
    const end = Date.now() + (options.freeze ?? 2000);
    while (Date.now() < end) {
      // busy: no I/O, no timers
    }
    await sleep(500);
    return { id, reasons };
  },

  // Server-side operations on other sockets: sockets_join, fetch_sockets, broadcast with acks,
  // disconnect_sockets.
  async admin() {
    const c = {};
    for (const n of ["A", "B", "C", "D"]) c[n] = await connect("/", { auth: { tag: `${tag}-${n}` } }, n);
    const ids = Object.fromEntries(Object.entries(c).map(([n, s]) => [n, s.id]));
    for (const n of ["A", "B"]) c[n].on("whoareyou", (prefix, cb) => cb(`${prefix}:${n}`));
    c.D.on("whoareyou", () => {}); // never answers
    const reasons = { A: [], B: [], C: [], D: [] };
    for (const n of Object.keys(c)) c[n].on("disconnect", (r) => reasons[n].push(r));
    await ack(c.A, "join", "team");
    await ack(c.C, "make-join", { target: c.B.id, room: "team" });
    await ack(c.C, "make-join", { target: c.D.id, room: "slowteam" });
    const members = (await ack(c.C, "members", "team"))[0];
    const replies = (await ack(c.C, "ask-room", { room: "team", event: "whoareyou", args: ["hi"], timeout: 3 }))[0];
    const slow = (await ack(c.C, "ask-room", { room: "slowteam", event: "whoareyou", args: ["hi"], timeout: 0.5 }))[0];
    const goneA = once(c.A, "disconnect");
    const goneB = once(c.B, "disconnect");
    const kicked = (await ack(c.C, "kick-room", "team"))[0];
    await Promise.all([goneA, goneB]);
    const membersAfter = (await ack(c.C, "members", "team"))[0];
    const echo = await ack(c.C, "echo", "C still here");
    const result = {
      ids,
      members,
      replies,
      slow,
      kicked,
      membersAfter,
      echo,
      reasons: JSON.parse(JSON.stringify(reasons)),
      active: { A: c.A.active, B: c.B.active },
    };
    for (const s of Object.values(c)) s.disconnect();
    return result;
  },

  // One broadcast stream to many clients on mixed transports, binary values included.
  async fanout() {
    const n = options.clients ?? 30;
    const count = options.n ?? 20;
    const kinds = [["polling"], ["websocket"], ["polling", "websocket"]];
    const clients = [];
    for (let i = 0; i < n; i++) {
      const label = `f${i}`;
      const s = await connect("/", { auth: { tag: `${tag}-${i}` }, transports: kinds[i % 3] }, label);
      clients.push(s);
    }
    const got = clients.map(() => []);
    clients.forEach((s, i) => s.on("fan", (v) => got[i].push(plain(v))));
    await Promise.all(clients.map((s) => ack(s, "join", "fan")));
    const [sent] = await ack(clients[0], "burst-room", { room: "fan", n: count, event: "fan", binary_every: 5 });
    await waitUntil(() => got.every((g) => g.length >= count), 8000, "every client to get the broadcasts").catch(() => {});
    await sleep(100);
    const result = { sent, got, transports: clients.map((s) => transportName(s)) };
    clients.forEach((s) => s.disconnect());
    return result;
  },

  // The server shuts down gracefully (io.close()): the client is told nothing and retries.
  async "server-close"() {
    const socket = await connect("/", { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    const id = socket.id;
    const gone = once(socket, "disconnect");
    let attempts = 0;
    socket.io.on("reconnect_attempt", () => { attempts += 1; });
    socket.emit("shutdown");
    const [reason] = await gone;
    await sleep(800);
    const result = { id, reason, active: socket.active, attempts };
    socket.close();
    return result;
  },

  // A pending server call() on a client that then disconnects.
  async "call-then-leave"() {
    const socket = await connect("/");
    socket.on("silent", () => {});
    socket.emit("ask", { event: "silent", args: [], timeout: 5 }, () => {});
    await sleep(200);
    const id = socket.id;
    socket.disconnect();
    await sleep(100);
    return { id };
  },

  // An event emitted from inside the connection handler, relative to the CONNECT reply.
  async welcome() {
    const socket = io(`${url}/welcome`, clientOptions({ auth: { tag } }));
    tapManager("welcome", socket.io);
    const got = once(socket, "welcome");
    await within(5000, new Promise((resolve) => socket.once("connect", resolve)), "connect to /welcome");
    const [payload] = await got;
    const incoming = wire.filter((w) => w.dir === "in" && w.type === "message").map((w) => w.data);
    const result = { payload, id: socket.id, incoming };
    socket.disconnect();
    return result;
  },

  // Peer-controlled limits: too many binary attachments, or a message over maxPayload.
  async "over-limit"() {
    const socket = await connect("/", { auth: { tag } });
    const bystander = await connect("/", { auth: { tag: `${tag}-bystander` } }, "bystander");
    const gone = once(socket, "disconnect", 8000);
    if (options.kind === "attachments") {
      const buffers = [...Array(options.count ?? 11).keys()].map((i) => Buffer.from([i]));
      socket.emit("echo", ...buffers, () => {});
    } else {
      socket.emit("echo", "x".repeat(options.size ?? 1_500_000), () => {});
    }
    const [reason] = await gone;
    const echo = await ack(bystander, "echo", "unaffected");
    bystander.disconnect();
    return { reason, echo };
  },

  // The client closes its Engine.IO connection without a Socket.IO DISCONNECT.
  async "engine-close"() {
    const socket = await connect("/");
    const id = socket.id;
    socket.io.engine.close();
    await sleep(300);
    return { id };
  },

  // The client process ends abruptly while connected; nothing is closed politely.
  async vanish() {
    const socket = await connect("/");
    if ((options.transport ?? "upgrade") === "upgrade") await waitUpgrade(socket);
    await sleep(300); // idle, as a closed tab would be: over polling a GET is pending now
    process.stdout.write(`RESULT ${JSON.stringify({ ok: true, result: { id: socket.id } })}\n`, () => process.exit(0));
    await sleep(5000);
    return { id: socket.id };
  },

  // The server drops the transport without a close packet; the client reconnects by itself.
  async reconnect() {
    const socket = await connect("/", { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300 });
    const ids = [socket.id];
    const reasons = [];
    socket.on("disconnect", (reason) => reasons.push(reason));
    const back = within(8000, new Promise((resolve) => socket.once("connect", resolve)), "reconnection");
    socket.emit("drop-transport");
    await back;
    ids.push(socket.id);
    const echo = await ack(socket, "echo", "after reconnect");
    // The upgrade of the new session may finish after the echo (the server answers the probe's
    // pending GET from its 100 ms check, as Node's does).
    if ((options.transport ?? "upgrade") === "upgrade") await waitUpgrade(socket);
    const result = { ids, reasons: [...reasons], echo, transport: transportName(socket) };
    socket.disconnect();
    return result;
  },

  // Connection state recovery: the transport drops (options.drop: "client" closes it with
  // socket.io.engine.close(), "server" has the server drop it without a close packet), the
  // server emits meanwhile (to everyone, to the socket itself, to a room it is in), the client
  // reconnects by itself and must come back as the same socket with every missed event once.
  async recovery() {
    const socket = await connect("/", {
      reconnection: true,
      reconnectionDelay: 700,
      reconnectionDelayMax: 700,
      randomizationFactor: 0,
    });
    const received = [];
    socket.onAny((ev, ...args) => received.push([ev, ...args]));
    const before = { id: socket.id, recovered: socket.recovered };
    await ack(socket, "join", "news");
    socket.emit("tick", "kept in socket.data");
    await ack(socket, "everyone", { event: "seen", data: "before the drop" });
    await waitUntil(() => received.some((e) => e[0] === "seen"), 5000, "the event before the drop");
    const transport = transportName(socket);
    await ack(socket, "emit-later", { delay: 0.25, event: "missed", room: "news" });
    const disconnected = once(socket, "disconnect");
    const back = once(socket, "connect", 8000);
    if (options.drop === "server") socket.emit("drop-transport");
    else socket.io.engine.close();
    const [reason] = await disconnected;
    event({ disconnected: reason });
    await back;
    const after = { id: socket.id, recovered: socket.recovered };
    await waitUntil(() => received.filter((e) => e[0] === "missed").length >= 3, 5000, "the missed events");
    const whoami = (await ack(socket, "whoami"))[0];
    const ticks = (await ack(socket, "ticks"))[0];
    await ack(socket, "everyone", { event: "seen", data: "after" });
    await waitUntil(() => received.filter((e) => e[0] === "seen").length >= 2, 5000, "the event after");
    await sleep(300); // a duplicate would come by now
    socket.disconnect();
    return { before, after, reason, transport, received, whoami, ticks };
  },

  // Connection state recovery across two servers of a Redis cluster (tests/adapters/redis): the
  // client reaches server A (the url) through a balancer; the balancer drops it and sends it to
  // server B (options.other) when it comes back. Meanwhile helpers connected to A and to B emit
  // the events it misses (to a room it is in, to everyone, to its own id), in a known stream
  // order; with options.pauseFile it waits for that file before letting the client back (the
  // test restarts Redis meanwhile). options.missed: how many missed events to wait for (3).
  async "recovery-across-servers"() {
    const lb = await balancer(url);
    const helperA = await connectAt(url, {}, "helperA");
    const helperB = await connectAt(options.other, {}, "helperB");
    const heard = { A: [], B: [] };
    helperA.onAny((ev, ...args) => heard.A.push([ev, args[0]]));
    helperB.onAny((ev, ...args) => heard.B.push([ev, args[0]]));
    const heardBy = (who, ev, arg) => () => heard[who].some((e) => e[0] === ev && e[1] === arg);
    const socket = await connectAt(
      lb.url + (new URL(url).search || ""),
      { reconnection: true, reconnectionDelay: 300, reconnectionDelayMax: 300, randomizationFactor: 0 },
      "client",
    );
    const received = [];
    socket.onAny((ev, ...args) => received.push([ev, ...args]));
    const before = { id: socket.id, recovered: socket.recovered, ...(await ack(socket, "whoami"))[0] };
    await ack(socket, "join", "news");
    await ack(socket, "set-data", { name: "ada" });
    await ack(helperA, "emit-to", { event: "seen", args: ["before"] });
    await waitUntil(() => received.some((e) => e[0] === "seen"), 5000, "the event before the drop");
    const disconnected = once(socket, "disconnect");
    lb.hold = true;
    lb.target = new URL(options.other);
    lb.cut();
    const [reason] = await disconnected;
    event({ disconnected: reason });
    // Server A writes the session when it sees the connection go: wait until it has.
    for (let i = 0; ; i++) {
      const [found] = await ack(helperA, "fetch", { rooms: [before.id] });
      if (Array.isArray(found) && found.length === 0) break;
      if (i > 200) throw new Error(`server A still has socket ${before.id}`);
      await sleep(50);
    }
    await sleep(100);
    await ack(helperA, "emit-to", { rooms: ["news"], event: "missed", args: [1] });
    await ack(helperA, "emit-to", { event: "sync", args: [1] });
    await waitUntil(heardBy("B", "sync", 1), 5000, "sync 1 on B");
    await ack(helperB, "emit-to", { event: "missed", args: [2] });
    await waitUntil(heardBy("A", "missed", 2), 5000, "missed 2 on A");
    await ack(helperA, "emit-to", { rooms: [before.id], event: "missed", args: [3] });
    await ack(helperA, "emit-to", { event: "sync", args: [2] });
    await waitUntil(heardBy("B", "sync", 2), 5000, "sync 2 on B");
    if (options.pauseFile) {
      event({ away: true });
      await untilFile(options.pauseFile, 30000);
    }
    const back = once(socket, "connect", 30000);
    lb.hold = false;
    await back;
    const after = { id: socket.id, recovered: socket.recovered };
    const whoami = (await ack(socket, "whoami"))[0];
    const transport = transportName(socket);
    const missed = options.missed ?? 3; // 0 when the session is not expected back
    await waitUntil(() => received.filter((e) => e[0] === "missed").length >= missed, 5000, "the missed events");
    await ack(helperB, "emit-to", { event: "seen", args: ["after"] });
    await waitUntil(() => received.filter((e) => e[0] === "seen").length >= 2, 5000, "the event after");
    await sleep(300); // a duplicate would come by now
    for (const s of [socket, helperA, helperB]) s.disconnect();
    lb.close();
    return { before, after, reason, whoami, received, transport };
  },

  // Stays connected while the test restarts the server, then checks the client came back.
  async "survive-restart"() {
    const socket = await connect("/", { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 500 });
    const ids = [socket.id];
    const reasons = [];
    socket.on("disconnect", (reason) => {
      reasons.push(reason);
      event({ disconnected: reason });
    });
    const back = within(15000, new Promise((resolve) => socket.once("connect", resolve)), "reconnection after restart");
    event({ connected: socket.id });
    await back;
    ids.push(socket.id);
    const echo = await ack(socket, "echo", "after restart");
    const result = { ids, reasons: [...reasons], echo };
    socket.disconnect();
    return result;
  },
};

async function main() {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(", ")}`);
  return within(options.deadline ?? 20000, scenario(), `scenario ${name}`);
}

main().then(
  async (result) => {
    await sleep(200); // let the last packets (DISCONNECT, CLOSE) leave before the process ends
    process.stdout.write(`RESULT ${JSON.stringify({ ok: true, result })}\n`, () => process.exit(0));
  },
  (err) => {
    const failure = { ok: false, error: String(err?.stack ?? err), data: err?.data ?? null, wire };
    process.stdout.write(`RESULT ${JSON.stringify(failure)}\n`, () => process.exit(1));
  },
);
