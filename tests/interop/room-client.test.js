'use strict';
// examples/web/room-client.js, the demo's client for the JSON protocol at
// /ws, in Node (with the `ws` package as its WebSocket) against roomd with
// presence and connection-state recovery: acks as promises and their
// timeout, reconnection with backoff after a cut (cuttingProxy), resumption
// with the events missed meanwhile, joining again when the session is gone,
// and the presence and typing helpers.
const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const WebSocket = require('ws');
const { startRoomd, withTimeout, cuttingProxy, WAIT_MS } = require('./helpers');

const T = { timeout: 30000 };
const MODULE = pathToFileURL(path.join(__dirname, '..', '..', 'examples', 'web', 'room-client.js')).href;
let lib = null; // the ES module, imported once

// Resolves with the arguments of the next `event` of `emitter` (a
// RoomClient), or of the first one for which `pred` holds.
function nextEvent(emitter, event, pred = () => true, ms = WAIT_MS) {
  let fn;
  return withTimeout(
    new Promise((resolve) => {
      fn = (...args) => {
        if (pred(...args)) resolve(args);
      };
      emitter.on(event, fn);
    }),
    ms,
    `the client's "${event}" event`,
  ).finally(() => emitter.off(event, fn));
}

// Records every `message` a client gets: [{text, from, offset}].
function inbox(client) {
  const got = [];
  client.on('message', (m, meta) => got.push({ text: m.data.data, from: m.data.from, offset: meta.offset }));
  return got;
}

// Waits until `pred()` holds, re-checking whenever `client` gets an event
// named in `events`.
function until(client, events, pred, what, ms = WAIT_MS) {
  const fns = [];
  return withTimeout(
    new Promise((resolve) => {
      const check = () => pred() && resolve();
      for (const e of events) {
        client.on(e, check);
        fns.push([e, check]);
      }
      check();
    }),
    ms,
    what,
  ).finally(() => fns.forEach(([e, fn]) => client.off(e, fn)));
}

