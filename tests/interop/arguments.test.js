'use strict';
// Socket.IO events and acks with several arguments, against roomd
// --protocol rooms, whose `echo` answers with every argument it got: as the
// ack when the client asked for one, else as a `result` event. What the
// stock socket.io-client sees must be exactly what it would see from a
// Socket.IO server's socket.emit("x", 1, "2", {three: 3}).
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { roomdSuite, connect, next } = require('./helpers');

const T = { timeout: 15000 };

describe('several arguments', () => {
  const suite = roomdSuite(['--protocol', 'rooms']);

  async function user(nsp = '') {
    const s = await connect(suite.roomd.url + nsp);
    suite.track(s);
    return s;
  }

  // emit(...args, callback): resolves with every argument the callback got.
  const withAck = (socket, ...sent) =>
    new Promise((resolve, reject) =>
      socket.timeout(5000).emit(...sent, (err, ...got) => (err ? reject(err) : resolve(got))));

  it('a server event arrives as three arguments, in "/" and in a namespace', T, async () => {
    for (const nsp of ['', '/admin']) {
      const a = await user(nsp);
      a.emit('echo', 1, '2', { three: 3 });
      const args = await next(a, 'result');
      assert.equal(args.length, 3);
      assert.deepEqual(args, [1, '2', { three: 3 }]);
    }
  });

  it('an ack callback receives two arguments, or none', T, async () => {
    const a = await user();
    assert.deepEqual(await withAck(a, 'echo', 'one', { two: [2] }), ['one', { two: [2] }]);
    assert.deepEqual(await withAck(a, 'echo'), []);
  });

  it('binary attachments anywhere in any argument, both ways', T, async () => {
    const a = await user('/admin');
    const first = Buffer.from([1, 2, 3]);
    const second = Buffer.from([0, 255]);
    // A BINARY_EVENT whose two placeholders sit in the first and, nested, in
    // the third argument; the answer is a BINARY_EVENT laid out the same way.
    a.emit('echo', first, 'middle', { deep: [second] });
    const [x, y, z] = await next(a, 'result');
    assert.ok(Buffer.isBuffer(x) && Buffer.isBuffer(z.deep[0]));
    assert.deepEqual([x, y, z.deep[0]], [first, 'middle', second]);
    // And as a BINARY_ACK with two arguments, each a buffer.
    const [p, q] = await withAck(a, 'echo', second, first);
    assert.deepEqual([p, q], [second, first]);
  });
});
