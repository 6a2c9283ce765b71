'use strict';
// Three roomd nodes joined by Redis (roomd --redis, docs/cluster.md) with
// stock socket.io-client users spread over them, the stock
// @socket.io/redis-emitter, a node killed with SIGKILL, and Redis stopped
// and restarted under them. Starts its own redis-server (Debian package;
// tests/deps.sh installs it) on 127.0.0.1 and a free port, without
// persistence, and stops it by PID.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { createClient } = require('redis');
const { Emitter } = require('@socket.io/redis-emitter');
const { startRoomd, connect, next, received, ack, sleep, WAIT_MS, REDIS_SERVER, freePort, startRedis,
  client, withTimeout, cuttingProxy, Raw } = require('./helpers');

const T = { timeout: 30000 };
const QUIET_MS = 300;
// Cross-node traffic after Redis or a node came back or went away.
const RECOVER_MS = 10000;
// A change reaches the other nodes through Redis, while its client hears
// of it directly: a test client acting on another node at once could
// overtake it by a fraction of a millisecond (then the other node's users
// see the change in a later diff). Users do not act that fast.
const settle = () => sleep(50);

// A cluster: redis-server and `n` roomd nodes with `args`.
function clusterSuite(args, n = 3) {
  const c = { redis: null, port: 0, nodes: [], open: [] };
  c.url = () => `redis://127.0.0.1:${c.port}`;
  c.startNode = async (i) => {
    c.nodes[i] = await startRoomd(['--redis', c.url(), '--node-id', `node${i}`, ...args]);
    return c.nodes[i];
  };
  c.user = async (i, opts = {}) => {
    const s = await connect(c.nodes[i].url, opts);
    c.open.push(s);
    return s;
  };
  before(async () => {
    c.port = await freePort();
    c.redis = await startRedis(c.port);
    for (let i = 0; i < n; i++) await c.startNode(i);
    // Every node has heard every other (heartbeats go once a second).
    await sleep(1200);
  });
  after(async () => {
    for (const s of c.open) s.close();
    for (const node of c.nodes) if (node && node.running()) await node.stop();
    await c.redis.stop();
  });
  return c;
}

const count = (s, event) => s.events.filter((e) => e.event === event).length;

async function redisClient(port) {
  const client = createClient({ url: `redis://127.0.0.1:${port}` });
  client.on('error', () => {});
  await client.connect();
  return client;
}

// A message sent in `room` until `to` gets it (Redis or a node coming
// back), every try bounded; returns how long it took.
async function deliveredWithin(from, room, to, ms) {
  const start = Date.now();
  for (let i = 0; Date.now() - start < ms; i++) {
    await ack(from, 'send', room, { probe: i });
    await sleep(250);
    if (to.events.some((e) => e.event === 'message' && e.args[0].data.data && e.args[0].data.data.probe === i))
      return Date.now() - start;
  }
  throw new Error(`no cross-node delivery within ${ms} ms`);
}

