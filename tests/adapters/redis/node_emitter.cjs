// Node's @socket.io/redis-emitter, driven by the tests: performs a JSON list of actions, exits.
//   node node_emitter.cjs REDIS_URL PREFIX '[{"op": "emit", "to": ["r"], "event": "e", "args": []}]'
// In args, {"$bin": "<hex>"} becomes a Buffer and {"$date": "<iso>"} a Date.
"use strict";

const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "hex");
    if (typeof value.$date === "string") return new Date(value.$date);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

async function main() {
  const [url, prefix, actions] = process.argv.slice(2);
  const client = createClient({ url });
  await client.connect();
  const root = new Emitter(client, { key: prefix });
  for (const action of JSON.parse(actions)) {
    let target = action.nsp ? root.of(action.nsp) : root;
    if (action.to) target = target.to(action.to);
    if (action.except) target = target.except(action.except);
    switch (action.op) {
      case "emit":
        target.emit(action.event, ...revive(action.args || []));
        break;
      case "socketsJoin":
        target.socketsJoin(action.rooms);
        break;
      case "socketsLeave":
        target.socketsLeave(action.rooms);
        break;
      case "disconnectSockets":
        target.disconnectSockets(!!action.close);
        break;
      case "serverSideEmit":
        target.serverSideEmit(action.event, ...revive(action.args || []));
        break;
      default:
        throw new Error(`unknown op ${action.op}`);
    }
  }
  await client.quit();
  console.log("DONE");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
