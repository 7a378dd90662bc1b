// Receivers of the comms scenario (run.py comms): pages that receive what a kernel sends,
// either through jupyter_rt (the official socket.io-client on a namespace the kernel hosts) or
// as a comm (comm_msg on the kernel's channels WebSocket, as JupyterLab receives it).
//
//   node comms.mjs --mode sio|comm --url http://127.0.0.1:PORT/ --kernel ID --receivers N
//   BENCH_TOKEN (environment): the Jupyter server's token
//
// stdin commands (one a line), stdout answers:
//   (start)               -> @ready                 every receiver connected
//   expect COUNT          -> @received {json}        COUNT messages {s, t} reached every receiver
//                                                    (or none came for 10 s): rate, p50/p99
//   ping COMM_ID          -> @pong {json}            receiver 0 asks the kernel for its time:
//                                                    ms until the kernel-side handler ran
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import WebSocket from "ws";

const require = createRequire(fileURLToPath(new URL("../tests/node/package.json", import.meta.url)));

const opts = { mode: "sio", url: "", kernel: "", receivers: 1, namespace: "/comms", timeout: 60 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const key = argv[i].slice(2);
  if (!(key in opts)) throw new Error(`unknown option ${argv[i]}`);
  opts[key] = typeof opts[key] === "number" ? Number(argv[i + 1]) : argv[i + 1];
}
const token = process.env.BENCH_TOKEN || "";
const wallMs = () => performance.timeOrigin + performance.now(); // the kernel's time.time() clock
const out = (line) => process.stdout.write(line + "\n");

// Every receiver counts what it gets; latency = arrival - the kernel's send time.
let latencies = [];
let arrivals = 0;
let firstArrival = 0;
let lastArrival = 0;
const perReceiver = new Array(opts.receivers).fill(0);
let pong = null;

function onData(index, data) {
  if (data && typeof data.s === "number") {
    const t = wallMs();
    if (!arrivals) firstArrival = t;
    arrivals++;
    lastArrival = t;
    perReceiver[index]++;
    latencies.push(t - data.t * 1000);
  } else if (data && typeof data.pong === "number" && pong) {
    pong(data.pong);
  }
}

async function connectSio(index) {
  const { io } = require("socket.io-client");
  const socket = io(opts.url + opts.namespace.slice(1), {
    path: new URL("socket.io/", opts.url).pathname,
    transports: ["websocket"],
    extraHeaders: { Authorization: `token ${token}` },
    reconnection: false,
  });
  socket.on("m", (data) => onData(index, data));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return {
    ping: async () => {
      const t0 = wallMs();
      const ran = await socket.timeout(opts.timeout * 1000).emitWithAck("ping");
      return ran * 1000 - t0;
    },
    close: () => socket.close(),
  };
}

async function connectComm(index) {
  const session = randomUUID();
  const base = opts.url.replace(/^http/, "ws");
  const ws = new WebSocket(`${base}api/kernels/${opts.kernel}/channels?session_id=${session}`, {
    headers: { Authorization: `token ${token}` },
  });
  ws.on("message", (raw, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse(raw.toString());
    if (msg.msg_type === "comm_msg") onData(index, msg.content.data);
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return {
    ping: async (commId) => {
      const t0 = wallMs();
      const answered = new Promise((resolve) => {
        pong = resolve;
      });
      const header = { msg_id: randomUUID(), msg_type: "comm_msg", username: "bench", session };
      Object.assign(header, { version: "5.3", date: new Date().toISOString() });
      const content = { comm_id: commId, data: { ping: t0 } };
      ws.send(JSON.stringify({ header, parent_header: {}, metadata: {}, content, channel: "shell", buffers: [] }));
      return (await answered) * 1000 - t0;
    },
    close: () => ws.close(),
  };
}

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

async function waitFor(count) {
  const started = wallMs();
  while (perReceiver.some((n) => n < count)) {
    const idle = wallMs() - (lastArrival || started);
    if (idle > 10000 || wallMs() - started > opts.timeout * 1000) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const sorted = Float64Array.from(latencies).sort();
  const span = (lastArrival - firstArrival) / 1000;
  const result = {
    receivers: opts.receivers,
    expected: count * opts.receivers,
    received: arrivals,
    seconds: Math.round(span * 1000) / 1000,
    messages_per_s: span > 0 ? Math.round(arrivals / span) : 0,
    latency: { p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99) },
  };
  latencies = [];
  arrivals = 0;
  firstArrival = lastArrival = 0;
  perReceiver.fill(0);
  return result;
}

const receivers = [];
const connect = opts.mode === "sio" ? connectSio : connectComm;
for (let i = 0; i < opts.receivers; i++) receivers.push(await connect(i));
out("@ready");
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.trim().split(" ");
  if (command === "expect") out(`@received ${JSON.stringify(await waitFor(Number(arg)))}`);
  else if (command === "ping") out(`@pong ${JSON.stringify({ ms: await receivers[0].ping(arg) })}`);
  else if (command === "quit") break;
}
for (const r of receivers) r.close();
process.exit(0);