describe('cluster: rooms protocol over three nodes', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'rooms']);

  it('a room spread over the nodes gets every message once, the sender included', T, async () => {
    const users = [await c.user(0), await c.user(1), await c.user(2), await c.user(0)];
    for (const u of users) await ack(u, 'join', 'spread');
    await sleep(QUIET_MS);
    for (const u of users) u.events.length = 0;
    for (let i = 0; i < 5; i++) await ack(users[i % 4], 'send', 'spread', { n: i });
    for (const u of users) await received(u, 'message', 5);
    await sleep(QUIET_MS);
    for (const u of users) {
      assert.equal(count(u, 'message'), 5, 'no duplicates, nothing lost');
      assert.deepEqual(u.events.filter((e) => e.event === 'message').map((e) => e.args[0].data.data.n).sort(),
        [0, 1, 2, 3, 4]);
    }
  });

  it('member-joined and member-left reach members on other nodes', T, async () => {
    const a = await c.user(0);
    const b = await c.user(1);
    await ack(a, 'join', 'mj');
    await ack(b, 'join', 'mj');
    assert.deepEqual(await next(a, 'member-joined'), [{ msg: 'Member joined', data: { room: 'mj', id: b.id } }]);
    await ack(b, 'leave', 'mj');
    assert.deepEqual(await next(a, 'member-left'), [{ msg: 'Member left', data: { room: 'mj', id: b.id } }]);
  });

  it('direct messages cross nodes, answered once the other node delivered them', T, async () => {
    const a = await c.user(0);
    const b = await c.user(2);
    assert.deepEqual(await ack(a, 'direct', { to: b.id, data: { hi: 1 } }), {
      msg: 'Sent',
      data: { to: b.id, event: 'direct' },
    });
    const [got] = await next(b, 'message');
    assert.equal(got.data.data.hi, 1);
    assert.equal(got.data.from, a.id);
    // An id no node holds: not found, after the cluster's request timeout.
    const reply = await a.timeout(8000).emitWithAck('direct', { to: 'AAAAAAAAAAAAAAAAAAAA', data: 1 });
    assert.equal(reply.data.code, 'not_found');
  });

  it('join answers the members of every node, send and broadcast the deliveries on every node', T, async () => {
    // Two users on node 1, two on node 2, one on node 0: each join is
    // answered once every node serving the room counted its members.
    const users = [await c.user(0), await c.user(1), await c.user(2), await c.user(1), await c.user(2)];
    const members = [];
    for (const u of users) {
      const reply = await ack(u, 'join', 'counted');
      assert.equal(reply.data.partial, undefined, 'every node answered');
      members.push(reply.data.members);
      await settle();
    }
    assert.deepEqual(members, [1, 2, 3, 4, 5]);
    // Only the nodes serving a room are asked: "counted2" is on nodes 1
    // and 2 only.
    assert.deepEqual(await ack(users[1], 'join', 'counted2'), {
      msg: 'Joined room', data: { room: 'counted2', members: 1, event: 'join' },
    });
    await settle();
    assert.equal((await ack(users[2], 'join', 'counted2')).data.members, 2);
    await settle();
    assert.deepEqual(await ack(users[0], 'send', 'counted', 'x'), {
      msg: 'Sent', data: { room: 'counted', delivered: 5, event: 'send' },
    });
    assert.deepEqual(await ack(users[2], 'broadcast', 'counted', 'y'), {
      msg: 'Broadcast', data: { room: 'counted', delivered: 4, event: 'broadcast' },
    });
    assert.equal((await ack(users[1], 'send', 'counted2', 'z')).data.delivered, 2);
    await ack(users[4], 'leave', 'counted');
    await settle();
    assert.equal((await ack(users[3], 'send', 'counted', 'w')).data.delivered, 4);
    // Without an ack the answer is a `result` event, counted the same.
    users[0].emit('send', 'counted', 'v');
    assert.deepEqual((await next(users[0], 'result'))[0].data, { room: 'counted', delivered: 4, event: 'send' });
  });

  it('binary arguments cross nodes', T, async () => {
    const a = await c.user(0);
    const b = await c.user(1);
    await ack(a, 'join', 'bin');
    await ack(b, 'join', 'bin');
    await sleep(QUIET_MS);
    await ack(a, 'send', 'bin', { blob: Buffer.from([0, 1, 2, 250, 255]) });
    const [got] = await next(b, 'message');
    assert.deepEqual([...got.data.data.blob], [0, 1, 2, 250, 255]);
  });

  it('the stock @socket.io/redis-emitter reaches a room spread over the nodes, and moves its members', T, async () => {
    const users = [await c.user(0), await c.user(1), await c.user(2)];
    for (const u of users) await ack(u, 'join', 'news');
    await sleep(QUIET_MS);
    const client = await redisClient(c.port);
    try {
      const emitter = new Emitter(client);
      emitter.to('news').emit('headline', { title: 'cluster' }, 2);
      for (const u of users) assert.deepEqual(await next(u, 'headline'), [{ title: 'cluster' }, 2]);
      // Every connection of the main namespace, on every node.
      emitter.emit('everyone', 'x');
      for (const u of users) assert.deepEqual(await next(u, 'everyone'), ['x']);
      // socketsJoin: the members of "news" on every node join "extra".
      emitter.in('news').socketsJoin('extra');
      await sleep(QUIET_MS);
      emitter.to('extra').emit('moved', true);
      for (const u of users) assert.deepEqual(await next(u, 'moved'), [true]);
      emitter.in('news').socketsLeave('extra');
      await sleep(QUIET_MS);
      emitter.to('extra').emit('moved', false);
      await sleep(QUIET_MS);
      for (const u of users) assert.equal(count(u, 'moved'), 0);
    } finally {
      await client.quit();
    }
  });

  it('a node subscribes only to the rooms it has members in', T, async () => {
    const client = await redisClient(c.port);
    try {
      const a = await c.user(0);
      const b = await c.user(1);
      await ack(a, 'join', 'only01');
      await ack(b, 'join', 'only01');
      await sleep(QUIET_MS);
      const numsub = async (room) => Number((await client.pubSubNumSub(`socket.io#/#${room}#`))[`socket.io#/#${room}#`]);
      assert.equal(await numsub('only01'), 2, 'nodes 0 and 1, not node 2');
      await ack(b, 'leave', 'only01');
      await sleep(QUIET_MS);
      assert.equal(await numsub('only01'), 1, 'node 1 unsubscribed after its last member left');
      await ack(a, 'leave', 'only01');
      await sleep(QUIET_MS);
      assert.equal(await numsub('only01'), 0);
    } finally {
      await client.quit();
    }
  });
});

