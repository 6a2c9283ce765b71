'use strict';
// roomd --protocol diffy against the stock socket.io-client
// (docs/protocol-diffy.md).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { roomdSuite, client, connect, received, next, names, sleep, withTimeout, Raw, cuttingProxy } = require('./helpers');

const T = { timeout: 15000 };
// Long enough for an event that should not come to have arrived.
const QUIET_MS = 200;

describe('diffy', () => {
  const suite = roomdSuite(['--protocol', 'diffy']);

  async function user() {
    const s = await connect(suite.roomd.url);
    suite.track(s);
    return s;
  }

  // The three presence events, in order, as one socket saw them.
  async function presence(s, event) {
    const [text] = await next(s, event);
    const [count] = await next(s, 'user-count');
    const [users] = await next(s, 'active-users');
    return { text, count: count.userCount, users: [...users].sort() };
  }

  async function join(s, pullRequestId, username) {
    s.emit('join-pr-room', { pullRequestId, username });
    return presence(s, 'joined');
  }

  it('join-pr-room tells everyone, the joiner included', T, async () => {
    const alice = await user();
    const bob = await user();
    assert.deepEqual(await join(alice, 1, 'alice'), {
      text: 'alice joined PR 1',
      count: 1,
      users: ['alice'],
    });
    const expected = { text: 'bob joined PR 1', count: 2, users: ['alice', 'bob'] };
    assert.deepEqual(await join(bob, 1, 'bob'), expected);
    assert.deepEqual(await presence(alice, 'joined'), expected);
    // The events come in that order and nothing else.
    assert.deepEqual(names(alice), []);
  });

  it('send-message-to-pr-room reaches every member, the sender included', T, async () => {
    const alice = await user();
    const bob = await user();
    await join(alice, 2, 'alice');
    await join(bob, 2, 'bob');
    await presence(alice, 'joined');
    alice.emit('send-message-to-pr-room', { pullRequestId: 2, username: 'alice', message: 'LGTM' });
    for (const s of [alice, bob])
      assert.deepEqual(await next(s, 'pr-room-message'), [{ username: 'alice', message: 'LGTM' }]);
  });

  it('typing and stop-typing go to the others, never back to the sender', T, async () => {
    const alice = await user();
    const bob = await user();
    const carol = await user();
    await join(alice, 3, 'alice');
    await join(bob, 3, 'bob');
    await join(carol, 3, 'carol');
    await sleep(QUIET_MS);
    for (const s of [alice, bob, carol]) s.events = [];
    alice.emit('typing', { pullRequestId: 3, username: 'alice' });
    alice.emit('stop-typing', { pullRequestId: 3, username: 'alice' });
    for (const s of [bob, carol]) {
      assert.deepEqual(await next(s, 'typing'), [{ username: 'alice' }]);
      assert.deepEqual(await next(s, 'stop-typing'), [{ username: 'alice' }]);
    }
    await sleep(QUIET_MS);
    assert.deepEqual(names(alice), []);
  });

  it('leave-pr-room tells the remaining members; the connection can join again', T, async () => {
    const alice = await user();
    const bob = await user();
    await join(alice, 4, 'alice');
    await join(bob, 4, 'bob');
    await presence(alice, 'joined');
    bob.emit('leave-pr-room', { pullRequestId: 4, username: 'bob' });
    assert.deepEqual(await presence(alice, 'left'), {
      text: 'bob left PR 4',
      count: 1,
      users: ['alice'],
    });
    await sleep(QUIET_MS);
    assert.deepEqual(names(bob), []);
    assert.ok(bob.connected);
    // Messages of the room no longer reach bob; other rooms are open to him.
    alice.emit('send-message-to-pr-room', { pullRequestId: 4, username: 'alice', message: 'hi' });
    await next(alice, 'pr-room-message');
    assert.deepEqual(await join(bob, 5, 'bob'), { text: 'bob joined PR 5', count: 1, users: ['bob'] });
    assert.deepEqual(names(bob), []);
  });

  it('keeps rooms apart when a connection is in several', T, async () => {
    const alice = await user();
    const bob = await user();
    await join(alice, 10, 'alice');
    await join(alice, 11, 'alice');
    await join(bob, 11, 'bob');
    await presence(alice, 'joined');
    alice.emit('send-message-to-pr-room', { pullRequestId: 10, username: 'alice', message: 'ten' });
    alice.emit('send-message-to-pr-room', { pullRequestId: 11, username: 'alice', message: 'eleven' });
    assert.deepEqual(await received(alice, 'pr-room-message', 2), [
      [{ username: 'alice', message: 'ten' }],
      [{ username: 'alice', message: 'eleven' }],
    ]);
    assert.deepEqual(await next(bob, 'pr-room-message'), [{ username: 'alice', message: 'eleven' }]);
    await sleep(QUIET_MS);
    assert.deepEqual(names(bob), []);
  });

  it('a late joiner sees no history', T, async () => {
    const alice = await user();
    await join(alice, 20, 'alice');
    alice.emit('send-message-to-pr-room', { pullRequestId: 20, username: 'alice', message: 'early' });
    await next(alice, 'pr-room-message');
    const dave = await user();
    assert.deepEqual(await join(dave, 20, 'dave'), {
      text: 'dave joined PR 20',
      count: 2,
      users: ['alice', 'dave'],
    });
    await sleep(QUIET_MS);
    assert.deepEqual(names(dave), []);
  });

  it('disconnecting leaves every room with the same events', T, async () => {
    const alice = await user();
    const bob = await user();
    await join(alice, 30, 'alice');
    await join(alice, 31, 'alice');
    await join(bob, 30, 'bob');
    await join(bob, 31, 'bob');
    await sleep(QUIET_MS);
    alice.events = [];
    bob.close();
    const left = [await presence(alice, 'left'), await presence(alice, 'left')];
    left.sort((a, b) => a.text.localeCompare(b.text));
    assert.deepEqual(left, [
      { text: 'bob left PR 30', count: 1, users: ['alice'] },
      { text: 'bob left PR 31', count: 1, users: ['alice'] },
    ]);
  });

  // Issue 10: user-count and active-users count users, not connections.
  it('two tabs of one user are one user: counted and listed once, joined with the first, left with the last', T, async () => {
    const tab1 = await user();
    const bob = await user();
    const tab2 = await user();
    await join(tab1, 40, 'erin');
    await join(bob, 40, 'bob');
    await presence(tab1, 'joined');
    // The second tab hears its own "joined" and gets the roster; nobody else hears of it.
    assert.deepEqual(await join(tab2, 40, 'erin'), {
      text: 'erin joined PR 40',
      count: 2,
      users: ['bob', 'erin'],
    });
    await sleep(QUIET_MS);
    assert.deepEqual(names(tab1), []);
    assert.deepEqual(names(bob), []);
    assert.deepEqual(names(tab2), []);
    // Typing in one tab goes to the other users, not to the user's other tab.
    tab2.emit('typing', { pullRequestId: 40, username: 'erin' });
    assert.deepEqual(await next(bob, 'typing'), [{ username: 'erin' }]);
    tab2.emit('stop-typing', { pullRequestId: 40, username: 'erin' });
    assert.deepEqual(await next(bob, 'stop-typing'), [{ username: 'erin' }]);
    // Messages still reach every connection.
    bob.emit('send-message-to-pr-room', { pullRequestId: 40, username: 'bob', message: 'hi' });
    for (const s of [tab1, tab2, bob]) await next(s, 'pr-room-message');
    // One tab leaving changes nothing for the others; the last one is "left".
    tab1.emit('leave-pr-room', { pullRequestId: 40, username: 'erin' });
    await sleep(QUIET_MS);
    assert.deepEqual(names(bob), []);
    assert.deepEqual(names(tab2), []);
    tab2.close();
    assert.deepEqual(await presence(bob, 'left'), { text: 'erin left PR 40', count: 1, users: ['bob'] });
    await sleep(QUIET_MS);
    assert.deepEqual(names(tab1), []);
  });

  it('typing stops by itself after 5 s without typing, restarted by each typing', { timeout: 20000 }, async () => {
    const alice = await user();
    const bob = await user();
    await join(alice, 42, 'alice');
    await join(bob, 42, 'bob');
    await presence(alice, 'joined');
    alice.emit('typing', { pullRequestId: 42, username: 'alice' });
    assert.deepEqual(await next(bob, 'typing'), [{ username: 'alice' }]);
    await sleep(2500);
    alice.emit('typing', { pullRequestId: 42, username: 'alice' });
    await next(bob, 'typing');
    const restarted = Date.now();
    assert.deepEqual(await next(bob, 'stop-typing', 8000), [{ username: 'alice' }]);
    const idle = Date.now() - restarted;
    assert.ok(idle >= 4500 && idle < 7000, `stop-typing after ${idle} ms`);
    await sleep(QUIET_MS);
    assert.deepEqual(names(alice), []);
    assert.deepEqual(names(bob), []);
  });

  it('typing stops at once when the typist leaves or drops', T, async () => {
    const alice = await user();
    const bob = await user();
    const carol = await user();
    await join(alice, 43, 'alice');
    await join(bob, 43, 'bob');
    await join(carol, 43, 'carol');
    await sleep(QUIET_MS);
    for (const s of [alice, bob, carol]) s.events = [];
    alice.emit('typing', { pullRequestId: 43, username: 'alice' });
    await next(bob, 'typing');
    alice.emit('leave-pr-room', { pullRequestId: 43, username: 'alice' });
    assert.deepEqual(await next(bob, 'stop-typing', 1000), [{ username: 'alice' }]);
    assert.equal((await presence(bob, 'left')).text, 'alice left PR 43');
    carol.emit('typing', { pullRequestId: 43, username: 'carol' });
    await next(bob, 'typing');
    carol.close();
    assert.deepEqual(await next(bob, 'stop-typing', 1000), [{ username: 'carol' }]);
    assert.equal((await presence(bob, 'left')).text, 'carol left PR 43');
  });

  describe('refuses, with an error to the sender only', () => {
    // The error SocketResponse, and nothing for the other member.
    async function refused(s, witness, event, payload, code, msg) {
      s.emit(event, payload);
      const [err] = await next(s, 'error');
      assert.deepEqual(err.data, { code, event });
      assert.match(err.msg, msg);
      await sleep(QUIET_MS);
      assert.deepEqual(names(s), []);
      assert.deepEqual(names(witness), []);
    }

    let alice;
    let bob;
    before(async () => {
      alice = await connect(suite.roomd.url);
      bob = await connect(suite.roomd.url);
      await join(alice, 50, 'alice');
      await join(bob, 50, 'bob');
      await presence(alice, 'joined');
    });
    after(() => {
      alice.close();
      bob.close();
    });

    it('a payload naming another user', T, async () => {
      for (const event of ['send-message-to-pr-room', 'typing', 'leave-pr-room', 'join-pr-room'])
        await refused(alice, bob, event, { pullRequestId: 50, username: 'bob', message: 'x' }, 'denied',
          /username differs/);
      // Also in a room it has not joined: the connection is alice's.
      await refused(alice, bob, 'join-pr-room', { pullRequestId: 51, username: 'mallory' }, 'denied',
        /username differs/);
    });

    it('a missing or non-integer pullRequestId', T, async () => {
      for (const pullRequestId of [undefined, '50', 50.5, -1, null, [50]])
        await refused(alice, bob, 'send-message-to-pr-room', { pullRequestId, username: 'alice', message: 'x' },
          'bad_message', /pullRequestId/);
      await refused(alice, bob, 'join-pr-room', { username: 'alice' }, 'bad_message', /pullRequestId/);
    });

    it('a missing username, message or payload', T, async () => {
      await refused(alice, bob, 'join-pr-room', { pullRequestId: 52 }, 'bad_message', /username/);
      await refused(alice, bob, 'join-pr-room', { pullRequestId: 52, username: '' }, 'bad_message', /username/);
      await refused(alice, bob, 'send-message-to-pr-room', { pullRequestId: 50, username: 'alice' },
        'bad_message', /message/);
      await refused(alice, bob, 'typing', 'pr 50', 'bad_message', /payload/);
    });

    it('a send, typing or leave in a room not joined', T, async () => {
      await refused(alice, bob, 'send-message-to-pr-room', { pullRequestId: 53, username: 'alice', message: 'x' },
        'not_member', /not in PR room 53/);
      await refused(alice, bob, 'typing', { pullRequestId: 53, username: 'alice' }, 'not_member', /PR room 53/);
      await refused(alice, bob, 'leave-pr-room', { pullRequestId: 53, username: 'alice' }, 'not_member',
        /PR room 53/);
    });

    it('a second join of the same room', T, async () => {
      await refused(alice, bob, 'join-pr-room', { pullRequestId: 50, username: 'alice' }, 'already_member',
        /already/);
    });

    it('a user that never joined cannot send', T, async () => {
      const eve = await user();
      await refused(eve, bob, 'send-message-to-pr-room', { pullRequestId: 50, username: 'eve', message: 'x' },
        'not_member', /PR room 50/);
    });
  });

  it('speaks the same protocol over the JSON codec at /ws', T, async () => {
    const alice = await Raw.open(suite.roomd.port, { path: '/ws' });
    const bob = await Raw.open(suite.roomd.port, { path: '/ws' });
    try {
      alice.send(JSON.stringify({ event: 'join-pr-room', data: { pullRequestId: 60, username: 'alice' } }));
      assert.deepEqual(JSON.parse(await alice.next()), { event: 'joined', data: 'alice joined PR 60' });
      assert.deepEqual(JSON.parse(await alice.next()), { event: 'user-count', data: { userCount: 1 } });
      assert.deepEqual(JSON.parse(await alice.next()), { event: 'active-users', data: ['alice'] });
      bob.send(JSON.stringify({ event: 'join-pr-room', data: { pullRequestId: 60, username: 'bob' } }));
      for (let i = 0; i < 3; i++) await bob.next();
      for (let i = 0; i < 3; i++) await alice.next();
      bob.send(JSON.stringify({ event: 'send-message-to-pr-room', data: { pullRequestId: 60, username: 'bob', message: 'hey' } }));
      const expected = { event: 'pr-room-message', data: { username: 'bob', message: 'hey' } };
      assert.deepEqual(JSON.parse(await alice.next()), expected);
      assert.deepEqual(JSON.parse(await bob.next()), expected);
    } finally {
      alice.close();
      bob.close();
    }
  });

  describe('with connection-state recovery (--recovery-ms)', () => {
    const recovering = roomdSuite(['--protocol', 'diffy', '--recovery-ms', '5000']);

    it('a resumed connection is back in presence under the username it connects with', T, async () => {
      const p = await cuttingProxy(recovering.roomd.port);
      const rita = client(p.url, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, auth: { userId: 'rita' } });
      const bob = await connect(recovering.roomd.url);
      recovering.track(rita);
      recovering.track(bob);
      try {
        await withTimeout(new Promise((resolve) => rita.once('connect', resolve)), 3000, 'connect');
        await join(rita, 70, 'rita');
        await join(bob, 70, 'bob');
        await presence(rita, 'joined');
        const back = withTimeout(new Promise((resolve) => rita.once('connect', resolve)), 8000, 'the resume');
        await sleep(QUIET_MS);
        await p.cut();
        assert.deepEqual(await presence(bob, 'left'), { text: 'rita left PR 70', count: 1, users: ['bob'] });
        await back;
        assert.equal(rita.recovered, true);
        assert.deepEqual(await presence(bob, 'joined'), { text: 'rita joined PR 70', count: 2, users: ['bob', 'rita'] });
        // Rita first gets what it missed (the roster after its "left"), then its own "joined".
        assert.equal((await next(rita, 'joined'))[0], 'rita joined PR 70');
        const last = (event) => rita.events.filter((e) => e.event === event).pop()?.args[0];
        for (let t = 0; t < 100 && last('active-users')?.length !== 2; t++) await sleep(20);
        assert.deepEqual(last('user-count'), { userCount: 2 });
        assert.deepEqual([...last('active-users')].sort(), ['bob', 'rita']);
        rita.emit('typing', { pullRequestId: 70, username: 'rita' });
        assert.deepEqual((await next(bob, 'typing'))[0], { username: 'rita' });
      } finally {
        rita.close();
        await p.cut();
        await p.close();
      }
    });
  });
});
