'use strict';
// The stock socket.io-client 4.8 over each way it can come: its defaults
// (HTTP long-polling, then the upgrade to WebSocket), long-polling only, and
// WebSocket only, against roomd --protocol rooms (docs/protocol-rooms.md).
// The same file runs against the reference Socket.IO 4.8 server, which
// speaks the subset of the rooms protocol used here:
//   ROOMD=tests/bench/node/roomd-like.sh node --test tests/interop/polling.test.js
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const {
  roomdSuite,
  client,
  connect,
  next,
  received,
  ack,
  sleep,
  withTimeout,
  disconnected,
  httpOnce,
  pollOpen,
  delayingProxy,
  WAIT_MS,
} = require('./helpers');

const T = { timeout: 20000 };

// emit(...args, callback): resolves with every argument the callback got.
function withAck(socket, ...sent) {
  return withTimeout(
    new Promise((resolve, reject) =>
      socket.timeout(WAIT_MS).emit(...sent, (err, ...got) => (err ? reject(err) : resolve(got))),
    ),
    WAIT_MS + 500,
    `the ack of ${sent[0]}`,
  );
}

// Resolves once the client's Engine.IO socket runs on WebSocket.
function upgraded(socket, ms = WAIT_MS) {
  const engine = socket.io.engine;
  if (engine.transport.name === 'websocket') return Promise.resolve();
  return withTimeout(new Promise((resolve) => engine.once('upgrade', () => resolve())), ms, 'the upgrade');
}

const MODES = [
  // No transports option at all: what io(url) does out of the box.
  { name: 'default options (polling, then upgrade)', opts: { transports: undefined }, first: 'polling', last: 'websocket' },
  { name: "transports: ['polling']", opts: { transports: ['polling'] }, first: 'polling', last: 'polling' },
  { name: "transports: ['websocket']", opts: { transports: ['websocket'] }, first: 'websocket', last: 'websocket' },
];

for (const mode of MODES) {
  describe(mode.name, () => {
    const suite = roomdSuite(['--protocol', 'rooms']);

    async function user() {
      // transports: undefined overrides the helpers' default: the client's own.
      const s = await connect(suite.roomd.url, mode.opts);
      suite.track(s);
      if (mode.last === 'websocket') await upgraded(s);
      assert.equal(s.io.engine.transport.name, mode.last);
      return s;
    }

    it(`connects on ${mode.first} and ends on ${mode.last}`, T, async () => {
      const s = suite.track(client(suite.roomd.url, mode.opts));
      // The manager opens its Engine.IO socket at once: this is the first transport.
      assert.equal(s.io.engine.transport.name, mode.first);
      await withTimeout(new Promise((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', reject);
      }), WAIT_MS, 'connect');
      assert.match(s.id, /^[A-Za-z0-9_-]{20}$/);
      if (mode.last === 'websocket') await upgraded(s);
      assert.equal(s.io.engine.transport.name, mode.last);
      // Still usable after the upgrade.
      assert.deepEqual(await withAck(s, 'echo', 'after'), ['after']);
    });

    it('joins a room; events go both ways; acks answer', T, async () => {
      const a = await user();
      const b = await user();
      assert.deepEqual(await ack(a, 'join', 'lobby'), {
        msg: 'Joined room',
        data: { room: 'lobby', members: 1, event: 'join' },
      });
      assert.deepEqual(await ack(b, 'join', 'lobby'), {
        msg: 'Joined room',
        data: { room: 'lobby', members: 2, event: 'join' },
      });
      assert.deepEqual(await next(a, 'member-joined'), [{ msg: 'Member joined', data: { room: 'lobby', id: b.id } }]);
      assert.deepEqual(await ack(b, 'send', 'lobby', { text: 'hi' }), {
        msg: 'Sent',
        data: { room: 'lobby', delivered: 2, event: 'send' },
      });
      for (const s of [a, b]) {
        const [m] = await next(s, 'message');
        assert.equal(m.data.from, b.id);
        assert.deepEqual(m.data.data, { text: 'hi' });
      }
      // Several arguments both ways, and an event instead of an ack.
      assert.deepEqual(await withAck(a, 'echo', 1, '2', { three: 3 }), [1, '2', { three: 3 }]);
      a.emit('echo', 'no', 'ack');
      assert.deepEqual(await next(a, 'result'), ['no', 'ack']);
    });

    it('binary travels both ways, small and large', T, async () => {
      const a = await user();
      const b = await user();
      await ack(a, 'join', 'bin');
      await ack(b, 'join', 'bin');
      const small = Buffer.from([0, 1, 2, 0x1e, 250, 255]);
      const large = Buffer.alloc(200000, 0);
      for (let i = 0; i < large.length; i++) large[i] = (i * 7) & 0xff;
      const [x, y] = await withAck(a, 'echo', { blob: small }, large);
      assert.deepEqual(x.blob, small);
      assert.ok(Buffer.isBuffer(y));
      assert.deepEqual(y, large);
      await ack(a, 'send', 'bin', { blob: small }, large);
      const [m] = await next(b, 'message');
      assert.deepEqual(m.data.data.blob, small);
      assert.deepEqual(m.data.args[1], large);
    });

    // 150: within roomd's default burst of 200 messages.
    it('a burst of 150 events arrives once each, in order', T, async () => {
      const a = await user();
      const b = await user();
      for (let i = 0; i < 150; i++) a.emit('direct', b.id, i);
      const got = await received(b, 'message', 150, 10000);
      assert.deepEqual(
        got.map(([m]) => m.data.data),
        Array.from({ length: 150 }, (_, i) => i),
      );
      await sleep(100);
      assert.equal(b.events.filter((e) => e.event === 'message').length, 150);
    });

    it('disconnecting leaves the rooms and tells the others', T, async () => {
      const a = await user();
      const b = await user();
      await ack(a, 'join', 'bye');
      await ack(b, 'join', 'bye');
      await next(a, 'member-joined');
      const id = b.id; // the client forgets it on disconnect
      const gone = disconnected(b);
      b.disconnect();
      await gone;
      assert.deepEqual(await next(a, 'member-left'), [{ msg: 'Member left', data: { room: 'bye', id } }]);
      assert.deepEqual((await ack(a, 'send', 'bye', 1)).data.delivered, 1);
    });
  });
}