describe('cluster: a node with no member in a room receives nothing for it', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'rooms']);

  it('node 2 counts no broadcast received while nodes 0 and 1 talk in their room', T, async () => {
    const a = await c.user(0);
    const b = await c.user(1);
    await ack(a, 'join', 'busy');
    await ack(b, 'join', 'busy');
    await sleep(QUIET_MS);
    for (let i = 0; i < 50; i++) await ack(i % 2 ? a : b, 'send', 'busy', { i });
    await received(a, 'message', 50);
    await received(b, 'message', 50);
    // One at a time: b's member-left must not cross a's node unsubscribing.
    a.close();
    await sleep(QUIET_MS);
    b.close();
    await sleep(QUIET_MS);
    for (const node of c.nodes) await node.stop();
    // Each node logs its adapter's counters when it stops.
    const stats = c.nodes.map((n) => /received (\d+) \((\d+) for rooms not served here\)/.exec(n.stderr()));
    assert.ok(stats.every(Boolean), 'every node logged its counters');
    assert.equal(Number(stats[2][1]), 0, 'node 2 received no broadcast at all');
    assert.ok(Number(stats[0][1]) >= 25 && Number(stats[1][1]) >= 25, 'nodes 0 and 1 got each other\'s');
    assert.equal(Number(stats[0][2]) + Number(stats[1][2]), 0, 'nothing came for a room a node did not serve');
  });
});

describe('cluster: Redis stopped and restarted', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'rooms'], 2);

  it('local delivery never stops; cross-node delivery is back within 10 s', T, async () => {
    const a = await c.user(0);
    const a2 = await c.user(0);
    const b = await c.user(1);
    for (const u of [a, a2, b]) await ack(u, 'join', 'outage');
    await sleep(QUIET_MS);
    await deliveredWithin(a, 'outage', b, 3000);
    await c.redis.stop();
    await sleep(QUIET_MS);
    // Redis is away: a's node delivers to its own members at once.
    for (let i = 0; i < 5; i++) {
      const reply = await ack(a, 'send', 'outage', { local: i });
      assert.equal(reply.data.delivered, 2);
    }
    await received(a2, 'message', 5);
    c.redis = await startRedis(c.port);
    const took = await deliveredWithin(a, 'outage', b, RECOVER_MS);
    assert.ok(took < RECOVER_MS);
    // Logged once per outage, not once per dropped message.
    const log = c.nodes[0].stderr();
    assert.equal((log.match(/delivering locally only/g) || []).length, 1, log);
    assert.match(log, /connected again/);
  });
});

