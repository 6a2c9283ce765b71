'use strict';
// Room history across roomd nodes joined by Redis (roomd --redis --history,
// docs/cluster.md "History", docs/history.md "In a cluster"): Redis gives a
// history room's offsets, so clients on every node see one history, in one
// order, with the same offsets; a client that moves to another node asks
// there since the {offset, epoch} it had and gets exactly what it missed,
// or an explicit too-old / wrong-epoch answer; Redis restarted under the
// nodes never yields a silent partial history. Starts its own redis-server
// on 127.0.0.1 and a free port, without persistence, and stops it by PID.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startRoomd, connect, received, ack, sleep, REDIS_SERVER, freePort, startRedis } = require('./helpers');

const T = { timeout: 30000 };
const QUIET_MS = 300;
const RECOVER_MS = 10000;
const KEPT = 20;
const ARGS = ['--protocol', 'rooms', '--history', String(KEPT), '--history-rooms', 'chat:*'];

function clusterSuite(n) {
  const c = { redis: null, port: 0, nodes: [], open: [] };
  c.user = async (i) => {
    const s = await connect(c.nodes[i].url);
    c.open.push(s);
    return s;
  };
  before(async () => {
    c.port = await freePort();
    c.redis = await startRedis(c.port);
    for (let i = 0; i < n; i++)
      c.nodes[i] = await startRoomd(['--redis', `redis://127.0.0.1:${c.port}`, '--node-id', `node${i}`, ...ARGS]);
    await sleep(1200);
  });
  after(async () => {
    for (const s of c.open) s.close();
    for (const node of c.nodes) if (node && node.running()) await node.stop();
    await c.redis.stop();
  });
  return c;
}

// The `message` events a client got in `room`, as their data.
const messages = (s, room) =>
  s.events.filter((e) => e.event === 'message' && e.args[0].data.room === room).map((e) => e.args[0].data);
const key = (d) => [d.offset, d.epoch, d.from, JSON.stringify(d.data)];

// Sends from every client at once, `per` messages each, all in flight
// together; resolves when every client has `total` messages of the room.
async function burst(users, room, per) {
  const sends = [];
  for (let i = 0; i < per; i++) users.forEach((u, j) => sends.push(ack(u, 'send', room, { u: j, i })));
  return Promise.all(sends);
}

async function messagesWithin(s, room, n, ms = 10000) {
  const start = Date.now();
  while (messages(s, room).length < n) {
    if (Date.now() - start > ms) throw new Error(`${messages(s, room).length} of ${n} messages in ${room}`);
    await sleep(20);
  }
  return messages(s, room);
}

