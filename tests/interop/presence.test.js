'use strict';
// roomd --protocol rooms --presence (docs/protocol-rooms.md, "Presence")
// against the stock socket.io-client and native WebSocket on /ws: multi-tab
// presence, state updates, typing expiry, refused joins, spoofing attempts.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { speaks, roomdSuite, connect, next, ack, sleep, Raw } = require('./helpers');

const T = { timeout: 15000 };
const QUIET_MS = 200;
const TYPING_MS = 300;
const SECRET = 'presence secret';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
function mint(claims) {
  const payload = b64url(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims }));
  return `${payload}.${b64url(crypto.createHmac('sha256', SECRET).update(payload).digest())}`;
}

const count = (s, event) => s.events.filter((e) => e.event === event).length;

// The next JSON-codec event named `event` (whose data passes `pred`) on a
// raw /ws connection; other messages before it are kept in `raw.skipped`.
async function rawEvent(raw, event, pred = () => true) {
  raw.skipped = raw.skipped || [];
  const i = raw.skipped.findIndex((m) => m.event === event && pred(m.data));
  if (i >= 0) return raw.skipped.splice(i, 1)[0].data;
  for (;;) {
    const m = JSON.parse(await raw.next());
    if (m.event === event && pred(m.data)) return m.data;
    raw.skipped.push(m);
  }
}

// Everything a raw connection has received and not yet taken.
const rawPending = (raw) => [...(raw.skipped || []), ...raw.queue.map((m) => JSON.parse(m))];

