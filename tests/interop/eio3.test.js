'use strict';
// The stock Socket.IO v2 client (socket.io-client 2.0.3, the one Sails'
// browser client bundles; Engine.IO v3 underneath) against roomd
// --allow-eio3 --protocol rooms, over polling, WebSocket and its default
// (polling, then upgrade); and refused without --allow-eio3.
// The same file runs against the reference Socket.IO 4.8 server, which
// speaks the subset of the rooms protocol used here:
//   ROOMD=tests/bench/node/roomd-like.sh node --test tests/interop/eio3.test.js
const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const ioV2 = require('socket.io-client-v2');
const { roomdSuite, connect: connectV4, withTimeout, sleep, WAIT_MS } = require('./helpers');

const T = { timeout: 20000 };
const PING = 300;

// A v2 socket recording every event (v2 has no onAny: events are listed).
const EVENTS = ['message', 'member-joined', 'member-left', 'result', 'error'];
function v2(url, transports) {
  const socket = ioV2(url, {
    forceNew: true,
    reconnection: false,
    timeout: WAIT_MS,
    ...(transports ? { transports } : {}),
  });
  socket.events = [];
  socket.waiters = [];
  for (const event of EVENTS) {
    socket.on(event, (...args) => {
      socket.events.push({ event, args });
      socket.waiters.splice(0).forEach((w) => w());
    });
  }
  return socket;
}

function connected(socket) {
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => reject(err instanceof Error ? err : new Error(String(err))));
    }),
    WAIT_MS,
    'connect',
  );
}

// Takes the next `event` from the record (v2 sockets and v4 ones alike).
function take(socket, event, ms = WAIT_MS) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        const i = socket.events.findIndex((e) => e.event === event);
        if (i >= 0) resolve(socket.events.splice(i, 1)[0].args);
        else socket.waiters.push(check);
      };
      check();
    }),
    ms,
    `a "${event}" event`,
  );
}

// emit(...args, callback): every argument the callback got.
function withAck(socket, ...sent) {
  return withTimeout(new Promise((resolve) => socket.emit(...sent, (...got) => resolve(got))), WAIT_MS, `the ack of ${sent[0]}`);
}

