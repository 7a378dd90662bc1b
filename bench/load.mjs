// Load generator for the bench: many Socket.IO v5 clients speaking Engine.IO v4 over a bare
// WebSocket (the `ws` package), cheap enough to run thousands of clients on one core.
//
//   node load.mjs --url ws://127.0.0.1:PORT/socket.io/ --scenario connect|echo|fanout [options]
//   --url2 ws://...: every other client connects there instead (the cluster scenario: clients
//   split over two servers; the fanout controller stays on --url)
//   --namespace /bench: the Socket.IO namespace the clients join (default "/")
//   BENCH_TOKEN (environment): sent as "Authorization: token ..." (a Jupyter server's token)
//   --transport polling: the clients use HTTP long-polling only (echo, connect)
//   --rate R: fanout paced at R broadcasts/s instead of a window in flight (latency at a rate)
//   --rooms N: fanout clients spread over N rooms (client i in room r<i mod N>), broadcasts go
//   to room r0 only: its cost should follow the room's size, not the number of clients
//
// Output protocol (stdout, one line each), read by run.py:
//   @mark NAME          a point in time (run.py samples the server's CPU time there)
//   @sync NAME          the generator waits for one line on stdin before going on
//                       (run.py samples the server's memory there)
//   @result {json}      the figures; the last line
// Every phase is bounded in time; the process exits by itself.

import http from "node:http";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import WebSocket from "ws";

const DEFAULTS = {
  url: "ws://127.0.0.1:3000/socket.io/",
  url2: "", // if set, odd-numbered clients connect here
  namespace: "/", // the Socket.IO namespace every client joins
  scenario: "echo",
  clients: 0, // 0 = the scenario's default
  concurrency: 100, // WebSocket handshakes in flight while connecting
  duration: 10, // seconds of measurement (echo, fanout)
  warmup: 1, // seconds of warm-up before measuring (echo, fanout)
  window: 8, // fanout: broadcasts in flight
  maxBroadcasts: 20000, // fanout: upper bound on broadcasts measured
  payload: 100, // approximate bytes of each event payload
  settle: 2, // connect: seconds idle before the memory sample
  timeout: 120, // seconds for any one phase
  connectTimeout: 15, // seconds for one client's WebSocket handshake and Socket.IO CONNECT
  deflate: true, // offer permessage-deflate, as browsers do
  sync: false, // wait for run.py at @sync points
  transport: "websocket", // or "polling" (HTTP long-polling only)
  rate: 0, // fanout: broadcasts per second (0: a window in flight)
  rooms: 1, // fanout: rooms the clients are spread over; broadcasts go to the first
};
const SCENARIO_CLIENTS = { connect: 5000, echo: 50, fanout: 1000 };

function parseArgs(argv) {
  const opts = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`);
    const key = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (key === "noDeflate") {
      opts.deflate = false;
      continue;
    }
    if (!(key in DEFAULTS)) throw new Error(`unknown option ${arg}`);
    if (typeof DEFAULTS[key] === "boolean") {
      opts[key] = true;
      continue;
    }
    const value = argv[++i];
    opts[key] = typeof DEFAULTS[key] === "number" ? Number(value) : value;
  }
  if (!opts.clients) opts.clients = SCENARIO_CLIENTS[opts.scenario];
  const eio = (url) => `${url}${url.includes("?") ? "&" : "?"}EIO=4&transport=websocket`;
  opts.wsUrl = eio(opts.url);
  opts.wsUrl2 = opts.url2 ? eio(opts.url2) : opts.wsUrl;
  if (!opts.namespace.startsWith("/")) throw new Error("--namespace starts with /");
  // Packets of a namespace other than "/" carry its name: 42/bench,["tick",...]
  opts.nspPrefix = opts.namespace === "/" ? "" : `${opts.namespace},`;
  opts.headers = process.env.BENCH_TOKEN ? { Authorization: `token ${process.env.BENCH_TOKEN}` } : {};
  if (!["websocket", "polling"].includes(opts.transport)) throw new Error("--transport websocket|polling");
  opts.httpUrl = opts.url.replace(/^ws/, "http");
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function out(line) {
  process.stdout.write(line + "\n");
}

let stdinLines = null;
async function sync(name) {
  out(`@sync ${name}`);
  if (!opts.sync) return;
  if (!stdinLines) stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  await stdinLines.next();
}

function withTimeout(promise, seconds, what) {
  let timer;
  const expiry = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${seconds}s`)), seconds * 1000);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// A minimal Socket.IO client on one namespace (--namespace).

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const NSP = opts.nspPrefix;
const TICK_PREFIX = Buffer.from(`42${NSP}["tick",`);

