// Reference server: Node's socket.io 4.8 with the bench scenario handlers.
// Usage: node node_server.mjs PORT   (prints "READY <port>" once listening)
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 0);
const httpServer = createServer();
const io = new Server(httpServer, { serveClient: false });

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
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => process.exit(0));
}
