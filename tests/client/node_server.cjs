// The reference server for the client tests: Node's socket.io 4.8 on a given port.
// Prints READY once listening. `node node_server.cjs PORT`
const { Server } = require("socket.io");

const io = new Server(Number(process.argv[2]), { pingInterval: 300, pingTimeout: 300 });

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("whoami", (ack) => ack({ id: socket.id, auth: socket.handshake.auth }));
  socket.on("ask", async (question, ack) => {
    const answer = await socket.timeout(5000).emitWithAck("question", question, Buffer.from([1, 2, 3]));
    ack(answer);
  });
  socket.on("kick", () => socket.disconnect());
  socket.on("drop", () => socket.conn.close());  // the transport only: clients come back
});

io.of("/refuse").use((socket, next) => {
  const err = new Error("not you");
  err.data = { code: 7 };
  next(err);
});

console.log("READY");
