// The reference server for the client tests: Node's socket.io 4.8 on a given port.
// Prints READY once listening. `node node_server.cjs PORT [recovery]`: with `recovery`,
// connection state recovery is on (sessions kept 60 s, middlewares skipped on recovery).
const { Server } = require("socket.io");

const recovery = process.argv[3] === "recovery";
const io = new Server(Number(process.argv[2]), {
  pingInterval: 300,
  pingTimeout: 300,
  ...(recovery && {
    connectionStateRecovery: { maxDisconnectionDuration: 60000, skipMiddlewares: true },
  }),
});

io.on("connection", (socket) => {
  // The transport the session started on (before any upgrade).
  socket.data.firstTransport ??= socket.conn.transport.name;
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("whoami", (ack) =>
    ack({
      id: socket.id,
      auth: socket.handshake.auth,
      recovered: socket.recovered,
      firstTransport: socket.data.firstTransport,
      transport: socket.conn.transport.name,
    }),
  );
  socket.on("ask", async (question, ack) => {
    const answer = await socket.timeout(5000).emitWithAck("question", question, Buffer.from([1, 2, 3]));
    ack(answer);
  });
  // Emits `event` with `args` to this socket, asking for an ack; acks what the client answered.
  socket.on("callme", async (event, args, ack) => {
    try {
      ack({ answer: await socket.timeout(1000).emitWithAck(event, ...args) });
    } catch (err) {
      ack({ error: String(err.message) });
    }
  });
  socket.on("tell", (event, args, ack) => {
    socket.emit(event, ...args);
    ack();
  });
  socket.on("slow", (delay, value, ack) => setTimeout(() => ack(value), delay));
  socket.on("silent", () => {});  // asks for an ack, never gives one
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack([...socket.rooms]);
  });
  socket.on("say", (room, lines, ack) => {
    for (const line of lines) io.to(room).emit("line", line);
    ack();
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
