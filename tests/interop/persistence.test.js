'use strict';
// roomd --data FILE (docs/storage-sqlite.md) with the stock socket.io-client
// and native WebSocket on /ws: rooms history survives a restart on the same
// file with the same epoch (also after SIGKILL), each hub's rooms stay its
// own, a restart without --data is a new epoch (and leaves the file
// alone), a write failing later (a file size limit) turns the room
// read-only with a clear refusal, and a file that cannot be a store stops
// roomd at start with the file and SQLite's reason named.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { speaks, startRoomd, connect, received, ack, Raw, withTimeout, sleep } = require('./helpers');

const ROOMD = process.env.ROOMD;
const T = { timeout: 30000 };
const HISTORY = ['--protocol', 'rooms', '--history', '50', '--history-rooms', 'chat:*'];

let dir;
before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomd-data-'));
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function stopped(roomd, signal = 'SIGTERM') {
  const exit = await roomd.stop(signal);
  if (signal === 'SIGTERM') assert.deepEqual(exit, { code: 0, signal: null }, roomd.stderr());
}

// Sends `texts` to `room` and returns the epoch the messages carried.
async function sendAll(url, room, texts) {
  const a = await connect(url);
  try {
    await ack(a, 'join', room);
    for (const t of texts) assert.equal((await ack(a, 'send', room, t)).data.delivered, 1);
    const got = (await received(a, 'message', texts.length)).map(([m]) => m.data);
    assert.deepEqual(got.map((d) => d.data), texts);
    return got[0].epoch;
  } finally {
    a.close();
  }
}

// Joins `room` and asks for its history since `since`: the answer and the
// messages replayed before it.
async function history(url, room, since) {
  const b = await connect(url);
  try {
    await ack(b, 'join', room);
    const answer = await ack(b, 'history', room, since);
    const replayed = b.events.filter((e) => e.event === 'message').map((e) => e.args[0].data);
    return { answer, replayed };
  } finally {
    b.close();
  }
}

describe('roomd --data', { skip: !speaks('rooms') }, () => {
  it('history and its epoch survive a restart on the same file', T, async () => {
    const file = path.join(dir, 'restart.db');
    const args = [...HISTORY, '--data', file];
    let roomd = await startRoomd(args);
    let epoch;
    try {
      epoch = await sendAll(roomd.url, 'chat:p', ['one', 'two', 'three']);
    } finally {
      await stopped(roomd);
    }
    roomd = await startRoomd(args);
    try {
      const { answer, replayed } = await history(roomd.url, 'chat:p', { offset: 1, epoch });
      assert.deepEqual(answer.data, { room: 'chat:p', offset: 3, epoch, count: 2, event: 'history' });
      assert.deepEqual(replayed.map((d) => [d.offset, d.epoch, d.data]), [[2, epoch, 'two'], [3, epoch, 'three']]);
      // The run of offsets goes on.
      const a = await connect(roomd.url);
      await ack(a, 'join', 'chat:p');
      await ack(a, 'send', 'chat:p', 'four');
      const [[m]] = await received(a, 'message');
      assert.deepEqual([m.data.offset, m.data.epoch], [4, epoch]);
      a.close();
    } finally {
      await stopped(roomd);
    }
  });

  it('what was sent survives roomd being killed (SIGKILL)', T, async () => {
    const file = path.join(dir, 'killed.db');
    const args = [...HISTORY, '--data', file];
    let roomd = await startRoomd(args);
    let epoch;
    try {
      epoch = await sendAll(roomd.url, 'chat:k', ['a', 'b']);
      // Written at the end of the loop iteration that took the messages;
      // the kill comes well after.
      await sleep(300);
    } finally {
      await stopped(roomd, 'SIGKILL');
    }
    roomd = await startRoomd(args);
    try {
      const { answer, replayed } = await history(roomd.url, 'chat:k', { offset: 0, epoch });
      assert.equal(answer.data.epoch, epoch);
      assert.deepEqual(replayed.map((d) => d.data), ['a', 'b']);
    } finally {
      await stopped(roomd);
    }
  });

  it("each hub's rooms are its own: /ws does not see the Socket.IO namespace's", T, async () => {
    const file = path.join(dir, 'scopes.db');
    const roomd = await startRoomd([...HISTORY, '--data', file]);
    const raw = await Raw.open(roomd.port, { path: '/ws' });
    try {
      await sendAll(roomd.url, 'chat:s', ['x']);
      raw.send(JSON.stringify({ event: 'join', data: 'chat:s', id: 1 }));
      raw.send(JSON.stringify({ event: 'history', data: { room: 'chat:s' }, id: 2 }));
      let answer;
      while (!answer) {
        const m = JSON.parse(await raw.next());
        assert.notEqual(m.event, 'message');
        if (m.ack === 2) answer = m.data;
      }
      assert.equal(answer.data.count, 0);
      assert.equal(answer.data.offset, 0);
    } finally {
      raw.close();
      await stopped(roomd);
    }
  });

  it('a restart without --data is a new epoch, and the file keeps the old one', T, async () => {
    const file = path.join(dir, 'memory.db');
    let roomd = await startRoomd([...HISTORY, '--data', file]);
    let epoch;
    try {
      epoch = await sendAll(roomd.url, 'chat:m', ['kept']);
    } finally {
      await stopped(roomd);
    }
    roomd = await startRoomd(HISTORY);
    try {
      const { answer } = await history(roomd.url, 'chat:m', { offset: 1, epoch });
      assert.equal(answer.data.code, 'wrong_epoch');
      assert.notEqual(answer.data.epoch, epoch);
      assert.equal(answer.data.offset, 0);
    } finally {
      await stopped(roomd);
    }
    roomd = await startRoomd([...HISTORY, '--data', file]);
    try {
      const { answer, replayed } = await history(roomd.url, 'chat:m', { offset: 0, epoch });
      assert.equal(answer.data.epoch, epoch);
      assert.deepEqual(replayed.map((d) => d.data), ['kept']);
    } finally {
      await stopped(roomd);
    }
  });
});