describe('polling and WebSocket clients together', () => {
  // The upgrade test's sender outruns the default rate limits on purpose.
  const suite = roomdSuite(['--protocol', 'rooms', '--no-rate-limit']);

  it('a polling-only and a WebSocket-only client share a room', T, async () => {
    const p = suite.track(await connect(suite.roomd.url, { transports: ['polling'] }));
    const w = suite.track(await connect(suite.roomd.url, { transports: ['websocket'] }));
    await ack(p, 'join', 'mixed');
    await ack(w, 'join', 'mixed');
    await ack(w, 'send', 'mixed', 'from ws', Buffer.from([9, 8]));
    const [m] = await next(p, 'message');
    assert.equal(m.data.data, 'from ws');
    assert.deepEqual(m.data.args[1], Buffer.from([9, 8]));
    await ack(p, 'send', 'mixed', 'from polling');
    const got = (await received(w, 'message', 2)).map(([x]) => x.data.data);
    assert.deepEqual(got, ['from ws', 'from polling']);
  });

  it('events sent during the upgrade arrive once each, in order', T, async () => {
    const w = suite.track(await connect(suite.roomd.url, { transports: ['websocket'] }));
    // The WebSocket of the upgrade is held back 300 ms by a proxy: the
    // default client is connected over polling first, events flow, and the
    // upgrade happens in their midst.
    const proxy = await delayingProxy(suite.roomd.port);
    try {
      const d = suite.track(client(proxy.url, { transports: ['polling', 'websocket'] }));
      await withTimeout(new Promise((resolve) => d.once('connect', resolve)), WAIT_MS, 'connect');
      let sent = 0;
      let after = 0;
      let before = 0;
      while (after < 100 && sent < 20000) {
        if (d.io.engine.transport.name === 'websocket') after++;
        else before++;
        w.emit('direct', d.id, sent++);
        if (sent % 10 === 0) await sleep(2);
      }
      assert.equal(d.io.engine.transport.name, 'websocket');
      assert.ok(before > 0, 'the upgrade was over before the first event');
      const got = await received(d, 'message', sent, 10000);
      assert.deepEqual(
        got.map(([m]) => m.data.data),
        Array.from({ length: sent }, (_, i) => i),
      );
      await sleep(200);
      assert.equal(d.events.filter((e) => e.event === 'message').length, sent);
    } finally {
      proxy.close();
    }
  });
});

describe('heartbeat over polling', () => {
  const PING = 300;
  const suite = roomdSuite(['--protocol', 'rooms', '--ping-interval', String(PING), '--ping-timeout', String(PING)]);

  it('a polling client that answers pings stays connected', T, async () => {
    const p = suite.track(await connect(suite.roomd.url, { transports: ['polling'] }));
    assert.equal(p.io.engine.transport.name, 'polling');
    let pings = 0;
    p.io.engine.on('ping', () => pings++);
    await sleep(PING * 5);
    assert.ok(p.connected);
    assert.ok(pings >= 3, `${pings} pings`);
    assert.deepEqual(await withAck(p, 'echo', 'alive'), ['alive']);
  });

  it('a polling session never polled again is closed and forgotten', T, async () => {
    const port = suite.roomd.port;
    const hs = await pollOpen(port);
    assert.equal(hs.pingInterval, PING);
    assert.equal(hs.pingTimeout, PING);
    await sleep(PING * 2 + 500);
    const res = await httpOnce(port, 'GET', `/socket.io/?EIO=4&transport=polling&sid=${hs.sid}`);
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { code: 1, message: 'Session ID unknown' });
  });
});

// roomd's per-connection rate limits hold for polling sessions as for
// WebSocket ones (Socket.IO has none: roomd only). Over WebSocket the client
// gets the burst's results, the rate_limited errors, then "io server
// disconnect"; over polling it must get the same: a server-side close
// delivers what was sent before it, as engine.io's does (checked against
// Socket.IO 4.8 with socket.disconnect(true) after five emits).
describe('rate limits over polling', { skip: require('node:path').basename(process.env.ROOMD) === 'roomd-like.sh' }, () => {
  const suite = roomdSuite(['--protocol', 'rooms', '--msg-rate', '20']);

  for (const transports of [['websocket'], ['polling']]) {
    it(`${transports[0]}: a flood is answered up to the burst, refused, then disconnected`, T, async () => {
      const p = suite.track(await connect(suite.roomd.url, { transports }));
      const gone = withTimeout(new Promise((resolve) => p.once('disconnect', resolve)), 5000, 'disconnect');
      for (let i = 0; i < 200; i++) p.emit('echo', i);
      const reason = await gone;
      const results = p.events.filter((e) => e.event === 'result').map((e) => e.args[0]);
      const errors = p.events.filter((e) => e.event === 'error').map((e) => e.args[0]);
      // Bursts of 2 x --msg-rate; a few more may refill while they arrive.
      assert.ok(results.length >= 40 && results.length < 60, `${results.length} results`);
      assert.deepEqual(results, Array.from({ length: results.length }, (_, i) => i));
      assert.ok(errors.length > 0, 'no rate_limited error');
      assert.equal(errors[0].data.code, 'rate_limited');
      assert.equal(reason, 'io server disconnect');
    });
  }
});