describe('cluster: diffy over three nodes', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'diffy']);

  // The three presence events, in order, as one socket saw them.
  async function presence(s, event) {
    const [text] = await next(s, event);
    const [cnt] = await next(s, 'user-count');
    const [users] = await next(s, 'active-users');
    return { text, count: cnt.userCount, users: [...users].sort() };
  }
  async function join(s, pullRequestId, username) {
    s.emit('join-pr-room', { pullRequestId, username });
    return presence(s, 'joined');
  }

  it('join-pr-room, messages and typing as on one node, with users on every node', T, async () => {
    const alice = await c.user(0);
    const bob = await c.user(1);
    const carol = await c.user(2);
    assert.deepEqual(await join(alice, 1, 'alice'), { text: 'alice joined PR 1', count: 1, users: ['alice'] });
    await settle();
    let expected = { text: 'bob joined PR 1', count: 2, users: ['alice', 'bob'] };
    assert.deepEqual(await join(bob, 1, 'bob'), expected);
    assert.deepEqual(await presence(alice, 'joined'), expected);
    await settle();
    expected = { text: 'carol joined PR 1', count: 3, users: ['alice', 'bob', 'carol'] };
    assert.deepEqual(await join(carol, 1, 'carol'), expected);
    assert.deepEqual(await presence(alice, 'joined'), expected);
    assert.deepEqual(await presence(bob, 'joined'), expected);
    await sleep(QUIET_MS);
    for (const s of [alice, bob, carol]) assert.deepEqual(s.events.map((e) => e.event), []);

    alice.emit('send-message-to-pr-room', { pullRequestId: 1, username: 'alice', message: 'LGTM' });
    for (const s of [alice, bob, carol])
      assert.deepEqual(await next(s, 'pr-room-message'), [{ username: 'alice', message: 'LGTM' }]);
    alice.emit('typing', { pullRequestId: 1, username: 'alice' });
    alice.emit('stop-typing', { pullRequestId: 1, username: 'alice' });
    for (const s of [bob, carol]) {
      assert.deepEqual(await next(s, 'typing'), [{ username: 'alice' }]);
      assert.deepEqual(await next(s, 'stop-typing'), [{ username: 'alice' }]);
    }
    await sleep(QUIET_MS);
    for (const s of [alice, bob, carol]) assert.deepEqual(s.events.map((e) => e.event), []);

    // A second tab of bob on another node changes nothing the others see.
    const bob2 = await c.user(2);
    bob2.emit('join-pr-room', { pullRequestId: 1, username: 'bob' });
    assert.deepEqual((await presence(bob2, 'joined')).count, 3);
    bob.close();
    await sleep(QUIET_MS * 2);
    assert.deepEqual(alice.events.map((e) => e.event), []);
    bob2.close();
    assert.deepEqual(await presence(alice, 'left'), { text: 'bob left PR 1', count: 2, users: ['alice', 'carol'] });
    assert.deepEqual(await presence(carol, 'left'), { text: 'bob left PR 1', count: 2, users: ['alice', 'carol'] });
  });

  it('a node killed with SIGKILL: its users leave everywhere within 10 s', T, async () => {
    const alice = await c.user(0);
    const dave = await c.user(2);
    await join(alice, 7, 'alice');
    await settle();
    await join(dave, 7, 'dave');
    await presence(alice, 'joined');
    const start = Date.now();
    c.nodes[2].proc.kill('SIGKILL');
    const [text] = await next(alice, 'left', RECOVER_MS);
    assert.equal(text, 'dave left PR 7');
    assert.ok(Date.now() - start < RECOVER_MS);
    assert.deepEqual(await next(alice, 'user-count'), [{ userCount: 1 }]);
    assert.deepEqual(await next(alice, 'active-users'), [['alice']]);
    // A new node in its place joins the cluster and sees the room.
    await c.startNode(2);
    await sleep(1500);
    const erin = await c.user(2);
    const seen = await join(erin, 7, 'erin');
    assert.deepEqual(seen, { text: 'erin joined PR 7', count: 2, users: ['alice', 'erin'] });
  });
});

