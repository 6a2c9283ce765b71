'use strict';
// roomd --protocol classroom against the stock socket.io-client
// (docs/protocol-classroom.md).
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { roomdSuite, client, connect, refused, next, names, sleep, withTimeout, cuttingProxy } = require('./helpers');

const T = { timeout: 15000 };
const QUIET_MS = 200;

const byID = (a, b) => a.ID - b.ID;

describe('classroom', () => {
  const suite = roomdSuite(['--protocol', 'classroom']);

  // Connects and returns the socket with the users of its initial-response.
  async function join(room, ID, role, name) {
    const s = await connect(suite.roomd.url, { auth: { room, ID, role, name } });
    suite.track(s);
    const [res] = await next(s, 'initial-response');
    assert.equal(res.msg, 'Connected users');
    s.initial = [...res.data].sort(byID);
    return s;
  }

  it('takes the identity from query parameters when the auth payload lacks it', T, async () => {
    const q = await connect(suite.roomd.url, { query: { room: 'query', ID: '41', role: 'TEACHER', name: 'Q Ünïcode' } });
    suite.track(q);
    const [res] = await next(q, 'initial-response');
    assert.deepEqual(res.data, [{ ID: 41, role: 'TEACHER', name: 'Q Ünïcode' }]);
    // Key by key: auth first, the query for what auth leaves out.
    const mixed = await connect(suite.roomd.url, { auth: { ID: 42, name: 'Mixed' }, query: { room: 'query', ID: '9', role: 'STUDENT' } });
    suite.track(mixed);
    assert.deepEqual(await next(q, 'user-connected'), [
      { msg: 'New user connected', data: { ID: 42, role: 'STUDENT', name: 'Mixed' } },
    ]);
  });

  it('initial-response to the new user, user-connected to the others', T, async () => {
    const teacher = await join('math', 1, 'TEACHER', 'Sherley Herminia');
    assert.deepEqual(teacher.initial, [{ ID: 1, role: 'TEACHER', name: 'Sherley Herminia' }]);
    const kiki = await join('math', 2, 'STUDENT', 'Kiki Gunþīharjaz');
    assert.deepEqual(kiki.initial, [
      { ID: 1, role: 'TEACHER', name: 'Sherley Herminia' },
      { ID: 2, role: 'STUDENT', name: 'Kiki Gunþīharjaz' },
    ]);
    assert.deepEqual(await next(teacher, 'user-connected'), [
      { msg: 'New user connected', data: { ID: 2, role: 'STUDENT', name: 'Kiki Gunþīharjaz' } },
    ]);
    // Another room is another class.
    const other = await join('art', 3, 'ADMIN', 'Devora Khushi');
    assert.deepEqual(other.initial, [{ ID: 3, role: 'ADMIN', name: 'Devora Khushi' }]);
    await sleep(QUIET_MS);
    assert.deepEqual(names(teacher), []);
    assert.deepEqual(names(kiki), []);
  });

  it('message goes to that user in the same room only', T, async () => {
    const teacher = await join('m2', 1, 'TEACHER', 'T');
    const s2 = await join('m2', 2, 'STUDENT', 'S2');
    const s3 = await join('m2', 3, 'STUDENT', 'S3');
    const elsewhere = await join('other', 2, 'STUDENT', 'S2 elsewhere');
    await sleep(QUIET_MS);
    teacher.events = [];
    s2.events = [];
    const value = { url: 'https://example.invalid/a.png', size: [640, 480], ok: true };
    teacher.emit('message', { type: 'image', value }, 2);
    assert.deepEqual(await next(s2, 'message'), [
      { msg: 'New message', data: { from: 1, message: { type: 'image', value } } },
    ]);
    s2.emit('message', { type: 'text', value: 'thanks' }, 1);
    assert.deepEqual(await next(teacher, 'message'), [
      { msg: 'New message', data: { from: 2, message: { type: 'text', value: 'thanks' } } },
    ]);
    await sleep(QUIET_MS);
    for (const s of [teacher, s2, s3, elsewhere]) assert.deepEqual(names(s), []);
  });

  it('broadcast-message goes to everyone in the room but the sender', T, async () => {
    const a = await join('b1', 1, 'TEACHER', 'A');
    const b = await join('b1', 2, 'STUDENT', 'B');
    const c = await join('b1', 3, 'STUDENT', 'C');
    const d = await join('b2', 4, 'STUDENT', 'D');
    await sleep(QUIET_MS);
    for (const s of [a, b, c, d]) s.events = [];
    b.emit('broadcast-message', { type: 'potato', value: 42 });
    const expected = [{ msg: 'New message', data: { from: 2, message: { type: 'potato', value: 42 } } }];
    assert.deepEqual(await next(a, 'message'), expected);
    assert.deepEqual(await next(c, 'message'), expected);
    await sleep(QUIET_MS);
    for (const s of [a, b, c, d]) assert.deepEqual(names(s), []);
  });

  it('errors to the sender: unknown target, malformed message or userID', T, async () => {
    const a = await join('e1', 1, 'TEACHER', 'A');
    const b = await join('e1', 2, 'STUDENT', 'B');
    await join('e2', 3, 'STUDENT', 'C');
    await sleep(QUIET_MS);
    a.events = [];
    b.events = [];
    const cases = [
      [['message', { type: 'text', value: 'x' }, 42], 'not_found', 'no user with ID 42 in this room'],
      // In another room: as good as unknown.
      [['message', { type: 'text', value: 'x' }, 3], 'not_found', 'no user with ID 3 in this room'],
      [['message', { type: 'text', value: 'x' }, '2'], 'bad_message', 'userID must be an integer'],
      [['message', { type: 'text', value: 'x' }], 'bad_message', 'userID must be an integer'],
      [['message', { value: 'x' }, 2], 'bad_message', /string type/],
      [['message', { type: 'text' }, 2], 'bad_message', /\{type, value\}/],
      [['broadcast-message', 'hello'], 'bad_message', /\{type, value\}/],
    ];
    for (const [args, code, msg] of cases) {
      a.emit(...args);
      const [err] = await next(a, 'error');
      assert.deepEqual(err.data, { code, event: args[0] });
      if (typeof msg === 'string') assert.equal(err.msg, msg);
      else assert.match(err.msg, msg);
    }
    await sleep(QUIET_MS);
    assert.deepEqual(names(a), []);
    assert.deepEqual(names(b), []);
  });

  it('user-disconnected to the remaining users', T, async () => {
    const a = await join('d1', 1, 'TEACHER', 'A');
    const b = await join('d1', 2, 'STUDENT', 'B');
    const c = await join('d1', 3, 'STUDENT', 'C');
    await sleep(QUIET_MS);
    c.close();
    const expected = [{ msg: 'User disconnected', data: { ID: 3, role: 'STUDENT', name: 'C' } }];
    assert.deepEqual(await next(a, 'user-disconnected'), expected);
    assert.deepEqual(await next(b, 'user-disconnected'), expected);
    b.close();
    assert.deepEqual(await next(a, 'user-disconnected'), [
      { msg: 'User disconnected', data: { ID: 2, role: 'STUDENT', name: 'B' } },
    ]);
  });

  it('two connections of one ID are one user', T, async () => {
    const a = await join('t1', 1, 'TEACHER', 'A');
    const tab1 = await join('t1', 5, 'STUDENT', 'E');
    assert.deepEqual((await next(a, 'user-connected'))[0].data.ID, 5);
    const tab2 = await join('t1', 5, 'STUDENT', 'E');
    // Listed once; nobody is told twice.
    assert.deepEqual(tab2.initial, [
      { ID: 1, role: 'TEACHER', name: 'A' },
      { ID: 5, role: 'STUDENT', name: 'E' },
    ]);
    // Messages to the ID reach both.
    a.emit('message', { type: 'text', value: 'hi' }, 5);
    await next(tab1, 'message');
    await next(tab2, 'message');
    // Gone only when the last one is.
    tab1.close();
    await sleep(QUIET_MS);
    assert.deepEqual(names(a), []);
    tab2.close();
    assert.deepEqual((await next(a, 'user-disconnected'))[0].data.ID, 5);
    // The same ID with another role or name is refused.
    await join('t1', 6, 'STUDENT', 'F');
    const err = await refused(suite.roomd.url, { auth: { room: 't1', ID: 6, role: 'ADMIN', name: 'F' } });
    assert.equal(err.message, 'that ID is already connected with another role or name');
  });

  // Issue 10: presence keyed by ID, whatever the number of connections.
  it('a user with two tabs appears once to everyone and disconnects once, after its last tab', T, async () => {
    const a = await join('t2', 1, 'TEACHER', 'A');
    const tab1 = await join('t2', 5, 'STUDENT', 'E');
    const tab2 = await join('t2', 5, 'STUDENT', 'E');
    assert.deepEqual(await next(a, 'user-connected'), [
      { msg: 'New user connected', data: { ID: 5, role: 'STUDENT', name: 'E' } },
    ]);
    // A newcomer sees the two-tab user once, and the two tabs hear of it.
    const c = await join('t2', 3, 'STUDENT', 'C');
    assert.deepEqual(c.initial, [
      { ID: 1, role: 'TEACHER', name: 'A' },
      { ID: 3, role: 'STUDENT', name: 'C' },
      { ID: 5, role: 'STUDENT', name: 'E' },
    ]);
    for (const s of [a, tab1, tab2]) assert.deepEqual((await next(s, 'user-connected'))[0].data.ID, 3);
    // A broadcast from one tab reaches the other tab too, and everyone else once.
    tab1.emit('broadcast-message', { type: 'text', value: 'from tab 1' });
    const expected = [{ msg: 'New message', data: { from: 5, message: { type: 'text', value: 'from tab 1' } } }];
    for (const s of [a, c, tab2]) assert.deepEqual(await next(s, 'message'), expected);
    await sleep(QUIET_MS);
    for (const s of [a, c, tab1, tab2]) assert.deepEqual(names(s), []);
    // Both tabs drop at once: one user-disconnected.
    tab1.close();
    tab2.close();
    const gone = [{ msg: 'User disconnected', data: { ID: 5, role: 'STUDENT', name: 'E' } }];
    assert.deepEqual(await next(a, 'user-disconnected'), gone);
    assert.deepEqual(await next(c, 'user-disconnected'), gone);
    await sleep(QUIET_MS);
    for (const s of [a, c]) assert.deepEqual(names(s), []);
    // Gone: a message to the ID finds nobody.
    a.emit('message', { type: 'text', value: 'x' }, 5);
    assert.equal((await next(a, 'error'))[0].data.code, 'not_found');
  });

  it('one ID in two classes is a user of each, apart', T, async () => {
    const a = await join('k1', 1, 'TEACHER', 'A');
    const b = await join('k2', 2, 'TEACHER', 'B');
    const here = await join('k1', 7, 'STUDENT', 'G');
    const there = await join('k2', 7, 'STUDENT', 'G elsewhere');
    assert.deepEqual(here.initial.map((u) => u.ID), [1, 7]);
    assert.deepEqual(there.initial, [
      { ID: 2, role: 'TEACHER', name: 'B' },
      { ID: 7, role: 'STUDENT', name: 'G elsewhere' },
    ]);
    assert.equal((await next(a, 'user-connected'))[0].data.name, 'G');
    assert.equal((await next(b, 'user-connected'))[0].data.name, 'G elsewhere');
    a.emit('message', { type: 'text', value: 'k1 only' }, 7);
    await next(here, 'message');
    here.close();
    assert.equal((await next(a, 'user-disconnected'))[0].data.ID, 7);
    await sleep(QUIET_MS);
    assert.deepEqual(names(b), []);
    assert.deepEqual(names(there), []);
  });

  describe('refuses a connection with CONNECT_ERROR', () => {
    const good = { room: 'r', ID: 7, role: 'STUDENT', name: 'G' };
    const cases = [
      ['no auth payload and no query', undefined, 'room must be a non-empty string'],
      ['a missing room', { ...good, room: undefined }, 'room must be a non-empty string'],
      ['an empty room', { ...good, room: '' }, 'room must be a non-empty string'],
      ['a room that is not a string', { ...good, room: 5 }, 'room must be a non-empty string'],
      ['a room name too long', { ...good, room: 'x'.repeat(101) }, 'room must be at most 100 bytes'],
      ['a missing ID', { ...good, ID: undefined }, 'ID must be an integer'],
      ['a string ID', { ...good, ID: '7' }, 'ID must be an integer'],
      ['a non-integer ID', { ...good, ID: 7.5 }, 'ID must be an integer'],
      ['an unknown role', { ...good, role: 'JANITOR' }, 'role must be one of ADMIN, TEACHER, STUDENT'],
      ['a lower-case role', { ...good, role: 'student' }, 'role must be one of ADMIN, TEACHER, STUDENT'],
      ['a missing role', { ...good, role: undefined }, 'role must be one of ADMIN, TEACHER, STUDENT'],
      ['an empty name', { ...good, name: '' }, 'name must be a non-empty string'],
      ['a missing name', { ...good, name: undefined }, 'name must be a non-empty string'],
    ];
    for (const [what, auth, message] of cases) {
      it(what, T, async () => {
        const err = await refused(suite.roomd.url, auth === undefined ? {} : { auth });
        assert.equal(err.message, message);
      });
    }

    it('a query ID that is not a whole number', T, async () => {
      const err = await refused(suite.roomd.url, { query: { ...good, ID: '7x' } });
      assert.equal(err.message, 'ID must be an integer');
    });

    it('and the room never hears of it', T, async () => {
      const a = await join('r', 1, 'TEACHER', 'A');
      await refused(suite.roomd.url, { auth: { ...good, name: '' } });
      const b = await join('r', 2, 'STUDENT', 'B');
      assert.deepEqual(b.initial.map((u) => u.ID), [1, 2]);
      assert.deepEqual(await next(a, 'user-connected'), [
        { msg: 'New user connected', data: { ID: 2, role: 'STUDENT', name: 'B' } },
      ]);
      await sleep(QUIET_MS);
      assert.deepEqual(names(a), []);
    });
  });

  describe('with connection-state recovery (--recovery-ms)', () => {
    const recovering = roomdSuite(['--protocol', 'classroom', '--recovery-ms', '5000']);

    it('a resumed connection is present again: user-disconnected at the drop, user-connected at the resume', T, async () => {
      const p = await cuttingProxy(recovering.roomd.port);
      const auth = { room: 'rec', ID: 8, role: 'STUDENT', name: 'H' };
      const h = client(p.url, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, auth });
      recovering.track(h);
      await next(h, 'initial-response');
      const teacher = await connect(recovering.roomd.url, { auth: { room: 'rec', ID: 1, role: 'TEACHER', name: 'T' } });
      recovering.track(teacher);
      try {
        await next(teacher, 'initial-response');
        await next(h, 'user-connected');
        const back = withTimeout(new Promise((resolve) => h.once('connect', resolve)), 8000, 'the resume');
        await sleep(QUIET_MS);
        await p.cut();
        const user = { ID: 8, role: 'STUDENT', name: 'H' };
        assert.deepEqual((await next(teacher, 'user-disconnected', 8000))[0], { msg: 'User disconnected', data: user });
        await back;
        assert.equal(h.recovered, true);
        assert.deepEqual((await next(teacher, 'user-connected'))[0], { msg: 'New user connected', data: user });
        const [res] = await next(h, 'initial-response');
        assert.deepEqual([...res.data].sort(byID), [{ ID: 1, role: 'TEACHER', name: 'T' }, user]);
        teacher.emit('message', { type: 'text', value: 'welcome back' }, 8);
        assert.equal((await next(h, 'message'))[0].data.message.value, 'welcome back');
        await sleep(QUIET_MS);
        assert.deepEqual(names(teacher), []);
      } finally {
        h.close();
        await p.cut();
        await p.close();
      }
    });

    it('a message to the ID while one of its connections is away is replayed to it at the resume', T, async () => {
      const p = await cuttingProxy(recovering.roomd.port);
      const auth = { room: 'rec2', ID: 8, role: 'STUDENT', name: 'H' };
      const h = client(p.url, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, auth });
      recovering.track(h);
      await next(h, 'initial-response');
      // The ID's other tab keeps it present while h is away.
      const tab = await connect(recovering.roomd.url, { auth });
      recovering.track(tab);
      const teacher = await connect(recovering.roomd.url, { auth: { room: 'rec2', ID: 1, role: 'TEACHER', name: 'T' } });
      recovering.track(teacher);
      try {
        await next(tab, 'initial-response');
        await next(teacher, 'initial-response');
        await next(h, 'user-connected');
        await sleep(QUIET_MS);
        const back = withTimeout(new Promise((resolve) => h.once('connect', resolve)), 8000, 'the resume');
        p.hold();
        await p.cut();
        // The server has seen the drop: h is away, not just slow.
        await sleep(QUIET_MS);
        teacher.emit('message', { type: 'text', value: 'while away' }, 8);
        assert.equal((await next(tab, 'message'))[0].data.message.value, 'while away');
        p.release();
        await back;
        assert.equal(h.recovered, true);
        assert.equal((await next(h, 'message'))[0].data.message.value, 'while away');
      } finally {
        h.close();
        await p.cut();
        await p.close();
      }
    });
  });
});