describe('rooms presence', { skip: !speaks('rooms') }, () => {
  const suite = roomdSuite(['--protocol', 'rooms', '--presence', '--typing-ms', String(TYPING_MS)]);

  async function as(userId, name, nsp = '') {
    return suite.track(await connect(suite.roomd.url + nsp, { auth: { userId, name } }));
  }

  it('two tabs of one user are one member: a join on the first, a leave after the last', T, async () => {
    const bob = await as('bob', 'Bob');
    const tab1 = await as('alice', 'Alice');
    const tab2 = await as('alice', 'Alice');
    assert.equal((await ack(bob, 'join', 'p1')).data.users, 1);
    const [mine] = await next(bob, 'presence');
    // Compact entries: the user id is the key, only what is set is sent.
    assert.deepEqual(mine, { room: 'p1', members: { bob: { name: 'Bob' } } });

    // Metadata on enter travels as the member's info.
    const joined = await ack(tab1, 'join', { room: 'p1', metadata: { color: 'red' } });
    assert.deepEqual(joined.data, { room: 'p1', members: 2, users: 2, event: 'join' });
    const [snap] = await next(tab1, 'presence');
    assert.deepEqual(snap.members.alice, { name: 'Alice', info: { color: 'red' } });
    assert.deepEqual(Object.keys(snap.members).sort(), ['alice', 'bob']);
    const [diff] = await next(bob, 'presence-diff');
    assert.deepEqual(diff, {
      room: 'p1',
      joins: { alice: { name: 'Alice', info: { color: 'red' } } },
      leaves: [],
    });

    // The second tab: a snapshot for it, nothing new for the others.
    const second = await ack(tab2, 'join', 'p1');
    assert.equal(second.data.users, 2);
    assert.equal(second.data.members, 3);
    assert.equal(Object.keys((await next(tab2, 'presence'))[0].members).length, 2);
    await sleep(QUIET_MS);
    assert.equal(count(bob, 'presence-diff'), 0);
    // A joiner gets its full state in place of the diff: one frame.
    assert.equal(count(tab1, 'presence-diff') + count(tab2, 'presence-diff'), 0);

    // The first tab goes: alice stays. Once the server has seen it go (a
    // send from the second tab reaches two connections), nobody was told.
    tab1.close();
    for (let i = 0; i < 50 && (await ack(tab2, 'send', 'p1', 'x')).data.delivered !== 2; i++) await sleep(20);
    assert.equal((await ack(tab2, 'send', 'p1', 'x')).data.delivered, 2);
    await sleep(QUIET_MS);
    assert.equal(count(bob, 'presence-diff'), 0);
    // Presence tells who comes and goes, per user: no per-connection
    // member-joined / member-left in a presence room.
    assert.equal(count(bob, 'member-joined') + count(bob, 'member-left'), 0);

    // The last one leaves: one leave.
    await ack(tab2, 'leave', 'p1');
    const [gone] = await next(bob, 'presence-diff');
    // A leave is the user id alone.
    assert.deepEqual(gone, { room: 'p1', joins: {}, leaves: ['alice'] });
  });

  it('update-presence merges into the sender\'s own state; bad updates are refused and change nothing', T, async () => {
    const alice = await as('alice', 'Alice');
    const bob = await as('bob');
    await ack(alice, 'join', 'p2');
    await ack(bob, 'join', 'p2');
    await sleep(QUIET_MS);
    alice.events = [];
    bob.events = [];
    assert.deepEqual(await ack(alice, 'update-presence', 'p2', { cursor: { x: 1, y: 2 }, status: 'here' }), {
      msg: 'Presence updated',
      data: { room: 'p2', event: 'update-presence' },
    });
    let [d] = await next(bob, 'presence-diff');
    assert.deepEqual(d.joins.alice.state, { cursor: { x: 1, y: 2 }, status: 'here' });
    // Back to an empty state: back to an entry without one.
    await ack(alice, 'update-presence', 'p2', { cursor: null, status: null });
    [d] = await next(bob, 'presence-diff');
    assert.deepEqual(d.joins.alice, { name: 'Alice' });
    await ack(alice, 'update-presence', 'p2', { cursor: { x: 1, y: 2 }, status: 'here' });
    [d] = await next(bob, 'presence-diff');
    // RFC 7386: null removes, objects merge; an "id" in the state is only state.
    await ack(alice, 'update-presence', { room: 'p2', presence: { cursor: { y: null }, status: null, id: 'bob' } });
    [d] = await next(bob, 'presence-diff');
    assert.deepEqual(d.joins.alice, { name: 'Alice', state: { cursor: { x: 1 }, id: 'bob' } });
    assert.equal(d.joins.bob, undefined);
    // Every refusal answered, none broadcast.
    const big = await ack(alice, 'update-presence', 'p2', { blob: 'x'.repeat(5000) });
    assert.equal(big.data.code, 'too_big');
    assert.equal(big.msg, 'presence state is larger than allowed');
    assert.equal((await ack(alice, 'update-presence', 'p2', [1, 2])).data.code, 'bad_message');
    assert.equal((await ack(alice, 'update-presence', 'p2')).data.code, 'bad_message');
    assert.equal((await ack(alice, 'update-presence', 'elsewhere', { a: 1 })).data.code, 'not_member');
    await sleep(QUIET_MS);
    assert.equal(count(bob, 'presence-diff'), 0);
  });

  it('typing goes to the others and stops by itself after the idle time, restarted by each typing', T, async () => {
    const alice = await as('alice', 'Alice');
    const tab2 = await as('alice', 'Alice');
    const bob = await as('bob');
    for (const s of [alice, tab2, bob]) await ack(s, 'join', 'p3');
    const t0 = Date.now();
    assert.equal((await ack(alice, 'typing', 'p3')).msg, 'Typing');
    assert.deepEqual(await next(bob, 'typing'), [{ room: 'p3', id: 'alice', name: 'Alice' }]);
    await sleep(TYPING_MS / 2);
    await ack(tab2, 'typing', { room: 'p3' }); // the same user, from another tab: restarts
    assert.deepEqual(await next(bob, 'stop-typing'), [{ room: 'p3', id: 'alice', name: 'Alice' }]);
    const idle = Date.now() - t0;
    assert.ok(idle >= TYPING_MS + TYPING_MS / 2 - 50, `stopped after ${idle} ms`);
    assert.ok(idle < TYPING_MS * 4, `stopped after ${idle} ms`);
    assert.equal(count(bob, 'typing'), 0); // relayed once
    assert.equal(count(alice, 'typing') + count(tab2, 'typing'), 0); // not to the typist's tabs

    // At once when the typist drops.
    await ack(bob, 'typing', 'p3');
    await next(alice, 'typing');
    const t1 = Date.now();
    bob.close();
    assert.deepEqual(await next(alice, 'stop-typing'), [{ room: 'p3', id: 'bob' }]);
    assert.ok(Date.now() - t1 < TYPING_MS, 'stop-typing on drop came at once');
  });

  it('no client can speak as another user', T, async () => {
    const alice = await as('alice', 'Alice');
    const mallory = await as('mallory');
    await ack(alice, 'join', 'p4');
    await ack(mallory, 'join', 'p4');
    await ack(mallory, 'send', { room: 'p4', from: 'alice', name: 'Alice', data: 'hi' });
    const [msg] = await next(alice, 'message');
    assert.equal(msg.data.from, 'mallory');
    assert.equal(msg.data.name, undefined);
    await ack(mallory, 'typing', { room: 'p4', id: 'alice', name: 'Alice' });
    assert.deepEqual(await next(alice, 'typing'), [{ room: 'p4', id: 'mallory' }]);
    // Server-built events a client sends are unknown requests.
    assert.equal((await ack(mallory, 'presence-diff', { room: 'p4', leaves: ['alice'] })).data.code,
      'unknown_event');
    // direct to a user reaches each of its tabs, naming the real sender.
    const tab2 = await as('alice', 'Alice');
    const sent = await ack(mallory, 'direct', { to: 'alice', data: 'psst' });
    assert.equal(sent.data.delivered, 2);
    for (const s of [alice, tab2]) assert.equal((await next(s, 'message'))[0].data.from, 'mallory');
  });

  it('/ws: presence with native WebSocket, identity from the query', T, async () => {
    const open = (q) => Raw.open(suite.roomd.port, { path: `/ws?${q}` });
    const a1 = await open('userId=wsalice&name=Alice');
    const a2 = await open('userId=wsalice&name=Alice');
    const b = await open('userId=wsbob');
    try {
      b.send(JSON.stringify({ event: 'join', data: 'w', id: 1 }));
      assert.deepEqual((await rawEvent(b, 'presence')).members, { wsbob: {} });
      a1.send(JSON.stringify({ event: 'join', data: { room: 'w', metadata: { tab: 1 } } }));
      assert.deepEqual(Object.keys((await rawEvent(a1, 'presence')).members).sort(), ['wsalice', 'wsbob']);
      const d = await rawEvent(b, 'presence-diff', (x) => x.joins.wsalice);
      assert.deepEqual(d.joins.wsalice, { name: 'Alice', info: { tab: 1 } });
      a2.send(JSON.stringify({ event: 'join', data: 'w' }));
      await rawEvent(a2, 'presence');
      a1.send(JSON.stringify({ event: 'update-presence', data: { room: 'w', presence: { s: 1 } } }));
      assert.deepEqual((await rawEvent(b, 'presence-diff', (x) => x.joins.wsalice?.state.s)).joins.wsalice.state,
        { s: 1 });
      a1.send(JSON.stringify({ event: 'typing', data: 'w' }));
      assert.deepEqual(await rawEvent(b, 'typing'), { room: 'w', id: 'wsalice', name: 'Alice' });
      assert.deepEqual(await rawEvent(b, 'stop-typing'), { room: 'w', id: 'wsalice', name: 'Alice' });
      a1.close();
      await sleep(QUIET_MS);
      assert.ok(!rawPending(b).some((m) => m.event === 'presence-diff' && m.data.leaves.length),
        'no leave while a tab remains');
      a2.send(JSON.stringify({ event: 'leave', data: 'w' }));
      const gone = await rawEvent(b, 'presence-diff', (x) => x.leaves.length);
      assert.deepEqual(gone.leaves, ['wsalice']);
    } finally {
      for (const r of [a1, a2, b]) r.close();
    }
  });
});