describe('cluster: classroom over three nodes', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'classroom']);
  const byID = (a, b) => a.ID - b.ID;

  async function join(node, room, ID, role, name) {
    const s = await c.user(node, { auth: { room, ID, role, name } });
    const [res] = await next(s, 'initial-response');
    s.initial = [...res.data].sort(byID);
    return s;
  }

  it('initial-response counts the users of every node; user-connected and broadcasts cross nodes', T, async () => {
    const teacher = await join(0, 'math', 1, 'TEACHER', 'T');
    await settle();
    const kiki = await join(1, 'math', 2, 'STUDENT', 'Kiki');
    assert.deepEqual(kiki.initial, [
      { ID: 1, role: 'TEACHER', name: 'T' },
      { ID: 2, role: 'STUDENT', name: 'Kiki' },
    ]);
    assert.deepEqual(await next(teacher, 'user-connected'), [
      { msg: 'New user connected', data: { ID: 2, role: 'STUDENT', name: 'Kiki' } },
    ]);
    await settle();
    const lu = await join(2, 'math', 3, 'STUDENT', 'Lu');
    assert.equal(lu.initial.length, 3);
    for (const s of [teacher, kiki]) assert.equal((await next(s, 'user-connected'))[0].data.ID, 3);
    await settle();
    // A second connection of ID 2 on another node is no new user.
    const kiki2 = await join(0, 'math', 2, 'STUDENT', 'Kiki');
    assert.equal(kiki2.initial.length, 3);
    await sleep(QUIET_MS);
    for (const s of [teacher, kiki, lu]) assert.deepEqual(s.events.map((e) => e.event), []);
    lu.emit('broadcast-message', { type: 'potato', value: 42 });
    const expected = [{ msg: 'New message', data: { from: 3, message: { type: 'potato', value: 42 } } }];
    for (const s of [teacher, kiki, kiki2]) assert.deepEqual(await next(s, 'message'), expected);
    await sleep(QUIET_MS);
    assert.deepEqual(lu.events.map((e) => e.event), []);
    lu.close();
    for (const s of [teacher, kiki, kiki2])
      assert.deepEqual(await next(s, 'user-disconnected'), [
        { msg: 'User disconnected', data: { ID: 3, role: 'STUDENT', name: 'Lu' } },
      ]);
  });

  it('a message to an ID reaches its connections on every node once each; an absent ID is refused', T, async () => {
    const teacher = await join(0, 'dm', 1, 'TEACHER', 'T');
    await settle();
    const tab1 = await join(1, 'dm', 2, 'STUDENT', 'Kiki');
    await settle();
    const tab2 = await join(2, 'dm', 2, 'STUDENT', 'Kiki');
    // Same ID in another class, on the teacher's node: not a recipient.
    const other = await join(0, 'dm-other', 2, 'STUDENT', 'Kiki');
    await settle();
    await sleep(QUIET_MS);
    for (const s of [teacher, tab1, tab2, other]) s.events = [];
    teacher.emit('message', { type: 'text', value: 'hi' }, 2);
    const expected = [{ msg: 'New message', data: { from: 1, message: { type: 'text', value: 'hi' } } }];
    for (const s of [tab1, tab2]) assert.deepEqual(await next(s, 'message'), expected);
    // A student's answer crosses back to the teacher's node.
    tab2.emit('message', { type: 'text', value: 'yes' }, 1);
    assert.equal((await next(teacher, 'message'))[0].data.message.value, 'yes');
    // As on one node (classroom.test.js): not in this class on any node.
    for (const ID of [42, 3]) {
      teacher.emit('message', { type: 'text', value: 'x' }, ID);
      const [err] = await next(teacher, 'error');
      assert.deepEqual(err, { msg: `no user with ID ${ID} in this room`, data: { code: 'not_found', event: 'message' } });
    }
    await sleep(QUIET_MS);
    for (const s of [teacher, tab1, tab2, other]) assert.deepEqual(s.events.map((e) => e.event), []);
    // Gone from every node: refused again.
    tab1.close();
    tab2.close();
    assert.equal((await next(teacher, 'user-disconnected'))[0].data.ID, 2);
    teacher.emit('message', { type: 'text', value: 'x' }, 2);
    assert.equal((await next(teacher, 'error'))[0].msg, 'no user with ID 2 in this room');
    await sleep(QUIET_MS);
    assert.deepEqual(other.events.map((e) => e.event), []);
  });
});

