'use strict';
// Requests that would make the server send far more than they cost
// (issue 8): hub-wide broadcast and Diffy's presence rosters.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { abuseSuite, within, sleep } = require('./abuse');
const { RawWs } = require('./raw');

async function opened(port, n) {
  const clients = Array.from({ length: n }, () => new RawWs(port, '/ws', { keep: true }));
  assert.deepEqual(new Set(await within(Promise.all(clients.map((c) => c.status)), 10000, 'the 101s')), new Set([101]));
  return clients;
}

describe('abuse: hub-wide broadcast', () => {
  // 36 MB of requests would meet the byte rate limit first: this is about
  // the permission alone.
  const suite = abuseSuite(['--protocol', 'rooms', '--no-rate-limit']);

  suite.abuse('broadcast to the whole hub is refused without --allow-hub-broadcast', async () => {
    const idle = await opened(suite.roomd.port, 50);
    idle.forEach((c) => c.sock.pause()); // slow readers, as in the report
    const [attacker] = await opened(suite.roomd.port, 1);
    const big = 'x'.repeat(900000);
    for (let i = 0; i < 40; i++) attacker.sendText(JSON.stringify({ event: 'broadcast', data: { data: big } }));
    for (let i = 0; i < 40; i++)
      assert.match(await within(attacker.text('{"event":"error"'), 5000, 'the refusal'), /"code":"denied"/);
    await sleep(200);
    idle.forEach((c) => c.sock.resume());
    await sleep(200);
    assert.ok(idle.every((c) => !c.ended && c.messages === 0), 'the idle clients got nothing and stay');
    [...idle, attacker].forEach((c) => c.destroy());
    return '40 x 900 KB to everyone: 40 "denied", 50 slow readers untouched';
  });
});

describe('abuse: diffy presence', () => {
  const suite = abuseSuite(['--protocol', 'diffy']);

  suite.abuse('a burst of 300 joins to one PR costs one roster per member per tick', async () => {
    const n = 300;
    const clients = await opened(suite.roomd.port, n);
    const handshake = clients.reduce((s, c) => s + c.bytes, 0);
    clients.forEach((c, i) =>
      c.sendText(JSON.stringify({ event: 'join-pr-room', data: { pullRequestId: 7, username: `u${i}` } })),
    );
    // Every member ends up with the full count and roster.
    const last = (c, event) => {
      const all = c.keep.filter((t) => t.startsWith(`{"event":"${event}"`));
      return all.length ? JSON.parse(all[all.length - 1]).data : undefined;
    };
    const done = () => clients.every((c) => last(c, 'user-count')?.userCount === n);
    for (let t = 0; t < 100 && !done(); t++) await sleep(100);
    assert.ok(done(), 'every member saw userCount 300');
    for (const c of clients) assert.equal(last(c, 'active-users').length, n);
    const bytes = clients.reduce((s, c) => s + c.bytes, 0) - handshake;
    const rosters = clients.reduce((s, c) => s + c.keep.filter((t) => t.startsWith('{"event":"active-users"')).length, 0);
    // One roster per join would be 45150 rosters and about 92 MB.
    assert.ok(rosters < n * 20, `${rosters} rosters`);
    assert.ok(bytes < 10e6, `${bytes} bytes`);
    clients.forEach((c) => c.destroy());
    return `${n} joins: ${(bytes / 1e6).toFixed(1)} MB, ${rosters} rosters sent (one per join: 45150, ~92 MB)`;
  });
});
