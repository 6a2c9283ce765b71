'use strict';
// roomd's identities (docs/roomd.md, "Identity and authorization") with the
// stock socket.io-client: signed tokens under --auth-secret, minted here
// with node's crypto (another implementation than roomd's), and the attacks
// of issue 10 tried as an attacker would.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { speaks, startRoomd, roomdSuite, connect, refused, next, ack, Raw, sleep } = require('./helpers');

const T = { timeout: 15000 };
const SECRET = 'interop secret';
const QUIET_MS = 200;
const HOUR = () => Math.floor(Date.now() / 1000) + 3600;

const b64url = (buf) => Buffer.from(buf).toString('base64url');
function mint(claims, secret = SECRET) {
  const payload = b64url(JSON.stringify({ exp: HOUR(), ...claims }));
  return `${payload}.${b64url(crypto.createHmac('sha256', secret).update(payload).digest())}`;
}

const REQUIRED = 'a signed token is required (auth.token or the query parameter token)';

describe('diffy with --auth-secret', { skip: !speaks('diffy') }, () => {
  const suite = roomdSuite(['--protocol', 'diffy', '--auth-secret', SECRET]);
  const alice = mint({ userId: 'alice', rooms: ['pr:1', 'pr:2'] });

  async function as(token, opts = {}) {
    return suite.track(await connect(suite.roomd.url, { auth: { token }, ...opts }));
  }

  it('says so at startup', () => {
    assert.match(suite.roomd.stderr(), /identities: signed tokens/);
    assert.doesNotMatch(suite.roomd.stderr(), /self-declared/);
  });

  it('refuses a connection without a valid token, saying why', T, async () => {
    assert.equal((await refused(suite.roomd.url)).message, REQUIRED);
    // Declaring a user is not presenting one.
    assert.equal((await refused(suite.roomd.url, { auth: { userId: 'alice' } })).message, REQUIRED);
    assert.equal((await refused(suite.roomd.url, { auth: { token: 'x.y' } })).message, 'malformed token');
    const forged = mint({ userId: 'alice', rooms: ['*'] }, 'guessed secret');
    assert.equal((await refused(suite.roomd.url, { auth: { token: forged } })).message, 'bad token signature');
    const expired = mint({ userId: 'alice', rooms: ['*'], exp: Math.floor(Date.now() / 1000) - 1 });
    assert.equal((await refused(suite.roomd.url, { auth: { token: expired } })).message, 'token expired');
    // Another user's claims under alice's MAC.
    const [, mac] = alice.split('.');
    const swapped = `${b64url(JSON.stringify({ userId: 'bob', rooms: ['*'], exp: HOUR() }))}.${mac}`;
    assert.equal((await refused(suite.roomd.url, { auth: { token: swapped } })).message, 'bad token signature');
    const admin = mint({ userId: 'alice', rooms: ['*'], admin: true });
    assert.equal((await refused(suite.roomd.url, { auth: { token: admin } })).message, 'token has an unknown claim');
  });

  it('refuses joining as any username but the token\'s', T, async () => {
    const s = await as(alice);
    const res = await ack(s, 'join-pr-room', { pullRequestId: 1, username: 'bob' });
    assert.equal(res.data.code, 'denied', JSON.stringify(res));
    s.emit('join-pr-room', { pullRequestId: 1, username: 'alice' });
    assert.deepEqual(await next(s, 'joined'), ['alice joined PR 1']);
    assert.deepEqual(await next(s, 'active-users'), [['alice']]);
    // Nor can it speak as bob once in.
    const spoof = await ack(s, 'send-message-to-pr-room', { pullRequestId: 1, username: 'bob', message: 'hi' });
    assert.equal(spoof.data.code, 'denied');
  });

  it('refuses a room the token does not list with forbidden; "*" allows all', T, async () => {
    const s = await as(alice);
    s.emit('join-pr-room', { pullRequestId: 3, username: 'alice' });
    const [err] = await next(s, 'error');
    assert.deepEqual(err, { msg: 'not allowed in room pr:3', data: { code: 'forbidden', event: 'join-pr-room' } });
    const res = await ack(s, 'join-pr-room', { pullRequestId: 30, username: 'alice' });
    assert.equal(res.data.code, 'forbidden');
    // Nothing joined, nobody told.
    await sleep(QUIET_MS);
    assert.ok(!s.events.some((e) => e.event === 'joined'));
    const any = await as(mint({ userId: 'carol', name: 'Carol', rooms: ['*'] }));
    any.emit('join-pr-room', { pullRequestId: 3, username: 'carol' });
    assert.deepEqual(await next(any, 'joined'), ['carol joined PR 3']);
  });

  it('takes the token from the query of /ws, and closes /ws without one', T, async () => {
    const ok = await Raw.open(suite.roomd.port, { path: `/ws?token=${mint({ userId: 'dave', rooms: ['pr:9'] })}` });
    try {
      ok.send(JSON.stringify({ event: 'join-pr-room', data: { pullRequestId: 9, username: 'mallory' } }));
      assert.equal(JSON.parse(await ok.next()).data.data.code, 'denied');
      ok.send(JSON.stringify({ event: 'join-pr-room', data: { pullRequestId: 9, username: 'dave' } }));
      assert.deepEqual(JSON.parse(await ok.next()), { event: 'joined', data: 'dave joined PR 9' });
    } finally {
      ok.close();
    }
    const bare = await Raw.open(suite.roomd.port, { path: '/ws?userId=dave' });
    try {
      assert.deepEqual(await bare.closed(), { code: 1008, reason: REQUIRED });
    } finally {
      bare.close();
    }
  });

  it('accepts what mint-token.sh makes', { ...T, skip: !hasTools() }, async () => {
    const script = path.join(__dirname, '..', '..', 'examples', 'roomd', 'mint-token.sh');
    const token = execFileSync('sh', [script, 'erin', 'Erin', '', 'pr:5'], {
      env: { ...process.env, ROOMD_AUTH_SECRET: SECRET },
      encoding: 'utf8',
    }).trim();
    const s = await as(token);
    s.emit('join-pr-room', { pullRequestId: 5, username: 'erin' });
    assert.deepEqual(await next(s, 'joined'), ['erin joined PR 5']);
    assert.equal((await ack(s, 'join-pr-room', { pullRequestId: 6, username: 'erin' })).data.code, 'forbidden');
  });
});