describe('cluster: rooms presence over two nodes', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'rooms', '--presence'], 2);

  it('presence snapshots and diffs merge users of both nodes; a user on both is one member', T, async () => {
    const alice = await c.user(0, { auth: { userId: 'alice' } });
    const bob = await c.user(1, { auth: { userId: 'bob' } });
    await ack(alice, 'join', 'p');
    await next(alice, 'presence');
    await settle();
    await ack(bob, 'join', 'p');
    const [snap] = await next(bob, 'presence');
    assert.deepEqual(Object.keys(snap.members).sort(), ['alice', 'bob']);
    const [diff] = await next(alice, 'presence-diff');
    assert.deepEqual(Object.keys(diff.joins), ['bob']);
    await settle();
    // alice's second tab on bob's node: nobody hears of it.
    const alice2 = await c.user(1, { auth: { userId: 'alice' } });
    await ack(alice2, 'join', 'p');
    assert.deepEqual(Object.keys((await next(alice2, 'presence'))[0].members).sort(), ['alice', 'bob']);
    await ack(alice, 'update-presence', 'p', { status: 'away' });
    const [upd] = await next(bob, 'presence-diff');
    assert.deepEqual(upd.joins.alice.state, { status: 'away' });
    alice.close();
    await sleep(QUIET_MS * 2);
    assert.equal(bob.events.filter((e) => e.event === 'presence-diff').length, 0, 'alice is still here');
    alice2.close();
    const [gone] = await next(bob, 'presence-diff');
    assert.deepEqual(gone.leaves, ['alice']);
  });
});

describe('cluster: presence across a Redis outage', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'diffy'], 2);

  it('a user that left unheard during the outage leaves the others\' lists when Redis is back', T, async () => {
    const alice = await c.user(0);
    const bob = await c.user(1);
    alice.emit('join-pr-room', { pullRequestId: 9, username: 'alice' });
    await received(alice, 'active-users');
    await settle();
    bob.emit('join-pr-room', { pullRequestId: 9, username: 'bob' });
    await received(alice, 'active-users', 2);
    assert.deepEqual([...alice.events.filter((e) => e.event === 'active-users')[1].args[0]].sort(), ['alice', 'bob']);
    alice.events.length = 0;
    await c.redis.stop();
    bob.close();
    await sleep(QUIET_MS);
    assert.equal(count(alice, 'left'), 0, 'node 0 cannot know yet');
    c.redis = await startRedis(c.port);
    const [text] = await next(alice, 'left', RECOVER_MS);
    assert.equal(text, 'bob left PR 9');
    assert.deepEqual(await next(alice, 'active-users'), [['alice']]);
  });
});

