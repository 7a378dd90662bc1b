// The Node twin of cluster_app.py: socket.io 4.8 with @socket.io/redis-adapter 8 (or, with
// --adapter streams, @socket.io/redis-streams-adapter 0.3; --recovery yes turns connection state
// recovery on), answering the same events, for the interop tests. Run with
// NODE_PATH=tests/node/node_modules:
//   node cluster_server.cjs --port N --redis URL --name NAME --prefix P --request-timeout S
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  return out;
}

const args = parseArgs(process.argv.slice(2));
const NAME = args.name || "node";
const SERVER_SIDE = [];

function select(nsp, spec) {
  let op = nsp.to(spec.rooms || []);
  if (spec.except && spec.except.length) op = op.except(spec.except);
  return op;
}

function errorOf(err, fallback) {
  return { error: fallback, message: String(err && err.message) };
}

function attach(nsp, socket) {
  const on = (event, fn) =>
    socket.on(event, async (...rest) => {
      const cb = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
      const result = await fn(rest[0]);
      if (cb) cb(result);
    });
  on("whoami", () => ({
    id: socket.id,
    server: NAME,
    rooms: [...socket.rooms].sort(),
    data: socket.data,
    recovered: socket.recovered,
  }));
  on("join", (rooms) => {
    socket.join(rooms);
    return [...socket.rooms].sort();
  });
  on("leave", (rooms) => {
    for (const room of Array.isArray(rooms) ? rooms : [rooms]) socket.leave(room);
    return [...socket.rooms].sort();
  });
  on("emit-to", (spec) => {
    let op;
    if (spec.from_socket) {
      op = socket.broadcast;
      if (spec.rooms && spec.rooms.length) op = op.to(spec.rooms);
      if (spec.except && spec.except.length) op = op.except(spec.except);
    } else {
      op = select(nsp, spec);
    }
    op.emit(spec.event, ...(spec.args || []));
    return "ok";
  });
  on("fetch", async (spec) => {
    try {
      const sockets = await select(nsp, spec).fetchSockets();
      return sockets
        .map((s) => ({
          id: s.id,
          rooms: [...s.rooms].sort(),
          data: s.data,
          headers: Object.keys(s.handshake.headers || {}).sort(),
          query: Object.keys(s.handshake.query || {}).sort(),
          address: s.handshake.address,
        }))
        .sort((x, y) => (x.id < y.id ? -1 : 1));
    } catch (err) {
      return errorOf(err, "ClusterTimeout");
    }
  });
  on("sockets-join", (spec) => {
    select(nsp, spec).socketsJoin(spec.target);
    return "ok";
  });
  on("sockets-leave", (spec) => {
    select(nsp, spec).socketsLeave(spec.target);
    return "ok";
  });
  on("disconnect-sockets", (spec) => {
    select(nsp, spec).disconnectSockets(!!spec.close);
    return "ok";
  });
  on("call", async (spec) => {
    try {
      const responses = await select(nsp, spec)
        .timeout((spec.timeout || 2) * 1000)
        .emitWithAck(spec.event, ...(spec.args || []));
      return { responses };
    } catch (err) {
      return errorOf(err, "AckTimeout");
    }
  });
  on("server-side-emit", (spec) => {
    nsp.serverSideEmit(spec.event, ...(spec.args || []));
    return "ok";
  });
  on("server-side-call", async (spec) => {
    try {
      const responses = await nsp.serverSideEmitWithAck(spec.event, ...(spec.args || []));
      return { responses: responses.sort() };
    } catch (err) {
      return errorOf(err, "ClusterTimeout");
    }
  });
  on("all-rooms", async () => {
    try {
      return [...(await nsp.adapter.allRooms())].sort();
    } catch (err) {
      return errorOf(err, "ClusterTimeout");
    }
  });
  on("set-data", (data) => {
    Object.assign(socket.data, data);
    return "ok";
  });
  const remote = async (id) => (await nsp.in(id).fetchSockets()).find((s) => s.id === id);
  on("remote-emit", async (spec) => {
    const handle = await remote(spec.id);
    if (!handle) return "missing";
    handle.emit(spec.event, ...(spec.args || []));
    return handle.constructor.name;
  });
  on("remote-join", async (spec) => {
    const handle = await remote(spec.id);
    if (!handle) return "missing";
    handle.join(spec.room);
    return handle.constructor.name;
  });
  on("server-side-log", () => SERVER_SIDE);
}

