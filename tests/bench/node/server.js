'use strict';
// Reference Socket.IO server for the libroom benchmark. It implements the
// same tiny bench protocol as `roomd --protocol bench`:
//   client emits join(room)          -> socket joins room
//   client emits send(room, payload) -> server emits msg(payload) to the room,
//                                       sender included
// Compression is off and, by default, the polling transport too, so both
// servers are measured on the same wire format: one uncompressed WebSocket
// frame per packet. The polling scenario passes --transports polling.
//
// The other options take roomd's names, so that the interop tests that check
// a behaviour against the reference (tests/interop/badhttp.test.js) can start
// this server in place of roomd (ROOMD=tests/bench/node/roomd-like.sh):
//   --host H, --transports websocket,polling, --allow-origin '*'|ORIGIN,...,
//   --allow-eio3, --ping-interval MS, --ping-timeout MS, --max-payload BYTES
// and an Engine.IO echo mount at /engine.io/ (each message sent back).
const { createServer } = require('node:http');
const { Server } = require('socket.io');
const engine = require('engine.io');

function usage() {
  console.error(
    'usage: node server.js --port PORT [--host H] [--transports LIST] [--allow-origin ORIGINS]\n' +
      '       [--allow-eio3] [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES] [--protocol P]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: NaN, host: '127.0.0.1', transports: ['websocket'], origin: null, eio3: false };
  const int = (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) usage();
    return n;
  };
  for (let i = 2; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--port': o.port = int(v); i++; break;
      case '--host': o.host = v; i++; break;
      case '--transports': o.transports = v.split(','); i++; break;
      case '--allow-origin': o.origin = v === '*' ? '*' : v.split(','); i++; break;
      case '--allow-eio3': o.eio3 = true; break;
      case '--ping-interval': o.pingInterval = int(v); i++; break;
      case '--ping-timeout': o.pingTimeout = int(v); i++; break;
      case '--max-payload': o.maxPayload = int(v); i++; break;
      case '--protocol': i++; break; // the bench protocol is the only one
      case '--no-rate-limit': break; // Socket.IO has none
      default: usage();
    }
  }
  if (!(o.port <= 65535)) usage();
  return o;
}

const opts = parseArgs(process.argv);
const engineOpts = {
  transports: opts.transports,
  allowEIO3: opts.eio3,
  ...(opts.origin ? { cors: { origin: opts.origin } } : {}),
  ...(opts.pingInterval !== undefined ? { pingInterval: opts.pingInterval } : {}),
  ...(opts.pingTimeout !== undefined ? { pingTimeout: opts.pingTimeout } : {}),
  ...(opts.maxPayload !== undefined ? { maxHttpBufferSize: opts.maxPayload } : {}),
};
const httpServer = createServer();
const io = new Server(httpServer, { perMessageDeflate: false, serveClient: false, ...engineOpts });

io.on('connection', (socket) => {
  socket.on('join', (room) => {
    if (typeof room === 'string') socket.join(room);
  });
  socket.on('send', (room, payload) => {
    if (typeof room === 'string') io.to(room).emit('msg', payload);
  });
});

const echo = engine.attach(httpServer, { path: '/engine.io/', perMessageDeflate: false, ...engineOpts });
echo.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));

// The default backlog (511) drops SYNs during a 10k connection storm, which
// then stall for a full SYN retransmit timeout and measure the kernel, not
// Socket.IO.
httpServer.listen({ port: opts.port, host: opts.host, backlog: 4096 }, () => {
  const { address, port } = httpServer.address();
  console.log(`listening ${port}`);
  // The line tests/interop/helpers.js waits for.
  console.error(`socket.io listening on ${address}:${port}`);
});
// Exits 0 on SIGTERM, as roomd does, once the sockets are closed.
process.on('SIGTERM', () => {
  echo.close();
  io.close(() => process.exit(0));
});
