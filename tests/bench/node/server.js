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
//   --allow-credentials,
//   --allow-eio3, --ping-interval MS, --ping-timeout MS, --max-payload BYTES,
//   --redis URL (a cluster over @socket.io/redis-adapter 8.3, for the
//   benchmark's cluster scenario),
//   --protocol rooms (the positional subset of docs/protocol-rooms.md that
//   tests/interop/polling.test.js and eio3.test.js use: join, leave, send,
//   direct, echo and the member events), so those tests can be checked
//   against the reference too;
// and an Engine.IO echo mount at /engine.io/ (each message sent back).
const { createServer } = require('node:http');
const { Server } = require('socket.io');
const engine = require('engine.io');

function usage() {
  console.error(
    'usage: node server.js --port PORT [--host H] [--transports LIST] [--allow-origin ORIGINS]\n' +
      '       [--allow-credentials] [--allow-eio3] [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES] [--protocol P]',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: NaN, host: '127.0.0.1', transports: ['websocket'], origin: null, eio3: false, protocol: 'bench' };
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
      case '--allow-credentials': o.credentials = true; break;
      case '--ping-interval': o.pingInterval = int(v); i++; break;
      case '--ping-timeout': o.pingTimeout = int(v); i++; break;
      case '--max-payload': o.maxPayload = int(v); i++; break;
      case '--protocol': o.protocol = v; i++; break;
      case '--redis': o.redis = v; i++; break;
      case '--no-rate-limit': break; // Socket.IO has none
      default: usage();
    }
  }
  if (!(o.port <= 65535) || !['bench', 'rooms'].includes(o.protocol)) usage();
  return o;
}

const opts = parseArgs(process.argv);
const engineOpts = {
  transports: opts.transports,
  allowEIO3: opts.eio3,
  ...(opts.origin ? { cors: { origin: opts.origin, credentials: Boolean(opts.credentials) } } : {}),
  ...(opts.pingInterval !== undefined ? { pingInterval: opts.pingInterval } : {}),
  ...(opts.pingTimeout !== undefined ? { pingTimeout: opts.pingTimeout } : {}),
  ...(opts.maxPayload !== undefined ? { maxHttpBufferSize: opts.maxPayload } : {}),
};
const httpServer = createServer();
const io = new Server(httpServer, { perMessageDeflate: false, serveClient: false, ...engineOpts });

function bench(socket) {
  socket.on('join', (room) => {
    if (typeof room === 'string') socket.join(room);
  });
  socket.on('send', (room, payload) => {
    if (typeof room === 'string') io.to(room).emit('msg', payload);
  });
}

function rooms(socket) {
  const size = (room) => io.sockets.adapter.rooms.get(room)?.size ?? 0;
  const message = (room, data) => ({
    msg: 'Message',
    data: { room, from: socket.id, data: data.length ? data[0] : null, ...(data.length > 1 ? { args: data } : {}) },
  });
  const requests = {
    join(room) {
      if (socket.rooms.has(room)) return ['already_member', 'already a member'];
      socket.join(room);
      socket.to(room).emit('member-joined', { msg: 'Member joined', data: { room, id: socket.id } });
      return ['Joined room', { room, members: size(room), event: 'join' }];
    },
    leave(room) {
      if (!socket.rooms.has(room) || room === socket.id) return ['not_member', 'not a member of that room'];
      socket.leave(room);
      io.to(room).emit('member-left', { msg: 'Member left', data: { room, id: socket.id } });
      return ['Left room', { room, event: 'leave' }];
    },
    send(room, ...data) {
      if (!socket.rooms.has(room) || room === socket.id) return ['not_member', 'not a member of that room'];
      io.to(room).emit('message', message(room, data));
      return ['Sent', { room, delivered: size(room), event: 'send' }];
    },
    direct(to, ...data) {
      const target = io.sockets.sockets.get(to);
      if (!target) return ['not_found', 'no such connection'];
      target.emit('message', message(null, data));
      return ['Sent', { to, event: 'direct' }];
    },
  };
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (event === 'echo') return ack ? ack(...args) : socket.emit('result', ...args);
    const handler = requests[event];
    const [msg, data] = handler ? handler(...args) : ['unknown_event', 'unknown event'];
    const failed = typeof data === 'string';
    const answer = failed ? { msg: data, data: { code: msg, event } } : { msg, data };
    if (ack) ack(answer);
    else socket.emit(failed ? 'error' : 'result', answer);
  });
  socket.on('disconnecting', () => {
    for (const room of socket.rooms) {
      if (room !== socket.id) socket.to(room).emit('member-left', { msg: 'Member left', data: { room, id: socket.id } });
    }
  });
}

io.on('connection', opts.protocol === 'rooms' ? rooms : bench);

// Listens once the adapter's Redis clients are up, so that a listening
// server is a member of its cluster.
async function joinCluster() {
  if (!opts.redis) return;
  const { createClient } = require('redis');
  const { createAdapter } = require('@socket.io/redis-adapter');
  const pub = createClient({ url: opts.redis });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

const echo = engine.attach(httpServer, { path: '/engine.io/', perMessageDeflate: false, ...engineOpts });
echo.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));

// The default backlog (511) drops SYNs during a 10k connection storm, which
// then stall for a full SYN retransmit timeout and measure the kernel, not
// Socket.IO.
joinCluster().then(() =>
  httpServer.listen({ port: opts.port, host: opts.host, backlog: 4096 }, () => {
    const { address, port } = httpServer.address();
    console.log(`listening ${port}`);
    // The line tests/interop/helpers.js waits for.
    console.error(`socket.io listening on ${address}:${port}`);
  }),
);
// Exits 0 on SIGTERM, as roomd does, once the sockets are closed.
process.on('SIGTERM', () => {
  echo.close();
  io.close(() => process.exit(0));
});
