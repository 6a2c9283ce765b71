'use strict';
// Invalid WebSocket frames of every kind, and oversize payloads: each must
// cost only its own connection, closed with the RFC 6455 status code.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { abuseSuite, within } = require('./abuse');
const { RawWs, frame } = require('./raw');

const u16 = (n) => Buffer.from([n >> 8, n & 0xff]);

describe('abuse: frames', () => {
  const suite = abuseSuite(['--protocol', 'rooms']);
  const port = () => suite.roomd.port;

  // Sends `bytes` on a fresh upgraded connection; resolves with the close
  // code the server sent (null: a close frame without one; undefined: none).
  async function closeCodeFor(bytes, path = '/ws') {
    const c = new RawWs(port(), path);
    assert.equal(await within(c.status, 3000, 'the 101'), 101);
    c.send(bytes);
    await within(c.end, 5000, 'the server to close');
    return c.closeCode;
  }

  suite.abuse('invalid frames are closed with 1002 or 1007', async () => {
    const start = frame(1, '{"event":', { fin: false });
    const cases = {
      'unmasked': [frame(1, '{}', { mask: false }), 1002],
      'RSV1 without an extension': [frame(1, '{}', { rsv: 4 }), 1002],
      'RSV3': [frame(2, 'x', { rsv: 1 }), 1002],
      'reserved data opcode 3': [frame(3, 'x'), 1002],
      'reserved control opcode 0xB': [frame(0xb, 'x'), 1002],
      'fragmented ping': [frame(9, 'x', { fin: false }), 1002],
      'ping of 126 bytes': [frame(9, Buffer.alloc(126)), 1002],
      'close with a 1-byte body': [frame(8, Buffer.from([3])), 1002],
      'close code 999': [frame(8, u16(999)), 1002],
      'close code 1005': [frame(8, u16(1005)), 1002],
      'close code 1006': [frame(8, u16(1006)), 1002],
      'close code 5000': [frame(8, u16(5000)), 1002],
      'continuation without a start': [frame(0, 'x'), 1002],
      'new message inside a fragmented one': [Buffer.concat([start, frame(1, '{}')]), 1002],
      '16-bit length for 5 bytes': [frame(1, '{"a":1}', { len: 16 }), 1002],
      '64-bit length for 200 bytes': [frame(1, Buffer.alloc(200, 0x20), { len: 64 }), 1002],
      '64-bit length with the top bit set': [Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), 1002],
      'text that is not UTF-8': [frame(1, Buffer.from([0x22, 0xc3, 0x28, 0x22])), 1007],
      'UTF-8 broken across fragments': [
        Buffer.concat([frame(1, Buffer.from([0x22, 0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x28, 0x22]))]),
        1007,
      ],
      'close reason that is not UTF-8': [frame(8, Buffer.concat([u16(1000), Buffer.from([0xff, 0xfe])])), 1007],
    };
    const got = await Promise.all(
      Object.entries(cases).map(async ([what, [bytes, want]]) => [what, await closeCodeFor(bytes), want]),
    );
    for (const [what, code, want] of got) assert.equal(code, want, what);
    // The same on a Socket.IO connection.
    assert.equal(await closeCodeFor(frame(1, '4', { mask: false }), '/socket.io/?EIO=4&transport=websocket'), 1002);
    return `${got.length} kinds: 1002 (protocol), 1007 (UTF-8)`;
  });

  suite.abuse('oversize payloads are refused from the header: 1009', async () => {
    const announced = Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4]); // 256 MiB
    const fragments = [];
    for (let i = 0; i < 3; i++) fragments.push(frame(i ? 0 : 1, Buffer.alloc(400000, 0x20), { fin: false }));
    const codes = await Promise.all([
      closeCodeFor(announced),
      closeCodeFor(frame(1, Buffer.alloc(1000001, 0x20))),
      closeCodeFor(Buffer.concat(fragments)),
      closeCodeFor(frame(2, Buffer.alloc(1000001)), '/socket.io/?EIO=4&transport=websocket'),
    ]);
    assert.deepEqual(codes, [1009, 1009, 1009, 1009]);
    return 'announced 256 MiB, 1 MB + 1, 3 fragments of 400 KB, binary 1 MB + 1: 1009';
  });
});
