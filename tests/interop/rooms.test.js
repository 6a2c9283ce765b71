'use strict';
// roomd --protocol rooms (the library's own, docs/protocol-rooms.md) against
// the stock socket.io-client, and over the JSON codec at /ws.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { roomdSuite, connect, next, names, ack, sleep, Raw } = require('./helpers');

const T = { timeout: 15000 };
const QUIET_MS = 200;

describe('rooms', () => {
  const suite = roomdSuite(['--protocol', 'rooms']);

  async function user(nsp = '') {
    const s = await connect(suite.roomd.url + nsp);
    suite.track(s);
    return s;
  }

  it('join and leave answer in the ack and tell the other members', T, async () => {
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
    assert.deepEqual(await next(a, 'member-joined'), [
      { msg: 'Member joined', data: { room: 'lobby', id: b.id } },
    ]);
    assert.deepEqual(await ack(b, 'leave', 'lobby'), {
      msg: 'Left room',
      data: { room: 'lobby', event: 'leave' },
    });
    assert.deepEqual(await next(a, 'member-left'), [
      { msg: 'Member left', data: { room: 'lobby', id: b.id } },
    ]);
    await sleep(QUIET_MS);
    assert.deepEqual(names(a), []);
    assert.deepEqual(names(b), []);
  });

  it('binary data travels with send, broadcast and direct', T, async () => {
    const a = await user();
    const b = await user();
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await ack(a, 'join', 'bin');
    await ack(b, 'join', 'bin');
    await next(a, 'member-joined');
    for (const [event, args] of [
      ['send', ['bin', { blob: bytes }]],
      ['broadcast', [{ room: 'bin', data: { blob: bytes } }]],
      ['direct', [{ to: b.id, data: { blob: bytes } }]],
    ]) {
      const reply = await ack(a, event, ...args);
      assert.equal(reply.data.event, event, JSON.stringify(reply));
      const [got] = await next(b, 'message');
      assert.ok(Buffer.isBuffer(got.data.data.blob), `${event}: ${JSON.stringify(got)}`);
      assert.deepEqual(got.data.data.blob, bytes);
      assert.equal(got.data.from, a.id);
    }
  });

  it('send reaches every member, the sender included', T, async () => {
    const a = await user();
    const b = await user();
    const c = await user();
    await ack(a, 'join', 'r1');
    await ack(b, 'join', 'r1');
    await ack(c, 'join', 'r2');
    await sleep(QUIET_MS);
    a.events = [];
    const data = { text: 'hi', n: [1, 2, 3] };
    assert.deepEqual(await ack(a, 'send', 'r1', data), {
      msg: 'Sent',
      data: { room: 'r1', delivered: 2, event: 'send' },
    });
    const expected = [{ msg: 'Message', data: { room: 'r1', from: a.id, data } }];
    assert.deepEqual(await next(a, 'message'), expected);
    assert.deepEqual(await next(b, 'message'), expected);
    await sleep(QUIET_MS);
    assert.deepEqual(names(c), []);
  });

  it('takes its arguments as one object too', T, async () => {
    const a = await user();
    assert.equal((await ack(a, 'join', { room: 'obj' })).data.members, 1);
    assert.deepEqual(await ack(a, 'send', { room: 'obj', data: 7 }), {
      msg: 'Sent',
      data: { room: 'obj', delivered: 1, event: 'send' },
    });
    assert.deepEqual(await next(a, 'message'), [{ msg: 'Message', data: { room: 'obj', from: a.id, data: 7 } }]);
  });

  it('broadcast to a room, the sender left out; to everyone refused', T, async () => {
    const a = await user();
    const b = await user();
    const c = await user();
    await ack(a, 'join', 'b1');
    await ack(b, 'join', 'b1');
    await sleep(QUIET_MS);
    for (const s of [a, b, c]) s.events = [];
    assert.deepEqual(await ack(a, 'broadcast', 'b1', 'to the room'), {
      msg: 'Broadcast',
      data: { room: 'b1', delivered: 1, event: 'broadcast' },
    });
    assert.deepEqual(await next(b, 'message'), [
      { msg: 'Message', data: { room: 'b1', from: a.id, data: 'to the room' } },
    ]);
    // Hub-wide broadcast is a permission the host grants (roomd
    // --allow-hub-broadcast); without it the request is refused.
    for (const args of [[null, 'to all'], [{ data: 'to all' }]]) {
      const refused = await ack(a, 'broadcast', ...args);
      assert.equal(refused.data.code, 'denied', JSON.stringify(refused));
      assert.equal(refused.data.event, 'broadcast');
    }
    await sleep(QUIET_MS);
    for (const s of [a, b, c]) assert.deepEqual(names(s), []);
  });

  it('direct reaches one connection by id', T, async () => {
    const a = await user();
    const b = await user();
    const c = await user();
    assert.deepEqual(await ack(a, 'direct', b.id, { secret: 1 }), {
      msg: 'Sent',
      data: { to: b.id, event: 'direct' },
    });
    assert.deepEqual(await next(b, 'message'), [
      { msg: 'Message', data: { room: null, from: a.id, data: { secret: 1 } } },
    ]);
    await sleep(QUIET_MS);
    assert.deepEqual(names(a), []);
    assert.deepEqual(names(c), []);
  });

  it('errors come back in the ack', T, async () => {
    const a = await user();
    const cases = [
      [['send', 'nowhere', 1], 'not_member'],
      [['leave', 'nowhere'], 'not_member'],
      [['join'], 'bad_message'],
      [['join', ''], 'bad_room_name'],
      [['join', 'x'.repeat(129)], 'bad_room_name'],
      [['broadcast', 5, 1], 'bad_message'],
      [['broadcast', 'nowhere', 1], 'not_member'],
      [['direct', 'AAAAAAAAAAAAAAAAAAAA', 1], 'not_found'],
      [['direct'], 'bad_message'],
      [['no-such-event'], 'unknown_event'],
    ];
    for (const [args, code] of cases) {
      const res = await ack(a, ...args);
      assert.deepEqual(res.data, { code, event: args[0] }, `${args[0]}: ${JSON.stringify(res)}`);
      assert.equal(typeof res.msg, 'string');
    }
    await ack(a, 'join', 'twice');
    assert.equal((await ack(a, 'join', 'twice')).data.code, 'already_member');
  });

  it('without an ack, results come as `result` and errors as `error` events', T, async () => {
    const a = await user();
    a.emit('join', 'noack');
    assert.deepEqual(await next(a, 'result'), [
      { msg: 'Joined room', data: { room: 'noack', members: 1, event: 'join' } },
    ]);
    a.emit('send', 'elsewhere', 1);
    assert.deepEqual(await next(a, 'error'), [
      { msg: 'not a member of that room', data: { code: 'not_member', event: 'send' } },
    ]);
  });

  it('binary payloads reach members as binary', T, async () => {
    const a = await user();
    const b = await user();
    await ack(a, 'join', 'bin');
    await ack(b, 'join', 'bin');
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    assert.deepEqual((await ack(a, 'send', 'bin', bytes)).data.delivered, 2);
    const [msg] = await next(b, 'message');
    assert.equal(msg.data.from, a.id);
    assert.ok(Buffer.isBuffer(msg.data.data), `got ${typeof msg.data.data}`);
    assert.deepEqual(msg.data.data, bytes);
  });

  it('several arguments travel both ways: echo, ack callbacks, message', T, async () => {
    const a = await user();
    const args = [1, '2', { three: 3 }];
    const withAck = (...sent) =>
      new Promise((resolve, reject) =>
        a.timeout(5000).emit(...sent, (err, ...got) => (err ? reject(err) : resolve(got))));
    // The server saw three arguments and the callback gets all three back.
    assert.deepEqual(await withAck('echo', ...args), args);
    assert.deepEqual(await withAck('echo', 'one', 'two'), ['one', 'two']);
    a.emit('echo', ...args);
    assert.deepEqual(await next(a, 'result'), args);
    // A binary attachment in a later argument comes back where it was.
    const bytes = Buffer.from([9, 8, 7, 0, 255]);
    const [first, second] = await withAck('echo', 'x', { blob: bytes });
    assert.equal(first, 'x');
    assert.ok(Buffer.isBuffer(second.blob));
    assert.deepEqual(second.blob, bytes);
    // send forwards every data argument after the room.
    await ack(a, 'join', 'multi');
    await ack(a, 'send', 'multi', ...args);
    assert.deepEqual(await next(a, 'message'), [
      { msg: 'Message', data: { room: 'multi', from: a.id, data: 1, args } },
    ]);
  });

  it('disconnecting tells every room it was in', T, async () => {
    const a = await user();
    const b = await user();
    for (const room of ['d1', 'd2']) {
      await ack(a, 'join', room);
      await ack(b, 'join', room);
    }
    await sleep(QUIET_MS);
    a.events = [];
    b.close();
    const left = [await next(a, 'member-left'), await next(a, 'member-left')].map(([e]) => e.data.room);
    assert.deepEqual(left.sort(), ['d1', 'd2']);
  });

  it('the /admin namespace speaks it too, apart from "/"', T, async () => {
    const a = await user('/admin');
    const b = await user();
    assert.deepEqual((await ack(a, 'join', 'ops')).data, { room: 'ops', members: 1, event: 'join' });
    // The same room name in "/" is another room.
    assert.deepEqual((await ack(b, 'join', 'ops')).data, { room: 'ops', members: 1, event: 'join' });
  });

  it('speaks it over the JSON codec at /ws', T, async () => {
    const a = await Raw.open(suite.roomd.port, { path: '/ws' });
    const b = await Raw.open(suite.roomd.port, { path: '/ws' });
    try {
      a.send(JSON.stringify({ event: 'join', data: 'lobby', id: 1 }));
      assert.deepEqual(JSON.parse(await a.next()), {
        ack: 1,
        data: { msg: 'Joined room', data: { room: 'lobby', members: 1, event: 'join' } },
      });
      b.send(JSON.stringify({ event: 'join', data: { room: 'lobby' }, id: 9 }));
      const joined = JSON.parse(await a.next());
      assert.equal(joined.event, 'member-joined');
      const bid = joined.data.data.id;
      assert.equal(JSON.parse(await b.next()).data.data.members, 2);
      b.send(JSON.stringify({ event: 'send', data: { room: 'lobby', data: 'hi' } }));
      const expected = { event: 'message', data: { msg: 'Message', data: { room: 'lobby', from: bid, data: 'hi' } } };
      assert.deepEqual(JSON.parse(await a.next()), expected);
      assert.deepEqual(JSON.parse(await b.next()), expected);
      assert.deepEqual(JSON.parse(await b.next()), {
        event: 'result',
        data: { msg: 'Sent', data: { room: 'lobby', delivered: 2, event: 'send' } },
      });
      b.send('{"event":');
      assert.equal(JSON.parse(await b.next()).data.data.code, 'bad_json');
    } finally {
      a.close();
      b.close();
    }
  });
});

// examples/epoll_server grants no hub-wide broadcast and has no option for it.
describe('rooms with --allow-hub-broadcast', { skip: path.basename(process.env.ROOMD) !== 'roomd' }, () => {
  const suite = roomdSuite(['--protocol', 'rooms', '--allow-hub-broadcast']);

  it('broadcast to everyone reaches every connection but the sender, binary too', T, async () => {
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => connect(suite.roomd.url).then(suite.track)));
    const everyone = await ack(a, 'broadcast', null, 'to all');
    assert.equal(everyone.msg, 'Broadcast');
    assert.equal(everyone.data.room, null);
    // Other tests' connections may still be open: at least b and c.
    assert.ok(everyone.data.delivered >= 2);
    for (const s of [b, c])
      assert.deepEqual(await next(s, 'message'), [{ msg: 'Message', data: { room: null, from: a.id, data: 'to all' } }]);
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await ack(a, 'broadcast', { data: { blob: bytes } });
    for (const s of [b, c]) {
      const [got] = await next(s, 'message');
      assert.deepEqual(got.data.data.blob, bytes);
    }
    await sleep(QUIET_MS);
    for (const s of [a, b, c]) assert.deepEqual(names(s), []);
  });
});