class Client {
  constructor(url) {
    this.url = url;
    this.ws = null;
    this.sid = null;
    this.nextAckId = 0;
    this.pendingAcks = new Map();
    this.onTick = null; // (seq) => void, fed straight from the frame bytes
    this.closed = false;
    this.extensions = "";
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, {
        perMessageDeflate: opts.deflate,
        skipUTF8Validation: true,
        headers: opts.headers,
      });
      this.ws = ws;
      let connected = false;
      const timer = setTimeout(() => {
        if (!connected) {
          reject(new Error(`no CONNECT reply within ${opts.connectTimeout}s`));
          ws.terminate();
        }
      }, opts.connectTimeout * 1000);
      ws.on("message", (data, isBinary) => {
        if (isBinary) return;
        // Fast path for broadcast deliveries: parse the sequence number from the bytes.
        if (this.onTick && data.length > TICK_PREFIX.length && data[0] === 52 && data[1] === 50) {
          if (data.compare(TICK_PREFIX, 0, TICK_PREFIX.length, 0, TICK_PREFIX.length) === 0) {
            this.onTick(readSeq(data));
            return;
          }
        }
        const msg = data.toString();
        switch (msg[0]) {
          case "0": // Engine.IO open: join the namespace
            ws.send(`40${NSP}`);
            return;
          case "2": // Engine.IO ping
            ws.send("3");
            return;
          case "1":
            ws.close();
            return;
          case "4":
            break;
          default:
            return;
        }
        if (NSP && !msg.startsWith(NSP, 2)) return; // another namespace's packet
        switch (msg[1]) {
          case "0": // CONNECT reply
            if (!connected) {
              connected = true;
              clearTimeout(timer);
              this.sid = msg;
              this.extensions = ws.extensions || "";
              resolve(this);
            }
            return;
          case "4": // CONNECT_ERROR
            reject(new Error(`connect refused: ${msg}`));
            ws.terminate();
            return;
          case "3": {
            // ACK: 43<id>[...] (43/bench,<id>[...] on a namespace)
            let i = 2 + NSP.length;
            let id = 0;
            while (i < msg.length && msg.charCodeAt(i) >= DIGIT_0 && msg.charCodeAt(i) <= DIGIT_9) {
              id = id * 10 + (msg.charCodeAt(i) - DIGIT_0);
              i++;
            }
            const cb = this.pendingAcks.get(id);
            if (cb) {
              this.pendingAcks.delete(id);
              cb(msg, i);
            }
            return;
          }
          default:
            return;
        }
      });
      ws.on("error", (err) => {
        if (!connected) reject(err);
      });
      ws.on("close", () => {
        this.closed = true;
        if (!connected) reject(new Error("closed before CONNECT reply"));
      });
    });
  }

  emit(event, ...args) {
    this.ws.send(`42${NSP}${JSON.stringify([event, ...args])}`);
  }

  call(event, ...args) {
    return new Promise((resolve) => {
      const id = this.nextAckId++;
      this.pendingAcks.set(id, resolve);
      this.ws.send(`42${NSP}${id}${JSON.stringify([event, ...args])}`);
    });
  }

  close() {
    return new Promise((resolve) => {
      if (this.closed || !this.ws) return resolve();
      this.ws.once("close", resolve);
      this.ws.close();
    });
  }
}

// The same client over HTTP long-polling: one GET waiting at all times, POSTs one at a time
// (what is written meanwhile leaves in the next POST, records separated by \x1e).
const pollAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

class PollClient {
  constructor(url) {
    this.url = url;
    this.sid = null;
    this.nextAckId = 0;
    this.pendingAcks = new Map();
    this.onTick = null;
    this.closed = false;
    this.extensions = "";
    this.queue = [];
    this.posting = false;
    this.polls = 0;
    this.onConnect = null;
  }

