'use strict';
// Clients that never read, and clients that flood.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { abuseSuite, within, sleep, vmRssKb } = require('./abuse');
const { RawWs } = require('./raw');

const join = (room) => JSON.stringify({ event: 'join', data: room });

async function opened(port, n, room) {
  const clients = Array.from({ length: n }, () => new RawWs(port, '/ws', { keep: true }));
  await within(Promise.all(clients.map((c) => c.status)), 5000, 'the 101s');
  clients.forEach((c) => c.sendText(join(room)));
  await within(Promise.all(clients.map((c) => c.text('{"event":"result"'))), 5000, 'the joins');
  return clients;
}

describe('abuse: load', () => {
  // roomd's rate limits would refuse these floods first: they are tested
  // on their own below, and the queue bounds and ordering here.
  const suite = abuseSuite(['--protocol', 'rooms', '--no-rate-limit']);
  const port = () => suite.roomd.port;

  suite.abuse('never-reading members of a busy room are closed as slow consumers', async () => {
    const readers = await opened(port(), 20, 'busy');
    const [sender] = await opened(port(), 1, 'busy');
    sender.keep = null;
    readers.forEach((c) => c.sock.pause());
    const payload = 'x'.repeat(100000);
    const count = 300;
    const before = sender.messages;
    let peak = 0;
    // 300 x 100 KB to 20 members that do not read: 600 MB if queued, and
    // 30 MB each, more than loopback's socket buffers take.
    for (let i = 0; i < count; i++) {
      sender.sendText(JSON.stringify({ event: 'send', data: { room: 'busy', data: payload } }));
      if (i % 10 === 9) {
        await sleep(10);
        peak = Math.max(peak, vmRssKb(suite.roomd.proc.pid));
      }
    }
    // The sender, a member that reads, gets each message and each answer
    // (and member-left for the readers cut).
    for (let t = 0; t < 200 && sender.messages - before < 2 * count; t++) await sleep(50);
    assert.ok(sender.messages - before >= 2 * count, `${sender.messages - before} messages`);
    readers.forEach((c) => c.sock.resume());
    const codes = await within(Promise.all(readers.map((c) => c.end)), 10000, 'the readers cut');
    sender.destroy();
    assert.ok(codes.every((code) => code === undefined || code === 1008), codes.join());
    return `20 readers paused, 300 x 100 KB sent, the sender served: all closed (1008 or cut), peak VmRSS ${peak} kB`;
  });

  suite.abuse('a flood of 20000 requests in one burst is answered in order', async () => {
    const [c] = await opened(port(), 1, 'flood');
    c.keep = null;
    const n = 20000;
    const burst = [];
    for (let i = 0; i < n; i++) burst.push(JSON.stringify({ event: 'echo', data: i }));
    const before = c.messages;
    const last = c.text(`{"event":"result","data":${n - 1}}`);
    c.send(Buffer.concat(burst.map((t) => require('./raw').frame(1, t))));
    await within(last, 20000, 'the last answer');
    assert.equal(c.messages - before, n);
    c.destroy();
    return `${n} echo requests (${Math.round(burst.join('').length / 1024)} KB) in one write: ${n} answers`;
  });
});

describe('abuse: rate limits', () => {
  const suite = abuseSuite(['--protocol', 'rooms']);
  const port = () => suite.roomd.port;

  suite.abuse('a flood past the default rate limit is refused, then closed with 1008', async () => {
    const [c] = await opened(port(), 1, 'limited');
    const n = 2000;
    const burst = [];
    for (let i = 0; i < n; i++) burst.push(JSON.stringify({ event: 'echo', data: i }));
    c.send(Buffer.concat(burst.map((t) => require('./raw').frame(1, t))));
    const limited = await within(c.text('{"event":"error","data":{"msg":"sending faster'), 5000, 'a rate_limited error');
    assert.match(limited, /"code":"rate_limited"/);
    const code = await within(c.end, 5000, 'the close');
    assert.equal(code, 1008);
    return `${n} echo requests in one write: answered up to the burst, then rate_limited errors, then closed with 1008`;
  });
});
