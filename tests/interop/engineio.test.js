'use strict';
// The stock engine.io-client (the one socket.io-client 4.8 is built on)
// against roomd's plain Engine.IO mount at /engine.io/, which echoes every
// message back: open, messages both ways (text and binary), heartbeat,
// close, and the upgrade from polling to WebSocket.
// The same file runs against the reference server, which has the same echo
// mount (engine.io 6.6):
//   ROOMD=tests/bench/node/roomd-like.sh node --test tests/interop/engineio.test.js
const { describe, it, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Socket } = require('engine.io-client');
const { roomdSuite, startRoomd, withTimeout, sleep, delayingProxy, WAIT_MS } = require('./helpers');

const T = { timeout: 20000 };
const PING = 250;

// An engine.io-client socket whose messages queue up for next().
function open(url, opts = {}) {
  const socket = new Socket(url, { reconnection: false, ...opts });
  socket.inbox = [];
  socket.waiters = [];
  socket.on('message', (data) => {
    socket.inbox.push(data);
    socket.waiters.splice(0).forEach((w) => w());
  });
  return withTimeout(
    new Promise((resolve, reject) => {
      socket.once('open', () => resolve(socket));
      socket.once('error', (err) => reject(err instanceof Error ? err : new Error(String(err))));
    }),
    WAIT_MS,
    'open',
  );
}

function nextMessage(socket, ms = WAIT_MS) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => (socket.inbox.length ? resolve(socket.inbox.shift()) : socket.waiters.push(check));
      check();
    }),
    ms,
    'a message',
  );
}

function upgraded(socket, ms = WAIT_MS) {
  if (socket.transport.name === 'websocket') return Promise.resolve();
  return withTimeout(new Promise((resolve) => socket.once('upgrade', () => resolve())), ms, 'the upgrade');
}

function closed(socket, ms = WAIT_MS) {
  return withTimeout(
    new Promise((resolve) => socket.once('close', (reason, description) => resolve({ reason, description }))),
    ms,
    'close',
  );
}

const bytes = (data) => Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data);

describe('engine.io-client against the /engine.io/ echo mount', () => {
  const suite = roomdSuite(['--ping-interval', String(PING), '--ping-timeout', String(PING * 2)]);
  const sockets = [];
  const track = (s) => (sockets.push(s), s);
  afterEach(() => sockets.splice(0).forEach((s) => s.close()));

  for (const [name, opts, first, last] of [
    ['default options', {}, 'polling', 'websocket'],
    ['polling only', { transports: ['polling'] }, 'polling', 'polling'],
    ['websocket only', { transports: ['websocket'] }, 'websocket', 'websocket'],
  ]) {
    it(`${name}: opens, echoes text and binary both ways`, T, async () => {
      const s = track(await open(suite.roomd.url, opts));
      assert.equal(s.transport.name, first);
      assert.match(s.id, /^[A-Za-z0-9_-]+$/);
      s.send('hello');
      assert.equal(await nextMessage(s), 'hello');
      const blob = Buffer.from([0, 1, 0x1e, 0xfe, 0xff]);
      s.send(blob);
      assert.deepEqual(bytes(await nextMessage(s)), blob);
      if (last === 'websocket') await upgraded(s);
      assert.equal(s.transport.name, last);
      // Several at once: one polling payload, several frames; order kept.
      const sent = ['a', Buffer.from([1, 2, 3]), 'é€😀', '', 'z'.repeat(10000)];
      sent.forEach((m) => s.send(m));
      const got = [];
      for (let i = 0; i < sent.length; i++) got.push(await nextMessage(s));
      // The stock client hands an empty message ("4") over as undefined.
      assert.deepEqual(
        got.map((m) => (m === undefined ? '' : typeof m === 'string' ? m : bytes(m))),
        sent,
      );
    });
  }

  it('the upgrade from polling to WebSocket loses nothing and duplicates nothing', T, async () => {
    // The upgrade's WebSocket is held back 300 ms: messages are under way
    // over polling when it happens.
    const proxy = await delayingProxy(suite.roomd.port);
    try {
      const s = track(await open(proxy.url, { transports: ['polling', 'websocket'] }));
      assert.equal(s.transport.name, 'polling');
      let n = 0;
      let before = 0;
      while (s.transport.name !== 'websocket' && n < 5000) {
        s.send(String(n++));
        before++;
        if (n % 10 === 0) await sleep(2);
      }
      await upgraded(s);
      for (let i = 0; i < 50; i++) s.send(String(n++));
      const got = [];
      for (let i = 0; i < n; i++) got.push(await nextMessage(s));
      assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i)));
      assert.ok(before > 10, `${before} messages before the upgrade`);
      await sleep(100);
      assert.deepEqual(s.inbox, []);
    } finally {
      proxy.close();
    }
  });

  it('heartbeat: the server pings every pingInterval, the client stays open', T, async () => {
    for (const transports of [['polling'], ['websocket']]) {
      const s = track(await open(suite.roomd.url, { transports }));
      let pings = 0;
      s.on('ping', () => pings++);
      await sleep(PING * 5);
      assert.ok(pings >= 3, `${transports}: ${pings} pings`);
      assert.equal(s.readyState, 'open');
      s.send('still here');
      assert.equal(await nextMessage(s), 'still here');
    }
  });

  it('the handshake announces the heartbeat, the upgrade and maxPayload', T, async () => {
    const s = track(await open(suite.roomd.url, { transports: ['polling', 'websocket'], upgrade: false }));
    assert.equal(s._pingInterval, PING);
    assert.equal(s._pingTimeout, PING * 2);
    assert.deepEqual(s._upgrades, ['websocket']);
    assert.equal(s._maxPayload, 1000000);
  });

  it('close: the client closes, a new session opens', T, async () => {
    for (const transports of [['polling'], ['websocket']]) {
      const s = await open(suite.roomd.url, { transports });
      const id = s.id;
      const done = closed(s);
      s.close();
      assert.equal((await done).reason, 'forced close');
      const again = track(await open(suite.roomd.url, { transports }));
      assert.notEqual(again.id, id);
      again.send('x');
      assert.equal(await nextMessage(again), 'x');
    }
  });

  it('the server closing a session (roomd stopping) reaches the client', T, async () => {
    // A roomd of its own: this test stops it.
    const own = await startRoomd();
    try {
      const p = await open(own.url, { transports: ['polling'] });
      const w = await open(own.url, { transports: ['websocket'] });
      const pc = closed(p, 10000);
      const wc = closed(w, 10000);
      const exit = await own.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, own.stderr());
      assert.ok((await pc).reason, 'polling client saw no close');
      assert.ok((await wc).reason, 'websocket client saw no close');
    } finally {
      if (own.running()) await own.stop('SIGKILL');
    }
  });
});