describe('Socket.IO v2 clients with --allow-eio3', () => {
  const suite = roomdSuite(['--protocol', 'rooms', '--allow-eio3', '--ping-interval', String(PING), '--ping-timeout', String(PING)]);
  const open = [];
  afterEach(() => open.splice(0).forEach((s) => s.close()));
  const user = async (transports) => {
    const s = v2(suite.roomd.url, transports);
    open.push(s);
    return connected(s);
  };

  for (const [name, transports, last] of [
    ['polling', ['polling'], 'polling'],
    ['websocket', ['websocket'], 'websocket'],
    ['default options (polling, then upgrade)', null, 'websocket'],
  ]) {
    describe(name, () => {
      it('connects, joins, events both ways, acks', T, async () => {
        const a = await user(transports);
        const b = await user(transports);
        const [joinA] = await withAck(a, 'join', 'v2');
        assert.deepEqual(joinA, { msg: 'Joined room', data: { room: 'v2', members: 1, event: 'join' } });
        const [joinB] = await withAck(b, 'join', 'v2');
        assert.equal(joinB.data.members, 2);
        // The server's id for b (a v2 client's own socket.id is its Engine.IO id).
        const [{ data: joined }] = await take(a, 'member-joined');
        assert.equal(joined.room, 'v2');
        const [sent] = await withAck(b, 'send', 'v2', { text: 'hi' });
        assert.deepEqual(sent, { msg: 'Sent', data: { room: 'v2', delivered: 2, event: 'send' } });
        for (const s of [a, b]) {
          const [m] = await take(s, 'message');
          assert.equal(m.data.from, joined.id);
          assert.deepEqual(m.data.data, { text: 'hi' });
        }
        const [direct] = await withAck(a, 'direct', joined.id, 'psst');
        assert.equal(direct.data.event, 'direct');
        assert.equal((await take(b, 'message'))[0].data.data, 'psst');
        assert.deepEqual(await withAck(a, 'echo', 1, '2', { three: 3 }), [1, '2', { three: 3 }]);
        a.emit('echo', 'no', 'ack');
        assert.deepEqual(await take(a, 'result'), ['no', 'ack']);
        if (last === 'websocket') {
          await withTimeout(
            (async () => {
              while (a.io.engine.transport.name !== 'websocket') await sleep(20);
            })(),
            WAIT_MS,
            'the upgrade',
          );
        }
        assert.equal(a.io.engine.transport.name, last);
      });

      it('binary both ways', T, async () => {
        const a = await user(transports);
        const b = await user(transports);
        await withAck(a, 'join', 'bin');
        await withAck(b, 'join', 'bin');
        const blob = Buffer.from([0, 1, 2, 0x1e, 0x3a, 250, 255]);
        const [x, y] = await withAck(a, 'echo', { blob }, Buffer.from('second'));
        assert.deepEqual(Buffer.from(x.blob), blob);
        assert.deepEqual(Buffer.from(y), Buffer.from('second'));
        await withAck(a, 'send', 'bin', { blob });
        const [m] = await take(b, 'message');
        assert.ok(Buffer.isBuffer(m.data.data.blob), JSON.stringify(m));
        assert.deepEqual(m.data.data.blob, blob);
      });

      it('stays connected across heartbeats (Engine.IO v3: the client pings)', T, async () => {
        const a = await user(transports);
        let pongs = 0;
        a.io.engine.on('pong', () => pongs++);
        await sleep(PING * 5);
        assert.ok(a.connected);
        assert.ok(pongs >= 3, `${pongs} pongs`);
        assert.deepEqual(await withAck(a, 'echo', 'alive'), ['alive']);
      });

      it('disconnecting tells the room', T, async () => {
        const a = await user(transports);
        const b = await user(transports);
        await withAck(a, 'join', 'bye');
        await withAck(b, 'join', 'bye');
        const [{ data: joined }] = await take(a, 'member-joined');
        b.disconnect();
        assert.deepEqual(await take(a, 'member-left'), [{ msg: 'Member left', data: { room: 'bye', id: joined.id } }]);
      });
    });
  }

  it('a v2 and a v4 client share a room, binary included', T, async () => {
    const a = await user(['polling']);
    const b = await connectV4(suite.roomd.url, { transports: ['polling', 'websocket'] });
    b.waiters = [];
    b.onAny(() => b.waiters.splice(0).forEach((w) => w()));
    try {
      await withAck(a, 'join', 'mixed');
      await withAck(b, 'join', 'mixed');
      await withAck(b, 'send', 'mixed', Buffer.from([7, 7]));
      assert.deepEqual((await take(a, 'message'))[0].data.data, Buffer.from([7, 7]));
      await withAck(a, 'send', 'mixed', 'from v2', Buffer.from([2]));
      const msgs = [];
      for (let i = 0; i < 2; i++) msgs.push((await take(b, 'message'))[0]);
      assert.deepEqual(msgs[1].data.data, 'from v2');
      assert.deepEqual(msgs[1].data.args[1], Buffer.from([2]));
    } finally {
      b.close();
    }
  });
});

describe('Socket.IO v2 clients without --allow-eio3', () => {
  const suite = roomdSuite(['--protocol', 'rooms']);

  for (const transports of [['polling'], ['websocket']]) {
    it(`are refused over ${transports[0]}, and never connect`, T, async () => {
      const s = v2(suite.roomd.url, transports);
      let connects = 0;
      s.on('connect', () => connects++);
      try {
        await assert.rejects(connected(s), /error/);
        await sleep(300);
        assert.equal(connects, 0);
      } finally {
        s.close();
      }
    });
  }

  it('a v4 client still connects', T, async () => {
    const s = await connectV4(suite.roomd.url, { transports: ['polling'] });
    s.close();
  });
});