describe('cluster: roomd with a Node Socket.IO 4.8 server on @socket.io/redis-adapter', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'rooms'], 1);
  const { Server } = require('socket.io');
  const { createAdapter } = require('@socket.io/redis-adapter');

  // A Node server in this process, on the cluster's Redis: closed by the
  // test itself, before the cluster's Redis goes.
  async function nodeServer() {
    const pub = await redisClient(c.port);
    const sub = pub.duplicate();
    sub.on('error', () => {});
    await sub.connect();
    const io = new Server({ transports: ['websocket'] });
    io.adapter(createAdapter(pub, sub, { requestsTimeout: 3000 }));
    io.on('connection', (socket) => socket.on('join', (room, cb) => {
      socket.join(room);
      cb('ok');
    }));
    io.listen(await freePort());
    io.stop = async () => {
      await new Promise((resolve) => io.close(resolve));
      await Promise.all([pub.quit(), sub.quit()]).catch(() => {});
    };
    return io;
  }

  it('broadcasts go both ways; the Node server\'s queries are answered by roomd', T, async () => {
    const io = await nodeServer();
    try {
      const onRoomd = await c.user(0);
      const onNode = await connect(`http://127.0.0.1:${io.httpServer.address().port}`);
      c.open.push(onNode);
      // The Node server hears roomd's member count (its pattern
      // subscription takes every room's channel) but has no answer for
      // it: the count ends at roomd's timeout, partial.
      assert.deepEqual(await ack(onRoomd, 'join', 'mix'), {
        msg: 'Joined room', data: { room: 'mix', members: 1, partial: true, event: 'join' },
      });
      assert.equal(await ack(onNode, 'join', 'mix'), 'ok');
      await settle();
      io.to('mix').emit('from-node', { n: 1 });
      assert.deepEqual(await next(onRoomd, 'from-node'), [{ n: 1 }]);
      assert.deepEqual(await next(onNode, 'from-node'), [{ n: 1 }]);
      // A counted broadcast is an ordinary one to the Node server, which
      // delivers it and does not answer: roomd's own delivery, partial.
      assert.deepEqual(await ack(onRoomd, 'send', 'mix', { n: 2 }), {
        msg: 'Sent', data: { room: 'mix', delivered: 1, partial: true, event: 'send' },
      });
      const [got] = await next(onNode, 'message');
      assert.equal(got.data.data.n, 2);
      // fetchSockets, allRooms and socketsJoin span both kinds of node.
      const ids = (await io.in('mix').fetchSockets()).map((s) => s.id).sort();
      assert.deepEqual(ids, [onRoomd.id, onNode.id].sort());
      assert.ok((await io.of('/').adapter.allRooms()).has('mix'));
      io.in('mix').socketsJoin('mix2');
      await settle();
      io.to('mix2').emit('moved', true);
      assert.deepEqual(await next(onRoomd, 'moved'), [true]);
      onNode.close();
    } finally {
      await io.stop();
    }
  });
});