function hasTools() {
  try {
    execFileSync('sh', ['-c', 'command -v openssl && command -v basenc'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('classroom with --auth-secret', { skip: !speaks('classroom') }, () => {
  const suite = roomdSuite(['--protocol', 'classroom', '--auth-secret', SECRET]);
  const teacherToken = mint({ userId: '1', name: 'Sherley Herminia', role: 'TEACHER', rooms: ['math'] });
  const studentToken = mint({ userId: '2', name: 'Kiki', role: 'STUDENT', rooms: ['math'] });
  const TEACHER = { ID: 1, role: 'TEACHER', name: 'Sherley Herminia' };

  async function enter(token, extra = {}) {
    const s = suite.track(await connect(suite.roomd.url, { auth: { room: 'math', token, ...extra } }));
    s.initial = (await next(s, 'initial-response'))[0].data;
    return s;
  }

  it('takes ID, role and name from the token', T, async () => {
    const teacher = await enter(teacherToken);
    assert.deepEqual(teacher.initial, [TEACHER]);
    // Declaring the same as the token is fine.
    const again = await enter(teacherToken, TEACHER);
    assert.deepEqual(again.initial, [TEACHER]);
  });

  it('refuses a student who copies the teacher\'s {ID, role, name}', T, async () => {
    const teacher = await enter(teacherToken);
    const student = await enter(studentToken);
    // What initial-response shows everyone, presented with the student's token or none.
    const [copied] = student.initial.filter((u) => u.ID === 1);
    assert.deepEqual(copied, TEACHER);
    assert.equal((await refused(suite.roomd.url, { auth: { room: 'math', token: studentToken, ...copied } })).message,
      'ID, role and name come from the token');
    assert.equal((await refused(suite.roomd.url, { auth: { room: 'math', ...copied } })).message, REQUIRED);
    // The teacher's direct messages reach the teacher only, and the
    // student's broadcasts carry the student's ID.
    teacher.emit('message', { type: 'text', value: 'for me' }, 1);
    await next(teacher, 'message');
    student.emit('broadcast-message', { type: 'text', value: 'hi' });
    assert.equal((await next(teacher, 'message'))[0].data.from, 2);
    await sleep(QUIET_MS);
    assert.ok(!student.events.some((e) => e.event === 'message'));
  });

  it('refuses declaring oneself ADMIN or TEACHER', T, async () => {
    for (const role of ['ADMIN', 'TEACHER']) {
      assert.equal((await refused(suite.roomd.url, { auth: { room: 'math', token: studentToken, role } })).message,
        'ID, role and name come from the token');
      assert.equal((await refused(suite.roomd.url, { auth: { room: 'math', ID: 9, name: 'M', role } })).message, REQUIRED);
    }
    // Nor through the query.
    assert.equal((await refused(suite.roomd.url, { auth: { token: studentToken }, query: { room: 'math', role: 'ADMIN' } })).message,
      'ID, role and name come from the token');
  });

  it('refuses a class the token does not list, and tokens it cannot use', T, async () => {
    assert.equal((await refused(suite.roomd.url, { auth: { room: 'physics', token: studentToken } })).message,
      'the token does not allow this room');
    const named = mint({ userId: 'kiki', name: 'Kiki', role: 'STUDENT', rooms: ['*'] });
    assert.equal((await refused(suite.roomd.url, { auth: { room: 'math', token: named } })).message,
      'the token\'s userId must be a whole decimal number');
    const roleless = mint({ userId: '5', name: 'R', rooms: ['*'] });
    assert.equal((await refused(suite.roomd.url, { auth: { room: 'math', token: roleless } })).message,
      'role must be one of ADMIN, TEACHER, STUDENT');
    const any = await enter(mint({ userId: '6', name: 'Any', role: 'STUDENT', rooms: ['*'] }));
    assert.ok(any.initial.some((u) => u.ID === 6));
  });
});

describe('rooms with --auth-secret', { skip: !speaks('rooms') }, () => {
  const suite = roomdSuite(['--protocol', 'rooms', '--auth-secret', SECRET]);

  it('refuses a connection without a valid token, on "/" and "/admin"', T, async () => {
    assert.equal((await refused(suite.roomd.url)).message, REQUIRED);
    assert.equal((await refused(`${suite.roomd.url}/admin`)).message, REQUIRED);
    const s = suite.track(await connect(suite.roomd.url, { auth: { token: mint({ userId: 'a', rooms: ['*'] }) } }));
    assert.equal((await ack(s, 'join', { room: 'r' })).msg, 'Joined room');
  });
});

describe('without --auth-secret', { skip: !speaks('diffy') }, () => {
  it('says identities are self-declared, and takes userId from the auth payload', T, async () => {
    const roomd = await startRoomd(['--protocol', 'diffy']);
    try {
      assert.match(roomd.stderr(), /identities are self-declared/);
      const s = await connect(roomd.url, { auth: { userId: 'alice', name: 'Alice' } });
      try {
        assert.equal((await ack(s, 'join-pr-room', { pullRequestId: 1, username: 'bob' })).data.code, 'denied');
        s.emit('join-pr-room', { pullRequestId: 1, username: 'alice' });
        assert.deepEqual(await next(s, 'joined'), ['alice joined PR 1']);
      } finally {
        s.close();
      }
      assert.equal((await refused(roomd.url, { auth: { userId: 7 } })).message,
        'userId must be a non-empty string of at most 128 bytes');
    } finally {
      assert.deepEqual(await roomd.stop(), { code: 0, signal: null }, roomd.stderr());
    }
  });

  it('reads the secret from ROOMD_AUTH_SECRET', T, async () => {
    process.env.ROOMD_AUTH_SECRET = SECRET;
    let roomd;
    try {
      roomd = await startRoomd(['--protocol', 'diffy']);
    } finally {
      delete process.env.ROOMD_AUTH_SECRET;
    }
    try {
      assert.equal((await refused(roomd.url)).message, REQUIRED);
      const s = await connect(roomd.url, { auth: { token: mint({ userId: 'z', rooms: ['*'] }) } });
      s.close();
    } finally {
      assert.deepEqual(await roomd.stop(), { code: 0, signal: null }, roomd.stderr());
    }
  });
});