describe('cluster history: three nodes, concurrent senders', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(3);

  it('every client on every node sees the same history: order, offsets, epoch', T, async () => {
    const users = [];
    for (let i = 0; i < 6; i++) users.push(await c.user(i % 3));
    for (const u of users) await ack(u, 'join', 'chat:one');
    await sleep(QUIET_MS);
    const replies = await burst(users, 'chat:one', 5);
    // `delivered` counts the members of every node, as for rooms without history.
    assert.deepEqual([...new Set(replies.map((r) => r.data.delivered))], [6]);
    const seen = [];
    for (const u of users) seen.push(await messagesWithin(u, 'chat:one', 30));
    await sleep(QUIET_MS);
    const first = seen[0];
    assert.equal(first.length, 30, 'nothing twice');
    assert.deepEqual(first.map((d) => d.offset), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.equal(new Set(first.map((d) => d.epoch)).size, 1);
    for (const s of seen) assert.deepEqual(s.map(key), first.map(key), 'the same history everywhere');
    // Each sender's messages keep their order.
    for (let j = 0; j < 6; j++)
      assert.deepEqual(first.filter((d) => d.data.u === j).map((d) => d.data.i), [0, 1, 2, 3, 4]);

    // A client of node 0 that had offset 10 moves to node 2, and one to
    // node 1: each gets exactly 11..30, in order, then the answer.
    const epoch = first[0].epoch;
    for (const to of [2, 1]) {
      const moved = await c.user(to);
      await ack(moved, 'join', 'chat:one');
      const res = await ack(moved, 'history', 'chat:one', { offset: 10, epoch });
      assert.deepEqual(res, { msg: 'History', data: { room: 'chat:one', offset: 30, epoch, count: 20, event: 'history' } });
      assert.deepEqual(messages(moved, 'chat:one').map(key), first.slice(10).map(key));
    }
    // The same question everywhere has the same answer: the history as a
    // whole (--history keeps 20), or too old.
    for (let i = 0; i < 3; i++) {
      const u = users[i];
      u.events.length = 0;
      const all = await ack(u, 'history', 'chat:one');
      assert.equal(all.data.count, KEPT);
      assert.deepEqual(messages(u, 'chat:one').map(key), first.slice(30 - KEPT).map(key));
      const old = await ack(u, 'history', 'chat:one', { offset: 5, epoch });
      assert.deepEqual([old.data.code, old.data.offset, old.data.epoch], ['too_old', 30, epoch]);
      const wrong = await ack(u, 'history', 'chat:one', { offset: 5, epoch: 'another' });
      assert.deepEqual([wrong.data.code, wrong.data.offset], ['wrong_epoch', 30]);
    }
  });

  it('a node with no member in the room answers from Redis, while messages keep coming', T, async () => {
    const a = await c.user(0);
    await ack(a, 'join', 'chat:lonely');
    for (let i = 1; i <= 6; i++) await ack(a, 'send', 'chat:lonely', { i });
    const got = await messagesWithin(a, 'chat:lonely', 6);
    const epoch = got[0].epoch;
    // Node 1 has never served chat:lonely: its first member asks since 2
    // while node 0 goes on sending.
    const b = await c.user(1);
    await ack(b, 'join', 'chat:lonely');
    // The request first, then the sends: they race its answer from Redis.
    const asked = ack(b, 'history', 'chat:lonely', { offset: 2, epoch });
    const more = (async () => {
      for (let i = 7; i <= 12; i++) await ack(a, 'send', 'chat:lonely', { i });
    })();
    const res = await asked;
    assert.equal(res.data.epoch, epoch);
    assert.equal(res.data.code, undefined);
    await more;
    const all = await messagesWithin(b, 'chat:lonely', 10);
    await sleep(QUIET_MS);
    // Replayed and live together: 3..12 exactly once, in order.
    assert.deepEqual(messages(b, 'chat:lonely').map((d) => d.offset), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual(all.slice(0, 4).map((d) => d.data.i), [3, 4, 5, 6]);
    // A position past what was given is not one of this history.
    assert.equal((await ack(b, 'history', 'chat:lonely', { offset: 99, epoch })).data.code, 'wrong_epoch');
  });
});

describe('cluster history: Redis restarted', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(2);

  it('local delivery goes on under another epoch; no position reads as whole afterwards', T, async () => {
    const a = await c.user(0);
    const a2 = await c.user(0);
    const b = await c.user(1);
    for (const u of [a, a2, b]) await ack(u, 'join', 'chat:r');
    await sleep(QUIET_MS);
    for (let i = 1; i <= 3; i++) await ack(a, 'send', 'chat:r', { i });
    const before = await messagesWithin(b, 'chat:r', 3);
    const epoch = before[0].epoch;
    await c.redis.stop();
    await sleep(QUIET_MS);
    // Redis is away: node 0 delivers to its own members, under an epoch of
    // its own, never presented as the cluster's.
    for (let i = 4; i <= 6; i++) await ack(a, 'send', 'chat:r', { i });
    const local = (await messagesWithin(a2, 'chat:r', 6)).slice(3);
    assert.deepEqual(local.map((d) => d.data.i), [4, 5, 6]);
    assert.notEqual(local[0].epoch, epoch);
    assert.equal(new Set(local.map((d) => d.epoch)).size, 1);
    // Node 1 cannot tell whether it missed anything: it says so rather
    // than answer from what it has.
    const during = await ack(b, 'history', 'chat:r', { offset: 3, epoch });
    assert.ok(['storage', 'wrong_epoch'].includes(during.data.code), JSON.stringify(during));
    c.redis = await startRedis(c.port);
    // Back: a message from node 1 reaches node 0 again.
    const start = Date.now();
    for (let i = 0; ; i++) {
      assert.ok(Date.now() - start < RECOVER_MS, 'cross-node delivery is back');
      await ack(b, 'send', 'chat:r', { probe: i });
      await sleep(250);
      if (messages(a, 'chat:r').some((d) => d.data.probe === i)) break;
    }
    const after = messages(a, 'chat:r').filter((d) => d.data.probe !== undefined).pop();
    assert.notEqual(after.epoch, epoch, 'a new epoch: the log lost what it had');
    // Whoever holds a position from before asks, on either node: told to
    // start over, never handed a part.
    for (const u of [a, b]) {
      u.events.length = 0;
      const res = await ack(u, 'history', 'chat:r', { offset: 3, epoch });
      assert.equal(res.data.code, 'wrong_epoch');
      assert.equal(res.data.epoch, after.epoch);
      const outage = await ack(u, 'history', 'chat:r', { offset: 5, epoch: local[0].epoch });
      assert.equal(outage.data.code, 'wrong_epoch');
      assert.equal(messages(u, 'chat:r').length, 0);
    }
    // Starting over gives the new run whole.
    const all = await ack(b, 'history', 'chat:r');
    assert.equal(all.data.epoch, after.epoch);
    assert.deepEqual(messages(b, 'chat:r').map((d) => d.offset),
      Array.from({ length: all.data.offset }, (_, i) => i + 1).slice(-Math.min(KEPT, all.data.offset)));
  });
});