describe('room-client.js against roomd --presence --recovery-ms', () => {
  let roomd = null;
  let clients = [];
  let proxies = [];

  const client = (url, opts = {}) => {
    const c = new lib.RoomClient(url, {
      WebSocket,
      ackTimeout: WAIT_MS,
      reconnect: { min: 20, max: 200 },
      ...opts,
    });
    clients.push(c);
    return c;
  };
  const proxy = async () => {
    const p = await cuttingProxy(roomd.port);
    proxies.push(p);
    return p;
  };

  before(async () => {
    lib = await import(MODULE);
    roomd = await startRoomd(['--presence', '--recovery-ms', '5000', '--typing-ms', '300', '--history', '3', '--history-rooms', 'history*']);
  });

  afterEach(async () => {
    clients.forEach((c) => c.close());
    clients = [];
    await Promise.all(proxies.map((p) => p.close()));
    proxies = [];
  });

  after(async () => {
    const exit = await roomd.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, roomd.stderr());
  });

  it('connects, learns its session, and round-trips a message through a room', T, async () => {
    const alice = client(roomd.url, { userId: 'alice', name: 'Alice' });
    const session = nextEvent(alice, 'session');
    await alice.connect();
    assert.equal(alice.connected, true);
    const [s] = await session;
    assert.equal(s.recovered, false);
    assert.match(alice.id, /^[A-Za-z0-9_-]{20}$/);
    assert.equal(typeof alice.pid, 'string');
    const joined = await alice.join('lobby');
    assert.equal(joined.msg, 'Joined room');
    assert.deepEqual(joined.data, { room: 'lobby', members: 1, users: 1, event: 'join' });
    const got = nextEvent(alice, 'message');
    const sent = await alice.send('lobby', { text: 'hi' });
    assert.deepEqual(sent.data, { room: 'lobby', delivered: 1, event: 'send' });
    const [m, meta] = await got;
    assert.deepEqual(m.data, { room: 'lobby', data: { text: 'hi' }, from: 'alice', name: 'Alice' });
    assert.match(meta.offset, /^\d+$/);
    assert.equal(alice.offset, meta.offset);
  });

  it('an error answer rejects the promise with the server\'s code', T, async () => {
    const alice = client(roomd.url, { userId: 'alice' });
    await alice.connect();
    await assert.rejects(alice.send('nowhere', 'x'), (err) => {
      assert.ok(err instanceof lib.RoomError);
      assert.equal(err.code, 'not_member');
      assert.equal(err.response.data.event, 'send');
      return true;
    });
    await assert.rejects(alice.request('no-such-request', 1), { code: 'unknown_event' });
    // Several arguments come back as an array (echo answers with them all).
    assert.deepEqual(await alice.request('echo', 1, '2', { three: 3 }), [1, '2', { three: 3 }]);
  });

  it('a request nobody answers rejects with "timeout" after ackTimeout; a late answer is ignored', T, async () => {
    // A server that holds every request and answers only when told.
    const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0 });
    await withTimeout(new Promise((r) => wss.once('listening', r)), WAIT_MS, 'the silent server');
    const held = [];
    const arrived = [];
    wss.on('connection', (ws) => ws.on('message', (d) => {
      held.push([ws, JSON.parse(d)]);
      arrived.splice(0).forEach((w) => w());
    }));
    try {
      const c = client(`ws://127.0.0.1:${wss.address().port}/ws`, { ackTimeout: 200 });
      await c.connect();
      const t0 = Date.now();
      await assert.rejects(c.request('join', { room: 'r' }), { name: 'RoomError', code: 'timeout' });
      const waited = Date.now() - t0;
      assert.ok(waited >= 190 && waited < 2000, `waited ${waited} ms`);
      // The answer comes after all: nothing happens, the next request works.
      const [ws, late] = held[0];
      ws.send(JSON.stringify({ ack: late.id, data: { msg: 'Joined room', data: {} } }));
      const next = c.request('echo', 'x');
      if (held.length < 2) await withTimeout(new Promise((r) => arrived.push(r)), WAIT_MS, 'the second request');
      const [ws2, second] = held[1];
      assert.notEqual(second.id, late.id);
      ws2.send(JSON.stringify({ ack: second.id, data: 'x' }));
      assert.equal(await next, 'x');
    } finally {
      // ws 8 leaves its connections open on close(): end them first.
      wss.clients.forEach((ws) => ws.terminate());
      await withTimeout(new Promise((r) => wss.close(r)), WAIT_MS, 'the silent server to close');
    }
  });

  it('backs off exponentially with jitter, up to the cap', T, () => {
    const opts = { min: 100, max: 1000, factor: 2, jitter: 0.5 };
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => lib.backoffDelay(a, opts, () => 0)), [100, 200, 400, 800, 1000, 1000]);
    assert.deepEqual([0, 1, 2, 3].map((a) => lib.backoffDelay(a, opts, () => 1)), [50, 100, 200, 400]);
    assert.equal(lib.backoffDelay(2, { ...opts, jitter: 0 }, () => 1), 400);
  });

  it('keeps trying with growing delays while the server is unreachable, and gives up after `attempts`', T, async () => {
    const p = await proxy();
    p.hold(); // refuses every connection
    const c = client(p.url, { reconnect: { min: 10, max: 40, attempts: 4 }, random: () => 0 });
    const delays = [];
    c.on('reconnecting', ({ delay }) => delays.push(delay));
    await assert.rejects(c.connect(), /closed|before it was ready/);
    assert.deepEqual(delays, [20, 40, 40]);
    assert.equal(c.state, 'closed');
  });

  it('reconnects after a server-side cut and resumes the session: same id, same rooms, missed events once', T, async () => {
    const p = await proxy();
    const alice = client(p.url, { userId: 'alice', name: 'Alice' });
    const bob = client(roomd.url, { userId: 'bob', name: 'Bob' });
    const session = nextEvent(alice, 'session');
    await alice.connect();
    await session;
    const id = alice.id;
    await alice.join('resume');
    await bob.connect();
    await bob.join('resume');
    const got = inbox(alice);
    await bob.send('resume', 'before');
    await until(alice, ['message'], () => got.length === 1, 'the first message');

    // The network path breaks and stays broken while bob talks.
    const dropped = nextEvent(alice, 'disconnect');
    p.hold();
    await p.cut();
    await dropped;
    assert.equal(alice.connected, false);
    // A request made while disconnected waits for the connection, through
    // failed attempts too.
    const queued = alice.send('resume', 'from alice, queued');
    await nextEvent(alice, 'connect_error');
    await bob.send('resume', 'missed 1');
    await bob.send('resume', 'missed 2');
    const back = nextEvent(alice, 'reconnect');
    p.release();
    const [{ recovered }] = await back;
    assert.equal(recovered, true);
    assert.equal(alice.id, id);
    assert.equal((await queued).data.delivered, 2);
    await until(alice, ['message'], () => got.length === 4, 'the missed messages and alice\'s own');
    assert.deepEqual(
      got.map((m) => m.text),
      ['before', 'missed 1', 'missed 2', 'from alice, queued'],
    );
    // Offsets only grow: each event once, in order.
    const offsets = got.map((m) => BigInt(m.offset));
    assert.deepEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), offsets);
    assert.equal(new Set(offsets).size, offsets.length);
    // Still in the room without joining again: bob's next message arrives.
    await bob.send('resume', 'after');
    await until(alice, ['message'], () => got.length === 5, 'the message after');
    assert.equal(got[4].text, 'after');
  });

  it('rejects the requests in flight when the connection drops', T, async () => {
    const p = await proxy();
    const c = client(p.url, { userId: 'carol' });
    await c.connect();
    await c.join('inflight');
    // Every byte between the two is dropped from here on: the answer never comes.
    p.hold();
    const dropped = nextEvent(c, 'disconnect');
    const inflight = c.request('echo', 'lost?');
    await p.cut();
    await dropped;
    await assert.rejects(inflight, (err) => ['disconnected', 'timeout'].includes(err.code));
  });

  it('joins its rooms again when the session cannot be resumed', T, async () => {
    // roomd without recovery: every reconnection is a new connection.
    const plain = await startRoomd(['--presence']);
    try {
      const p = await cuttingProxy(plain.port);
      proxies.push(p);
      const alice = client(p.url, { userId: 'alice', name: 'Alice' });
      const bob = client(plain.url, { userId: 'bob', name: 'Bob' });
      await alice.connect();
      assert.equal(alice.pid, null); // no session message without recovery
      await alice.join('again');
      await bob.connect();
      await bob.join('again');
      await until(alice, ['members'], () => alice.members('again').length === 2, 'two members');
      const back = nextEvent(alice, 'reconnect');
      await p.cut();
      const [{ recovered }] = await back;
      assert.equal(recovered, false);
      // It is in the room again: presence comes anew, bob's messages too.
      await until(alice, ['members'], () => alice.members('again').length === 2, 'two members again');
      const got = inbox(alice);
      await until(bob, ['members'], () => bob.members('again').length === 2, 'bob sees alice');
      await bob.send('again', 'welcome back');
      await until(alice, ['message'], () => got.length === 1, 'bob\'s message');
      assert.equal(got[0].text, 'welcome back');
    } finally {
      clients.forEach((c) => c.close());
      clients = [];
      const exit = await plain.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, plain.stderr());
    }
  });

  it('asks a room\'s history since a position: the messages first, then the answer; too_old rejects with the position', T, async () => {
    const alice = client(roomd.url, { userId: 'alice' });
    await alice.connect();
    await alice.join('history-a');
    const got = inbox(alice);
    for (const text of ['one', 'two', 'three', 'four']) await alice.send('history-a', text);
    await until(alice, ['message'], () => got.length === 4, 'four messages');
    const live = [];
    alice.on('message', (m) => live.push(m.data));
    // --history 3: the last three are kept, with offsets 2, 3, 4.
    const all = await alice.history('history-a');
    assert.deepEqual(live.map((d) => [d.data, d.offset]), [['two', 2], ['three', 3], ['four', 4]]);
    assert.deepEqual({ ...all.data, epoch: typeof all.data.epoch }, { room: 'history-a', offset: 4, epoch: 'string', count: 3, event: 'history' });
    const { epoch } = all.data;
    live.length = 0;
    const since = await alice.history('history-a', { offset: 3, epoch });
    assert.deepEqual(live.map((d) => d.data), ['four']);
    assert.equal(since.data.count, 1);
    await assert.rejects(alice.history('history-a', { offset: 0, epoch }), (err) => {
      assert.equal(err.code, 'too_old');
      assert.deepEqual([err.response.data.offset, err.response.data.epoch], [4, epoch]);
      return true;
    });
    await assert.rejects(alice.history('history-a', { offset: 1, epoch: 'not-this-one' }), { code: 'wrong_epoch' });
    await alice.join('plain');
    await assert.rejects(alice.history('plain'), { code: 'not_found' });
  });

  it('keeps the member list: one entry per user however many tabs, and who is typing until it expires', T, async () => {
    const alice1 = client(roomd.url, { userId: 'alice', name: 'Alice' });
    const alice2 = client(roomd.url, { userId: 'alice', name: 'Alice' });
    const bob = client(roomd.url, { userId: 'bob', name: 'Bob' });
    await Promise.all([alice1.connect(), alice2.connect(), bob.connect()]);
    await alice1.join('people', { color: 'red' });
    await bob.join('people');
    await alice2.join('people', { color: 'red' });
    const names = (c) => c.members('people').map((e) => e.name);
    await until(bob, ['members'], () => names(bob).length === 2, 'bob to see two users');
    await until(alice2, ['members'], () => names(alice2).length === 2, 'the second tab to see two users');
    assert.deepEqual(names(bob), ['Alice', 'Bob']);
    assert.deepEqual(names(alice1), ['Alice', 'Bob']);
    assert.deepEqual(bob.members('people')[0].info, { color: 'red' });

    // State updates travel as joins that replace the entry.
    await alice1.updatePresence('people', { status: 'away' });
    await until(bob, ['members'], () => bob.members('people')[0].state.status === 'away', 'the state update');

    // Typing: shown to bob, not to alice's other tab; gone after typing-ms.
    const typers = [];
    bob.on('typers', (room, list) => typers.push(list.map((t) => t.name)));
    await alice1.startTyping('people');
    await until(bob, ['typers'], () => bob.typers('people').length === 1, 'alice typing');
    assert.deepEqual(bob.typers('people'), [{ id: 'alice', name: 'Alice' }]);
    await until(bob, ['typers'], () => bob.typers('people').length === 0, 'typing to expire', 3000);
    assert.deepEqual(typers, [['Alice'], []]);
    assert.deepEqual(alice2.typers('people'), []);

    // One tab leaving changes nothing others see; the last one does.
    await alice2.leave('people');
    assert.deepEqual(alice2.members('people'), []);
    await alice2.request('echo', 'a round trip after the leave');
    assert.deepEqual(names(bob), ['Alice', 'Bob']);
    alice1.close();
    await until(bob, ['members'], () => names(bob).length === 1, 'alice to leave');
    assert.deepEqual(names(bob), ['Bob']);
  });
});