  request(method, body) {
    const sid = this.sid ? `&sid=${this.sid}` : "";
    const target = `${this.url}?EIO=4&transport=polling${sid}&t=${this.polls++}`;
    return new Promise((resolve, reject) => {
      const headers = { ...opts.headers };
      if (body !== undefined) headers["Content-Type"] = "text/plain;charset=UTF-8";
      const req = http.request(target, { method, agent: pollAgent, headers }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode} ${text.slice(0, 100)}`));
          else resolve(text);
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.setTimeout(opts.timeout * 1000, () => req.destroy(new Error("poll timed out")));
      req.end(body);
    });
  }

  async connect() {
    const open = await this.request("GET");
    if (open[0] !== "0") throw new Error(`unexpected open packet ${open.slice(0, 50)}`);
    this.sid = JSON.parse(open.slice(1)).sid;
    const connected = new Promise((resolve, reject) => {
      this.onConnect = { resolve, reject };
      setTimeout(() => reject(new Error(`no CONNECT reply within ${opts.connectTimeout}s`)), opts.connectTimeout * 1000);
    });
    this.send(`40${NSP}`);
    this.pollLoop();
    await connected;
    return this;
  }

  async pollLoop() {
    while (!this.closed) {
      let text;
      try {
        text = await this.request("GET");
      } catch (err) {
        this.closed = true;
        if (this.onConnect) this.onConnect.reject(err);
        return;
      }
      for (const packet of text.split("\x1e")) this.handle(packet);
    }
  }

  handle(msg) {
    if (msg === "2") return this.send("3");
    if (msg === "1") {
      this.closed = true;
      return;
    }
    if (msg[0] !== "4" || (NSP && !msg.startsWith(NSP, 2))) return;
    if (msg[1] === "0" && this.onConnect) {
      this.onConnect.resolve();
      this.onConnect = null;
    } else if (msg[1] === "4" && this.onConnect) {
      this.onConnect.reject(new Error(`connect refused: ${msg}`));
    } else if (msg[1] === "3") {
      let i = 2 + NSP.length;
      let id = 0;
      while (i < msg.length && msg.charCodeAt(i) >= DIGIT_0 && msg.charCodeAt(i) <= DIGIT_9) {
        id = id * 10 + (msg.charCodeAt(i) - DIGIT_0);
        i++;
      }
      const cb = this.pendingAcks.get(id);
      if (cb) {
        this.pendingAcks.delete(id);
        cb(msg, i);
      }
    } else if (msg[1] === "2" && this.onTick) {
      this.onTick(readSeq(Buffer.from(msg)));
    }
  }

  send(packet) {
    this.queue.push(packet);
    if (!this.posting) this.flush();
  }

  async flush() {
    this.posting = true;
    try {
      while (this.queue.length && !this.closed) {
        await this.request("POST", this.queue.splice(0).join("\x1e"));
      }
    } catch (err) {
      this.closed = true;
    } finally {
      this.posting = false;
    }
  }

  emit(event, ...args) {
    this.send(`42${NSP}${JSON.stringify([event, ...args])}`);
  }

  call(event, ...args) {
    return new Promise((resolve) => {
      const id = this.nextAckId++;
      this.pendingAcks.set(id, resolve);
      this.send(`42${NSP}${id}${JSON.stringify([event, ...args])}`);
    });
  }

  async close() {
    if (this.closed) return;
    const posting = this.request("POST", "1").catch(() => {});
    this.closed = true;
    await posting;
  }
}

// Reads the integer after the first ':' that follows the first '{' (the payload's "s" field).
function readSeq(buf) {
  let i = buf.indexOf(123, TICK_PREFIX.length); // '{'
  if (i < 0) return -1;
  i = buf.indexOf(58, i); // ':'
  if (i < 0) return -1;
  i++;
  while (buf[i] === 32) i++;
  let seq = 0;
  let digits = 0;
  while (buf[i] >= DIGIT_0 && buf[i] <= DIGIT_9) {
    seq = seq * 10 + (buf[i] - DIGIT_0);
    i++;
    digits++;
  }
  return digits ? seq : -1;
}

// Connects `count` clients with at most opts.concurrency handshakes in flight.
async function connectMany(count, latencies) {
  const clients = new Array(count);
  let next = 0;
  let failures = 0;
  let firstError = null;
  async function worker() {
    while (next < count) {
      const index = next++;
      const client =
        opts.transport === "polling"
          ? new PollClient(opts.httpUrl)
          : new Client(index % 2 ? opts.wsUrl2 : opts.wsUrl);
      const started = now();
      try {
        await client.connect();
        if (latencies) latencies.push(now() - started);
        clients[index] = client;
      } catch (err) {
        failures++;
        firstError ??= String(err && err.message ? err.message : err);
        clients[index] = null;
      }
    }
  }
  const workers = [];
  for (let i = 0; i < Math.min(opts.concurrency, count); i++) workers.push(worker());
  await withTimeout(Promise.all(workers), opts.timeout, `connecting ${count} clients`);
  return { clients: clients.filter(Boolean), failures, firstError };
}

async function closeAll(clients) {
  const closing = Promise.all(clients.map((c) => c.close()));
  try {
    await withTimeout(closing, 15, "closing clients");
  } catch {
    for (const c of clients) if (!c.closed && c.ws) c.ws.terminate();
  }
  pollAgent.destroy();
}

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  return {
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : 0),
  };
}

function round(x, digits = 3) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function cpuSince(start, startWall) {
  const used = process.cpuUsage(start);
  const wall = now() - startWall;
  return wall > 0 ? round((used.user + used.system) / 1000 / wall, 3) : 0;
}

function pad(bytes) {
  return "x".repeat(Math.max(0, bytes));
}

// ---------------------------------------------------------------------------------------------
// Scenarios

async function scenarioConnect() {
  // Warm the server up (code paths, allocator) so the memory baseline is fair to everyone.
  const warm = await connectMany(Math.min(50, opts.clients), null);
  await closeAll(warm.clients);
  await sleep(500);
  await sync("baseline");

  const latencies = [];
  const cpu0 = process.cpuUsage();
  const t0 = now();
  out("@mark start");
  const { clients, failures, firstError } = await connectMany(opts.clients, latencies);
  const elapsed = (now() - t0) / 1000;
  out("@mark end");
  const loadCpu = cpuSince(cpu0, t0);
  await sleep(opts.settle * 1000);
  await sync("connected");

  const extensions = clients.length ? clients[0].extensions : "";
  const t1 = now();
  await closeAll(clients);
  const closeElapsed = (now() - t1) / 1000;
  return {
    clients: opts.clients,
    connected: clients.length,
    failures,
    first_error: firstError,
    seconds: round(elapsed),
    connects_per_s: round(clients.length / elapsed, 1),
    connect_latency: summarize(latencies),
    disconnect_seconds: round(closeElapsed),
    websocket_extensions: extensions,
    load_cpu: loadCpu,
  };
}

async function scenarioEcho() {
  const { clients, failures, firstError } = await connectMany(opts.clients, null);
  if (!clients.length) throw new Error(`no client connected: ${firstError}`);
  const body = { p: pad(opts.payload - 30) };
  const latencies = [];
  let measuring = false;
  let stop = false;
  let acks = 0;

  async function loop(client) {
    while (!stop) {
      const started = now();
      await client.call("echo", body);
      if (measuring) {
        latencies.push(now() - started);
        acks++;
      }
    }
  }
  const loops = clients.map((c) => withTimeout(loop(c), opts.warmup + opts.duration + opts.timeout, "echo loop"));
  await sleep(opts.warmup * 1000);
  measuring = true;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  out("@mark start");
  await sleep(opts.duration * 1000);
  measuring = false;
  const elapsed = (now() - t0) / 1000;
  out("@mark end");
  const loadCpu = cpuSince(cpu0, t0);
  stop = true;
  await Promise.all(loops);
  await closeAll(clients);
  return {
    clients: clients.length,
    failures,
    first_error: firstError,
    seconds: round(elapsed),
    acks,
    acks_per_s: round(acks / elapsed, 1),
    latency: summarize(latencies),
    load_cpu: loadCpu,
  };
}

async function scenarioFanout() {
  const { clients, failures, firstError } = await connectMany(opts.clients, null);
  if (!clients.length) throw new Error(`no client connected: ${firstError}`);
  // One room ("bench"), or --rooms N: client i in room r<i mod N>, the broadcasts to r0.
  const roomOf = (i) => (opts.rooms > 1 ? `r${i % opts.rooms}` : "bench");
  const target = roomOf(0);
  await withTimeout(
    Promise.all(clients.map((c, i) => c.call("join", roomOf(i)))),
    opts.timeout,
    "joining the rooms",
  );
  const controller = (await connectMany(1, null)).clients[0];
  if (!controller) throw new Error("controller could not connect");
  const members = clients.filter((_, i) => roomOf(i) === target).length;

  // Sequence numbers index these arrays; warm-up and measurement share one numbering.
  const capacity = opts.maxBroadcasts + 100000;
  const sentAt = new Float64Array(capacity);
  const received = new Uint32Array(capacity);
  const padding = pad(opts.payload - 45);
  let latencies = new Float32Array(1 << 20);
  let nLat = 0;
  let measureFrom = Infinity; // first seq that counts
  let issued = 0;
  let completed = 0;
  let inflight = 0;
  let limit = 0; // issue sequence numbers below this
  let lastDelivery = 0;
  let deliveries = 0;
  let strays = 0;
  let drained = null;

  function issueOne() {
    const seq = issued++;
    const t = now();
    sentAt[seq] = t;
    inflight++;
    controller.emit("fanout", target, { s: seq, t: round(t, 3), p: padding });
  }

  function issue() {
    // Paced (--rate): the timer of runUntil issues; otherwise keep the window full.
    while (!opts.rate && inflight < opts.window && issued < limit) issueOne();
    if (inflight === 0 && issued >= limit && drained) drained();
  }

  function onTick(seq) {
    if (seq < 0 || seq >= issued) {
      strays++;
      return;
    }
    const t = now();
    if (seq >= measureFrom) {
      if (nLat === latencies.length) {
        const bigger = new Float32Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[nLat++] = t - sentAt[seq];
      deliveries++;
      lastDelivery = t;
    }
    if (++received[seq] === members) {
      inflight--;
      completed++;
      issue();
    }
  }
  for (const c of clients) c.onTick = onTick;

  function runUntil(seconds, count) {
    return new Promise((resolve) => {
      let pacer = null;
      const deadline = setTimeout(() => {
        clearTimeout(pacer);
        limit = issued; // stop issuing; wait for what is in flight
        issue();
      }, seconds * 1000);
      drained = () => {
        clearTimeout(deadline);
        clearTimeout(pacer);
        drained = null;
        resolve();
      };
      limit = Math.min(issued + count, capacity);
      if (opts.rate) {
        // One broadcast every 1/rate s on a fixed schedule, whatever is still in flight.
        const start = now();
        let k = 0;
        const tick = () => {
          if (issued >= limit) return issue();
          issueOne();
          k++;
          pacer = setTimeout(tick, Math.max(0, start + (k * 1000) / opts.rate - now()));
        };
        tick();
      } else {
        issue();
      }
    });
  }

  // Warm-up, then the measured run.
  await withTimeout(runUntil(opts.warmup, Math.max(opts.window * 4, 50)), opts.timeout, "fanout warm-up");
  measureFrom = issued;
  const firstMeasured = issued;
  const cpu0 = process.cpuUsage();
  const t0 = now();
  out("@mark start");
  let incomplete = 0;
  try {
    await withTimeout(runUntil(opts.duration, opts.maxBroadcasts), opts.duration + opts.timeout, "fanout");
  } catch (err) {
    incomplete = inflight;
  }
  out("@mark end");
  const loadCpu = cpuSince(cpu0, t0);
  const broadcasts = issued - firstMeasured;
  const elapsed = ((lastDelivery || now()) - t0) / 1000;
  const expected = broadcasts * members;
  for (const c of clients) c.onTick = null;
  await closeAll([...clients, controller]);
  return {
    clients: clients.length,
    room_members: members,
    rooms: opts.rooms,
    rate: opts.rate,
    failures,
    first_error: firstError,
    window: opts.window,
    payload_bytes: opts.payload,
    broadcasts,
    deliveries,
    lost: expected - deliveries,
    strays,
    incomplete_broadcasts: incomplete,
    seconds: round(elapsed),
    broadcasts_per_s: round(broadcasts / elapsed, 1),
    deliveries_per_s: round(deliveries / elapsed, 1),
    latency: summarize(latencies.subarray(0, nLat)),
    load_cpu: loadCpu,
  };
}

const SCENARIOS = { connect: scenarioConnect, echo: scenarioEcho, fanout: scenarioFanout };

async function main() {
  const scenario = SCENARIOS[opts.scenario];
  if (!scenario) throw new Error(`unknown scenario ${opts.scenario}`);
  const result = await scenario();
  out(`@result ${JSON.stringify({ scenario: opts.scenario, ...result })}`);
}

const watchdog = setTimeout(
  () => {
    out(`@result ${JSON.stringify({ scenario: opts.scenario, error: "load generator watchdog expired" })}`);
    process.exit(2);
  },
  (opts.timeout * 3 + opts.duration + opts.warmup + opts.settle + 30) * 1000,
);
watchdog.unref();

main().then(
  () => process.exit(0),
  (err) => {
    out(`@result ${JSON.stringify({ scenario: opts.scenario, error: String(err && err.stack ? err.stack : err) })}`);
    process.exit(1);
  },
);