// roomd with `args` must exit at start: its status and what it said.
async function refusedStart(args) {
  const proc = spawn(ROOMD, ['--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (c) => {
    stderr += c;
  });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    const exit = await withTimeout(exited, 5000, 'roomd to exit');
    return { exit, stderr };
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
}

// roomd under `prlimit --fsize=BYTES`: writes past that size fail (EFBIG),
// as on a full disk. Resolves with its port, stderr so far, and a stop().
async function startLimited(bytes, args) {
  const proc = spawn('prlimit', [`--fsize=${bytes}`, ROOMD, '--port', '0', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await withTimeout(
    new Promise((resolve, reject) => {
      proc.stderr.on('data', (c) => {
        stderr += c;
        const m = /listening on \S+:(\d+)\n/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      exited.then((e) => reject(new Error(`roomd exited (${e.code ?? e.signal}): ${stderr}`)));
    }),
    5000,
    'roomd to listen',
  ).catch((err) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stderr: () => stderr,
    async stop() {
      proc.kill('SIGTERM');
      return withTimeout(exited, 8000, 'roomd to exit').catch((err) => {
        proc.kill('SIGKILL');
        throw err;
      });
    },
  };
}

describe('roomd --data when writes fail later', { skip: !speaks('rooms') }, () => {
  const hasPrlimit = fs.existsSync('/usr/bin/prlimit') || fs.existsSync('/bin/prlimit');
  it('the room turns read-only: sends are refused with code storage, logged once', { ...T, skip: !hasPrlimit }, async () => {
    const file = path.join(dir, 'full.db');
    // Room for the schema, not for a message of 300 kB.
    const roomd = await startLimited(200000, [...HISTORY, '--data', file]);
    let exit;
    try {
      const a = await connect(roomd.url);
      await ack(a, 'join', 'chat:f');
      // Accepted and relayed: its write fails at the end of the iteration.
      assert.equal((await ack(a, 'send', 'chat:f', 'y'.repeat(300000))).data.delivered, 1);
      let refusal;
      for (let i = 0; i < 50 && !refusal; i++) {
        const res = await ack(a, 'send', 'chat:f', 'small');
        if (res.data.code) refusal = res;
        else await sleep(20);
      }
      assert.equal(refusal?.data.code, 'storage');
      assert.match(refusal.msg, /read-only/);
      // Still refused a while later (every flush retries), and the store said so once.
      await sleep(1200);
      assert.equal((await ack(a, 'send', 'chat:f', 'again')).data.code, 'storage');
      a.close();
      const lines = roomd.stderr().split('\n').filter((l) => l.includes(`sqlite store ${file}: write failed`));
      assert.equal(lines.length, 1, roomd.stderr());
      const hubLines = roomd.stderr().split('\n').filter((l) => l.includes('store sqlite failed to write'));
      assert.equal(hubLines.length, 1, roomd.stderr());
    } finally {
      exit = await roomd.stop();
    }
    assert.deepEqual(exit, { code: 0, signal: null });
  });
});

describe('roomd --data refuses what cannot be a store', () => {
  it('a corrupt (non-SQLite) file', T, async () => {
    const file = path.join(dir, 'corrupt.db');
    fs.writeFileSync(file, 'not a database, only text pretending to be one'.repeat(10));
    const { exit, stderr } = await refusedStart(['--data', file]);
    assert.deepEqual(exit, { code: 1, signal: null });
    assert.match(stderr, new RegExp(`--data ${file}: file is not a database`));
    assert.doesNotMatch(stderr, /listening/);
  });

  it('a file that cannot be made', T, async () => {
    const file = path.join(dir, 'no-such-dir', 'x.db');
    const { exit, stderr } = await refusedStart(['--data', file]);
    assert.deepEqual(exit, { code: 1, signal: null });
    assert.match(stderr, new RegExp(`--data ${file}: unable to open database file`));
  });

  it('a file another roomd holds', T, async () => {
    const file = path.join(dir, 'held.db');
    const first = await startRoomd(['--data', file]);
    try {
      const { exit, stderr } = await refusedStart(['--data', file]);
      assert.deepEqual(exit, { code: 1, signal: null });
      assert.match(stderr, /locked by another store/);
    } finally {
      await stopped(first);
    }
  });
});
