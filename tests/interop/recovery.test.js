'use strict';
// Connection-state recovery (docs/recovery.md) with the stock
// socket.io-client 4.8 and a raw WebSocket on /ws: a TCP proxy inside the
// test cuts the client's connection while events flow; coming back within
// the window gives the same session and every event once, in order; after
// it, a fresh session.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startRoomd, client, connect, ack, withTimeout, sleep, speaks, Raw, cuttingProxy, WAIT_MS } = require('./helpers');

const T = { skip: !speaks('rooms') && 'the server does not speak the rooms protocol', timeout: 30000 };

// A client through the proxy that reconnects quickly by itself, as the
// stock client does by default (only faster).
function reconnecting(url) {
  return client(url, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
}

const once = (socket, event) =>
  withTimeout(new Promise((resolve) => socket.once(event, resolve)), WAIT_MS, `"${event}"`);

// The numbers carried by the `message` events a socket recorded, each with
// the offset that came as its last argument.
function messages(socket) {
  return socket.events
    .filter((e) => e.event === 'message')
    .map((e) => ({ n: e.args[0].data.data, offset: e.args[e.args.length - 1] }));
}

async function until(check, what, ms = 5000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('connection-state recovery over Socket.IO', () => {
  let roomd;
  before(async () => {
    roomd = await startRoomd(['--recovery-ms', '1500', '--no-rate-limit']);
  });
  after(async () => {
    assert.deepEqual(await roomd.stop(), { code: 0, signal: null }, roomd.stderr());
  });

  it('the CONNECT reply carries a pid and events an offset', T, async () => {
    const a = await connect(roomd.url);
    try {
      await ack(a, 'join', 'offsets');
      a.emit('send', 'offsets', 1);
      await until(() => messages(a).length === 1, 'the message');
      const [m] = messages(a);
      assert.equal(m.n, 1);
      assert.match(m.offset, /^\d+$/);
      assert.equal(a.recovered, false);
    } finally {
      a.close();
    }
  });

  it('a cut within the window: same id, same rooms, every event once in order', T, async () => {
    const p = await cuttingProxy(roomd.port);
    const a = reconnecting(p.url);
    const b = await connect(roomd.url);
    try {
      await once(a, 'connect');
      const id = a.id;
      await ack(a, 'join', 'live');
      await ack(b, 'join', 'live');
      const total = 300;
      let sent = 0;
      const sending = (async () => {
        for (; sent < total; sent++) {
          b.emit('send', 'live', sent);
          if (sent % 10 === 9) await sleep(10);
        }
      })();
      await until(() => messages(a).length >= 50, '50 messages before the cut');
      let away = 0;
      a.once('disconnect', () => (away = sent));
      const reconnected = once(a, 'connect');
      p.cut();
      await reconnected;
      // Events were sent while it was away (and some were in flight).
      assert.ok(sent > away, `sent ${sent}, ${away} when cut`);
      await sending;
      assert.equal(a.recovered, true);
      assert.equal(a.id, id);
      await until(() => messages(a).length >= total, `${total} messages`);
      await sleep(100);
      const got = messages(a);
      assert.deepEqual(
        got.map((m) => m.n),
        Array.from({ length: total }, (_, i) => i),
      );
      const offsets = got.map((m) => BigInt(m.offset));
      offsets.forEach((o, i) => i && assert.ok(o > offsets[i - 1], 'offsets grow'));
      // Still in its room: a message after the recovery reaches it.
      b.emit('send', 'live', 'after');
      await until(() => messages(a).some((m) => m.n === 'after'), 'a message after recovery');
    } finally {
      a.close();
      b.close();
      await p.close();
    }
  });

  it('after the window: a fresh session, in no room', T, async () => {
    const p = await cuttingProxy(roomd.port);
    const a = reconnecting(p.url);
    const b = await connect(roomd.url);
    try {
      await once(a, 'connect');
      const id = a.id;
      await ack(a, 'join', 'late');
      await ack(b, 'join', 'late');
      b.emit('send', 'late', 'before');
      await until(() => messages(a).length === 1, 'a message');
      p.hold();
      p.cut();
      await once(a, 'disconnect');
      b.emit('send', 'late', 'missed');
      await sleep(2000);
      const reconnected = once(a, 'connect');
      p.release();
      await reconnected;
      assert.equal(a.recovered, false);
      assert.notEqual(a.id, id);
      b.emit('send', 'late', 'later');
      // Answered after "later" was handled: a would have it by now.
      await ack(b, 'echo', 1);
      await sleep(100);
      assert.deepEqual(
        messages(a).map((m) => m.n),
        ['before'],
      );
    } finally {
      a.close();
      b.close();
      await p.close();
    }
  });

  it('a client that leaves on purpose does not come back', T, async () => {
    const a = await connect(roomd.url);
    const b = await connect(roomd.url);
    try {
      await ack(a, 'join', 'bye');
      a.emit('send', 'bye', 1);
      await until(() => messages(a).length === 1, 'a message');
      const auth = { pid: a._pid, offset: a._lastOffset };
      a.disconnect();
      const c = await connect(roomd.url, { auth });
      try {
        assert.equal(c.recovered, false);
        assert.notEqual(c.id, a.id);
      } finally {
        c.close();
      }
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('connection-state recovery over /ws (JSON)', () => {
  let roomd;
  before(async () => {
    roomd = await startRoomd(['--recovery-ms', '1500', '--no-rate-limit']);
  });
  after(async () => {
    assert.deepEqual(await roomd.stop(), { code: 0, signal: null }, roomd.stderr());
  });

  const json = async (raw) => JSON.parse(await raw.next());

  it('session first, then resume with ?pid=&offset= replays what was missed', T, async () => {
    const a = await Raw.open(roomd.port, { path: '/ws' });
    const b = await Raw.open(roomd.port, { path: '/ws' });
    try {
      const session = await json(a);
      assert.equal(session.event, 'session');
      assert.equal(session.data.recovered, false);
      assert.match(session.data.pid, /^[\w-]{20}$/);
      await json(b);
      a.send(JSON.stringify({ event: 'join', data: 'j', id: 1 }));
      assert.equal((await json(a)).ack, 1);
      b.send(JSON.stringify({ event: 'join', data: 'j', id: 1 }));
      assert.equal((await json(b)).ack, 1);
      b.send(JSON.stringify({ event: 'send', data: { room: 'j', data: 0 } }));
      let m = await json(a);
      while (m.event !== 'message') m = await json(a);
      assert.equal(m.data.data.data, 0);
      const offset = m.offset;
      a.close();
      await sleep(200);
      for (let i = 1; i <= 3; i++) b.send(JSON.stringify({ event: 'send', data: { room: 'j', data: i } }));
      await sleep(200);
      const again = await Raw.open(roomd.port, { path: `/ws?pid=${session.data.pid}&offset=${offset}` });
      try {
        const s2 = await json(again);
        assert.equal(s2.event, 'session');
        assert.equal(s2.data.recovered, true);
        assert.equal(s2.data.id, session.data.id);
        const got = [];
        while (got.length < 3) {
          const e = await json(again);
          if (e.event === 'message') got.push(e.data.data.data);
        }
        assert.deepEqual(got, [1, 2, 3]);
      } finally {
        again.close();
      }
    } finally {
      a.close();
      b.close();
    }
  });
});