describe('rooms presence with --auth-secret', { skip: !speaks('rooms') }, () => {
  const suite = roomdSuite(['--protocol', 'rooms', '--presence', '--auth-secret', SECRET]);

  async function as(claims) {
    return suite.track(await connect(suite.roomd.url, { auth: { token: mint(claims) } }));
  }

  it('refuses joins outside the token\'s rooms with "forbidden"; nothing joined, nobody told', T, async () => {
    const ada = await as({ userId: 'ada', name: 'Ada', rooms: ['open'] });
    const eve = await as({ userId: 'eve', rooms: ['open'] });
    await ack(ada, 'join', 'open');
    await next(ada, 'presence');
    const refused = await ack(eve, 'join', 'closed');
    assert.deepEqual(refused, { msg: 'not allowed in room closed', data: { code: 'forbidden', event: 'join' } });
    // Without an ack: an `error` event.
    eve.emit('join', 'closed');
    assert.deepEqual(await next(eve, 'error'), [
      { msg: 'not allowed in room closed', data: { code: 'forbidden', event: 'join' } },
    ]);
    assert.equal(count(eve, 'presence'), 0);
    // Metadata must be a small object.
    assert.equal((await ack(eve, 'join', { room: 'open', metadata: 'x' })).data.code, 'bad_message');
    assert.equal((await ack(eve, 'join', { room: 'open', metadata: { b: 'x'.repeat(2000) } })).data.code, 'too_big');
    await sleep(QUIET_MS);
    assert.equal(count(ada, 'presence-diff'), 0);
    // The token's identity, not the client's claims, is what members see.
    assert.equal((await ack(eve, 'join', { room: 'open', metadata: { userId: 'ada' } })).msg, 'Joined room');
    const [d] = await next(ada, 'presence-diff');
    assert.deepEqual(Object.keys(d.joins), ['eve']);
    assert.deepEqual(d.joins.eve.info, { userId: 'ada' });
  });
});
