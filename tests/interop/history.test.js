'use strict';
// roomd --protocol rooms --history (docs/protocol-rooms.md, "History";
// docs/history.md) against the stock socket.io-client and native WebSocket
// on /ws: messages of history rooms carry offset and epoch, a reloaded
// client asks since {offset, epoch} and gets exactly what it missed, too
// old and wrong-epoch positions are refused with the current position,
// and a restart without persistence is a new epoch.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { speaks, startRoomd, roomdSuite, connect, received, ack, Raw } = require('./helpers');

const T = { timeout: 15000 };
const ARGS = ['--protocol', 'rooms', '--history', '3', '--history-rooms', 'chat:*,lobby'];

// The next JSON-codec message on a raw /ws connection that passes `pred`.
async function rawNext(raw, pred) {
  for (;;) {
    const m = JSON.parse(await raw.next());
    if (pred(m)) return m;
  }
}

async function rawJoin(raw, room) {
  raw.send(JSON.stringify({ event: 'join', data: room, id: 1 }));
  const m = await rawNext(raw, (x) => x.ack === 1);
  assert.equal(m.data.msg, 'Joined room');
}

describe('rooms history', { skip: !speaks('rooms') }, () => {
  const suite = roomdSuite(ARGS);
  const sio = async () => suite.track(await connect(suite.roomd.url));

  it('messages carry offset and epoch; a reload replays exactly what it missed', T, async () => {
    const alice = await sio();
    const bob = await sio();
    await ack(alice, 'join', 'chat:one');
    await ack(bob, 'join', 'chat:one');
    for (let i = 1; i <= 5; i++) assert.equal((await ack(alice, 'send', 'chat:one', { n: i })).data.delivered, 2);
    const got = (await received(bob, 'message', 5)).map(([m]) => m.data);
    const epoch = got[0].epoch;
    assert.equal(typeof epoch, 'string');
    assert.ok(epoch.length > 0);
    assert.deepEqual(got.map((d) => [d.offset, d.epoch, d.data.n]), [1, 2, 3, 4, 5].map((i) => [i, epoch, i]));

    // Bob reloads: a new connection, the same room, since offset 3.
    bob.close();
    const bob2 = await sio();
    await ack(bob2, 'join', 'chat:one');
    const res = await ack(bob2, 'history', 'chat:one', { offset: 3, epoch });
    assert.deepEqual(res, {
      msg: 'History',
      data: { room: 'chat:one', offset: 5, epoch, count: 2, event: 'history' },
    });
    // The missed messages came before the answer, in order.
    const replayed = bob2.events.filter((e) => e.event === 'message').map((e) => e.args[0].data);
    assert.deepEqual(replayed.map((d) => [d.offset, d.data.n]), [[4, 4], [5, 5]]);

    // Object form, and nothing missed.
    const none = await ack(bob2, 'history', { room: 'chat:one', since: { offset: 5, epoch } });
    assert.equal(none.data.count, 0);
  });

  it('too old and wrong epoch are answered with the current position, nothing sent', T, async () => {
    const a = await sio();
    await ack(a, 'join', 'chat:two');
    for (let i = 1; i <= 5; i++) await ack(a, 'send', 'chat:two', i);
    const epoch = (await received(a, 'message', 5))[0][0].data.epoch;
    a.events.length = 0;
    // --history 3 keeps 3, 4, 5: since 1 would miss 2.
    const old = await ack(a, 'history', 'chat:two', { offset: 1, epoch });
    assert.equal(old.data.code, 'too_old');
    assert.equal(old.data.offset, 5);
    assert.equal(old.data.epoch, epoch);
    const wrong = await ack(a, 'history', 'chat:two', { offset: 2, epoch: 'not-this-one' });
    assert.equal(wrong.data.code, 'wrong_epoch');
    assert.equal(wrong.data.epoch, epoch);
    const future = await ack(a, 'history', 'chat:two', { offset: 9, epoch });
    assert.equal(future.data.code, 'wrong_epoch');
    assert.equal(a.events.filter((e) => e.event === 'message').length, 0);
    // Starting over: everything kept, and where it ends.
    const all = await ack(a, 'history', 'chat:two');
    assert.equal(all.data.count, 3);
    const msgs = a.events.filter((e) => e.event === 'message').map((e) => e.args[0].data.offset);
    assert.deepEqual(msgs, [3, 4, 5]);
  });

  it('rooms without history, non-members, bad positions', T, async () => {
    const a = await sio();
    const b = await sio();
    await ack(a, 'join', 'plain');
    await ack(b, 'join', 'plain');
    await ack(a, 'send', 'plain', 'x');
    const [[m]] = await received(b, 'message');
    assert.equal(m.data.offset, undefined);
    assert.equal((await ack(a, 'history', 'plain')).data.code, 'not_found');
    assert.equal((await ack(a, 'history', 'lobby')).data.code, 'not_member');
    assert.equal((await ack(a, 'history', 'lobby', { offset: 'x' })).data.code, 'bad_message');
  });

  it('binary attachments come back in a replay', T, async () => {
    const a = await sio();
    await ack(a, 'join', 'chat:bin');
    await ack(a, 'send', 'chat:bin', { blob: Buffer.from([1, 2, 3]) });
    const b = await sio();
    await ack(b, 'join', 'chat:bin');
    const res = await ack(b, 'history', 'chat:bin');
    assert.equal(res.data.count, 1);
    const [[m]] = await received(b, 'message');
    assert.deepEqual([...m.data.data.blob], [1, 2, 3]);
    assert.equal(m.data.offset, 1);
  });

  it('native WebSocket on /ws: replay since an offset, too old', T, async () => {
    const raw = await Raw.open(suite.roomd.port, { path: '/ws' });
    const other = await Raw.open(suite.roomd.port, { path: '/ws' });
    try {
      await rawJoin(raw, 'lobby');
      await rawJoin(other, 'lobby');
      for (let i = 1; i <= 4; i++) raw.send(JSON.stringify({ event: 'send', data: { room: 'lobby', data: i } }));
      const seen = [];
      while (seen.length < 4) seen.push((await rawNext(other, (x) => x.event === 'message')).data.data);
      const epoch = seen[0].epoch;
      assert.deepEqual(seen.map((d) => d.offset), [1, 2, 3, 4]);
      other.send(JSON.stringify({ event: 'history', data: { room: 'lobby', since: { offset: 2, epoch } }, id: 9 }));
      const replay = [];
      let answer;
      while (!answer) {
        const x = await rawNext(other, (y) => y.event === 'message' || y.ack === 9);
        if (x.ack === 9) answer = x.data;
        else replay.push(x.data.data);
      }
      assert.deepEqual(replay.map((d) => [d.offset, d.data]), [[3, 3], [4, 4]]);
      assert.deepEqual(answer.data, { room: 'lobby', offset: 4, epoch, count: 2, event: 'history' });
      // Without an id, the refusal is an error event with the position.
      other.send(JSON.stringify({ event: 'history', data: { room: 'lobby', since: { offset: 0, epoch } } }));
      const err = await rawNext(other, (x) => x.event === 'error');
      assert.equal(err.data.data.code, 'too_old');
      assert.equal(err.data.data.offset, 4);
    } finally {
      raw.close();
      other.close();
    }
  });
});

