'use strict';
// Reference Socket.IO server for the libroom benchmark. It implements the
// same tiny bench protocol as `roomd --protocol bench`:
//   client emits join(room)          -> socket joins room
//   client emits send(room, payload) -> server emits msg(payload) to the room,
//                                       sender included
// Compression and the polling transport are off so both servers are measured
// on the same wire format: one uncompressed WebSocket frame per packet.
const { createServer } = require('node:http');
const { Server } = require('socket.io');

function parsePort(argv) {
  const i = argv.indexOf('--port');
  const port = i >= 0 ? Number(argv[i + 1]) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error('usage: node server.js --port PORT');
    process.exit(2);
  }
  return port;
}

const httpServer = createServer();
const io = new Server(httpServer, {
  perMessageDeflate: false,
  transports: ['websocket'],
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('join', (room) => {
    if (typeof room === 'string') socket.join(room);
  });
  socket.on('send', (room, payload) => {
    if (typeof room === 'string') io.to(room).emit('msg', payload);
  });
});

// The default backlog (511) drops SYNs during a 10k connection storm, which
// then stall for a full SYN retransmit timeout and measure the kernel, not
// Socket.IO.
httpServer.listen({ port: parsePort(process.argv), host: '127.0.0.1', backlog: 4096 }, () => {
  console.log(`listening ${httpServer.address().port}`);
});