// Connection-state recovery across nodes (docs/recovery.md, "Across
// nodes"): a client of node 0 is cut; events reach its room from node 1
// while it is away; it comes back through the same proxy, which now leads
// to node 1 (a load balancer moving it).
describe('cluster: connection-state recovery across nodes', { skip: !REDIS_SERVER && 'no redis-server' }, () => {
  const c = clusterSuite(['--protocol', 'rooms', '--recovery-ms', '5000', '--no-rate-limit'], 2);
  const numbers = (s) => s.events.filter((e) => e.event === 'message').map((e) => e.args[0].data.data);
  const until = async (check, what) => {
    const start = Date.now();
    while (!check()) {
      if (Date.now() - start > WAIT_MS) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  };

  it('socket.io-client: recovered on the other node, same id, every missed event once in order', T, async () => {
    const p = await cuttingProxy(c.nodes[0].port);
    const a = client(p.url, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
    try {
      await withTimeout(new Promise((resolve) => a.once('connect', resolve)), WAIT_MS, 'connect');
      const id = a.id;
      const b = await c.user(1);
      await ack(a, 'join', 'moving');
      await ack(b, 'join', 'moving');
      await settle();
      b.emit('send', 'moving', 0);
      await until(() => numbers(a).length === 1, 'the first message');
      // Cut, and kept away while node 1 sends.
      p.hold();
      const away = new Promise((resolve) => a.once('disconnect', resolve));
      await p.cut();
      await withTimeout(away, WAIT_MS, 'disconnect');
      for (let i = 1; i <= 20; i++) await ack(b, 'send', 'moving', i);
      await sleep(300);
      // Back through the proxy, now to node 1.
      p.retarget(c.nodes[1].port);
      const back = new Promise((resolve) => a.once('connect', resolve));
      p.release();
      await withTimeout(back, WAIT_MS, 'reconnect');
      assert.equal(a.recovered, true);
      assert.equal(a.id, id);
      await until(() => numbers(a).length >= 21, '21 messages');
      b.emit('send', 'moving', 'after');
      await until(() => numbers(a).includes('after'), 'a message after the recovery');
      await sleep(100);
      assert.deepEqual(numbers(a), [...Array.from({ length: 21 }, (_, i) => i), 'after']);
    } finally {
      a.close();
      await p.close();
    }
  });

  it('/ws JSON: ?pid=&offset= on the other node gives the session and the missed events', T, async () => {
    const json = async (raw) => JSON.parse(await raw.next());
    const a = await Raw.open(c.nodes[0].port, { path: '/ws' });
    const b = await Raw.open(c.nodes[1].port, { path: '/ws' });
    try {
      const session = await json(a);
      assert.equal(session.data.recovered, false);
      await json(b);
      a.send(JSON.stringify({ event: 'join', data: 'j', id: 1 }));
      assert.equal((await json(a)).ack, 1);
      b.send(JSON.stringify({ event: 'join', data: 'j', id: 1 }));
      assert.equal((await json(b)).ack, 1);
      await settle();
      b.send(JSON.stringify({ event: 'send', data: { room: 'j', data: 0 } }));
      let m = await json(a);
      while (m.event !== 'message') m = await json(a);
      const offset = m.offset;
      a.close();
      await sleep(200);
      for (let i = 1; i <= 3; i++) b.send(JSON.stringify({ event: 'send', data: { room: 'j', data: i } }));
      await sleep(300);
      const again = await Raw.open(c.nodes[1].port, { path: `/ws?pid=${session.data.pid}&offset=${offset}` });
      try {
        const s2 = await json(again);
        assert.equal(s2.event, 'session');
        assert.equal(s2.data.recovered, true);
        assert.equal(s2.data.id, session.data.id);
        assert.equal(s2.data.pid, session.data.pid);
        const got = [];
        while (got.length < 3) {
          const e = await json(again);
          if (e.event === 'message') got.push(e.data.data.data);
        }
        assert.deepEqual(got, [1, 2, 3]);
        // In its room on node 1 now.
        b.send(JSON.stringify({ event: 'send', data: { room: 'j', data: 'after' } }));
        let e = await json(again);
        while (e.event !== 'message') e = await json(again);
        assert.equal(e.data.data.data, 'after');
      } finally {
        again.close();
      }
    } finally {
      a.close();
      b.close();
    }
  });

  it('a pid no node holds: a fresh session within the timeout', T, async () => {
    const start = Date.now();
    const s = await connect(c.nodes[1].url, { auth: { pid: 'AAAAAAAAAAAAAAAAAAAA', offset: '1' } });
    c.open.push(s);
    assert.equal(s.recovered, false);
    assert.ok(Date.now() - start < 2000 + WAIT_MS / 2);
  });
});