describe('rooms history across a restart without persistence', { skip: !speaks('rooms') }, () => {
  it('gets a new epoch: the old position is wrong_epoch', T, async () => {
    let roomd = await startRoomd(ARGS);
    let epoch;
    try {
      const a = await connect(roomd.url);
      await ack(a, 'join', 'chat:r');
      await ack(a, 'send', 'chat:r', 'before');
      epoch = (await received(a, 'message'))[0][0].data.epoch;
      a.close();
    } finally {
      assert.deepEqual(await roomd.stop(), { code: 0, signal: null });
    }
    roomd = await startRoomd(ARGS);
    try {
      const b = await connect(roomd.url);
      await ack(b, 'join', 'chat:r');
      const res = await ack(b, 'history', 'chat:r', { offset: 1, epoch });
      assert.equal(res.data.code, 'wrong_epoch');
      assert.notEqual(res.data.epoch, epoch);
      assert.equal(res.data.offset, 0);
      // The new run starts at 1 under the new epoch.
      await ack(b, 'send', 'chat:r', 'after');
      const [[m]] = await received(b, 'message');
      assert.equal(m.data.offset, 1);
      assert.equal(m.data.epoch, res.data.epoch);
      b.close();
    } finally {
      assert.deepEqual(await roomd.stop(), { code: 0, signal: null });
    }
  });
});