// The streams adapter: one client (it makes its own reader and subscriber from it).
async function mainStreams() {
  const { createAdapter: createStreamsAdapter } = require("@socket.io/redis-streams-adapter");
  const prefix = args.prefix || "socket.io";
  const client = createClient({ url: args.redis });
  client.on("error", (err) => console.log(`redis error: ${err.message}`));
  await client.connect();
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createStreamsAdapter(client, {
      streamName: prefix,
      channelPrefix: prefix,
      sessionKeyPrefix: `${prefix}:session:`,
      blockTimeInMs: 1000,
    }),
    connectionStateRecovery:
      args.recovery === "yes" ? { maxDisconnectionDuration: 120000, skipMiddlewares: true } : undefined,
    ...(Number(args.ping) > 0 ? { pingInterval: args.ping * 1000, pingTimeout: args.ping * 1000 } : {}),
  });
  serve(io);
  httpServer.listen(Number(args.port), "127.0.0.1", async () => {
    // The adapter subscribes and starts reading asynchronously: wait until Redis shows both
    // namespaces' subscriptions (2 channels each), then a little for the first XREAD.
    for (let i = 0; i < 400; i++) {
      const count = (await client.sendCommand(["PUBSUB", "NUMSUB", `${prefix}#/#`, `${prefix}#/chat#`]))
        .filter((_, i) => i % 2 === 1)
        .map(Number);
      if (count.every((n) => n >= 1) && i > 0) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    await new Promise((r) => setTimeout(r, 200));
    console.log("READY");
  });
}

function serve(io) {
  for (const name of ["/", "/chat"]) {
    const nsp = io.of(name);
    nsp.on("connection", (socket) => attach(nsp, socket));
    nsp.on("note", (...rest) => SERVER_SIDE.push([nsp.name, ...rest]));
    nsp.on("ping", (...rest) => {
      const cb = rest[rest.length - 1];
      if (typeof cb === "function") cb(`pong:${NAME}`);
    });
  }
}

async function main() {
  if (args.adapter === "streams") return mainStreams();
  const pub = createClient({ url: args.redis });
  const sub = pub.duplicate();
  let down = false;
  const onError = (err) => {
    if (!down) console.log(`redis error: ${err.message}`);
    down = true;
  };
  pub.on("error", onError);
  sub.on("error", onError);
  pub.on("ready", () => (down = false));
  await Promise.all([pub.connect(), sub.connect()]);
  const subId = await sub.sendCommand(["CLIENT", "ID"]);
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub, {
      key: args.prefix || "socket.io",
      requestsTimeout: Number(args["request-timeout"] || 2) * 1000,
      publishOnSpecificResponseChannel: args["specific-response-channel"] === "yes",
    }),
  });
  serve(io);
  httpServer.listen(Number(args.port), "127.0.0.1", async () => {
    // The adapters subscribe asynchronously: wait until Redis shows both namespaces'
    // subscriptions (1 pattern + 3 channels each) on the subscriber connection.
    for (let i = 0; i < 400; i++) {
      const info = String(await pub.sendCommand(["CLIENT", "LIST", "ID", String(subId)]));
      const psub = Number((/ psub=(\d+)/.exec(info) || [])[1]);
      const sub = Number((/ sub=(\d+)/.exec(info) || [])[1]);
      if (psub >= 2 && sub >= 6) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    console.log("READY");
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
