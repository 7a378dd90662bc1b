// The cluster scenario's Node server: socket.io 4.8 with @socket.io/redis-adapter (createAdapter,
// the `redis` client), the bench handlers.
// Usage: node cluster_node_server.cjs PORT REDIS_URL PREFIX   (prints "READY <port>" once
// listening and subscribed). CommonJS so that NODE_PATH can supply the adapter packages.
"use strict";
const { createServer } = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const [port, redisUrl, prefix] = [Number(process.argv[2] || 0), process.argv[3], process.argv[4]];

(async () => {
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const httpServer = createServer();
  const io = new Server(httpServer, {
    serveClient: false,
    adapter: createAdapter(pubClient, subClient, { key: prefix }),
  });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
    socket.on("echo", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
    socket.on("fanout", (room, data) => {
      io.to(room).emit("tick", data);
    });
  });
  httpServer.listen(port, "127.0.0.1", () => {
    process.stdout.write(`READY ${httpServer.address().port}\n`);
  });
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => process.exit(0));
}
