// A client for roomd's plain JSON protocol at /ws (docs/protocol-json.md,
// docs/protocol-rooms.md), as one ES module with no dependencies: browsers
// load it as it is, Node imports it too (pass `WebSocket` from the `ws`
// package where there is no global one, as in Node before 22).
//
//   import { RoomClient } from './room-client.js';
//   const c = new RoomClient('http://127.0.0.1:3000', { userId: 'alice', name: 'Alice' });
//   c.on('message', (m) => console.log(m.data.from, m.data.data));
//   await c.connect();
//   await c.join('lobby');
//   await c.send('lobby', { text: 'hi' });
//
// What it adds to a bare WebSocket:
// - reconnection with exponential backoff and jitter after any drop it did
//   not ask for; requests made meanwhile wait in a queue;
// - resumption: with roomd --recovery-ms, the server names the session in
//   its first message ({"event":"session"}) and stamps events with offsets;
//   the client comes back with ?pid=&offset= and gets its id, rooms and
//   missed events back. When the session could not be resumed (window
//   passed, or no recovery on the server) it joins its rooms again;
// - requests answered by acks, as promises with a timeout; an answer that
//   is an error ({"data": {"code": ...}}) rejects with a RoomError;
// - events: on/off/once, with (data, meta) for server events;
// - presence: each room's members kept from `presence` and `presence-diff`
//   (one entry per user, however many tabs), and who is typing, from
//   `typing` and `stop-typing`; 'members' and 'typers' events on change.

export class RoomError extends Error {
  // code: the server's data.code (not_member, forbidden, ...), or the
  // client's own: timeout, disconnected, closed.
  constructor(message, code, response = null) {
    super(message);
    this.name = 'RoomError';
    this.code = code;
    this.response = response;
  }
}

// The delay before reconnection attempt `attempt` (0 for the first):
// min * factor^attempt, capped at max, of which a `jitter` share is random
// (0.5: between half and all of it), so that clients cut off together do
// not all come back at the same moment.
export function backoffDelay(attempt, { min = 250, max = 10000, factor = 2, jitter = 0.5 } = {}, random = Math.random) {
  const base = Math.min(max, min * Math.pow(factor, attempt));
  return Math.round(base * (1 - jitter * random()));
}

// A small event emitter (the browser has EventTarget, but listeners with
// several arguments and once() read better this way, in both places).
class Emitter {
  constructor() {
    this.listeners = new Map();
  }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(fn);
    return this;
  }

  off(event, fn) {
    const list = this.listeners.get(event);
    if (!list) return this;
    if (fn === undefined) this.listeners.delete(event);
    else {
      const i = list.findIndex((l) => l === fn || l.original === fn);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    wrapper.original = fn;
    return this.on(event, wrapper);
  }

  emitLocal(event, ...args) {
    const list = this.listeners.get(event);
    if (!list) return false;
    // A copy: a listener may remove itself (once) or others.
    for (const fn of [...list]) fn(...args);
    return true;
  }
}

// Each room's members, as the rooms protocol's presence tells them
// (docs/protocol-rooms.md, "Presence"): feed it every `presence` and
// `presence-diff` event's data. Used by RoomClient, and by the demo page
// over socket.io-client too.
export class PresenceTracker {
  constructor() {
    this.rooms = new Map(); // room -> Map(user id -> entry)
  }

  // Applies one event; returns the room it changed, or null.
  apply(event, data) {
    if (!data || typeof data.room !== 'string') return null;
    if (event === 'presence') {
      // The wire entry holds what is set; the id is its key, the state {} when absent.
      this.rooms.set(data.room, new Map(Object.entries(data.members || {}).map(([id, e]) => [id, { id, state: {}, ...e }])));
      return data.room;
    }
    if (event === 'presence-diff') {
      let users = this.rooms.get(data.room);
      if (!users) this.rooms.set(data.room, (users = new Map()));
      // Leaves first, then joins: a state update is a join that replaces.
      for (const id of data.leaves || []) users.delete(id);
      for (const [id, entry] of Object.entries(data.joins || {})) users.set(id, { id, state: {}, ...entry });
      return data.room;
    }
    return null;
  }

  // The room's members, one entry per user ({id, name?, info?, state}),
  // sorted by name then id.
  members(room) {
    const users = this.rooms.get(room);
    if (!users) return [];
    const key = (e) => `${e.name ?? ''}\u0000${e.id}`;
    return [...users.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  }

  forget(room) {
    return this.rooms.delete(room);
  }
}

// Who is typing in each room, from `typing` / `stop-typing` ({room, id,
// name?}); the server sends stop-typing by itself after its idle time.
export class TypingTracker {
  constructor() {
    this.rooms = new Map(); // room -> Map(user id -> {id, name?})
  }

  apply(event, data) {
    if (!data || typeof data.room !== 'string' || typeof data.id !== 'string') return null;
    let users = this.rooms.get(data.room);
    if (event === 'typing') {
      if (!users) this.rooms.set(data.room, (users = new Map()));
      users.set(data.id, { id: data.id, ...(data.name !== undefined ? { name: data.name } : {}) });
      return data.room;
    }
    if (event === 'stop-typing') {
      if (!users || !users.delete(data.id)) return null;
      return data.room;
    }
    return null;
  }

  typers(room) {
    const users = this.rooms.get(room);
    return users ? [...users.values()] : [];
  }

  forget(room) {
    return this.rooms.delete(room);
  }
}

// Local events of the client itself; the server cannot send these
// (connect and disconnect are reserved server side).
const LOCAL = new Set(['connect', 'disconnect', 'reconnecting', 'reconnect', 'connect_error', 'session', 'members', 'typers']);

export class RoomClient extends Emitter {
  // url: the server (http://host:port, /ws is added) or the full ws(s) URL.
  // options:
  //   userId, name, token: the identity, as query parameters (docs/roomd.md)
  //   query: more query parameters (an object)
  //   WebSocket: the constructor (default: the global one)
  //   ackTimeout: ms a request waits for its answer (5000)
  //   connectTimeout: ms an attempt may take to open (5000)
  //   reconnect: false, or {min, max, factor, jitter, attempts} (backoffDelay;
  //     attempts: give up after that many failed attempts in a row, default
  //     Infinity)
  //   random: the random source of the jitter (Math.random)
  constructor(url, options = {}) {
    super();
    this.url = RoomClient.endpoint(url);
    this.options = options;
    this.WebSocket = options.WebSocket || globalThis.WebSocket;
    if (typeof this.WebSocket !== 'function') {
      throw new TypeError('no WebSocket: pass options.WebSocket (e.g. the "ws" package in Node < 22)');
    }
    this.ackTimeout = options.ackTimeout ?? 5000;
    this.connectTimeout = options.connectTimeout ?? 5000;
    this.reconnectOptions = options.reconnect === false ? null : { attempts: Infinity, ...(options.reconnect || {}) };
    this.random = options.random || Math.random;
    this.ws = null;
    this.state = 'idle'; // idle, connecting, open, reconnecting, closed
    this.id = null; // the connection id others see as `from` (with recovery)
    this.pid = null; // the private id to resume with
    this.offset = null; // the last offset seen (a decimal string)
    this.recovered = false;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map(); // ack id -> {resolve, reject, timer}
    this.queue = []; // messages waiting for a connection
    this.joined = new Map(); // room -> join metadata, to join again
    this.presence = new PresenceTracker();
    this.typing = new TypingTracker();
    this.connectWaiters = [];
    this.timer = null;
    this.awaitingSession = false;
  }

  // http://h:p -> ws://h:p/ws; a ws(s) URL or one with a path is kept.
  static endpoint(url) {
    const u = new URL(url);
    if (u.protocol === 'http:') u.protocol = 'ws:';
    else if (u.protocol === 'https:') u.protocol = 'wss:';
    if (u.pathname === '/' || u.pathname === '') u.pathname = '/ws';
    return u.toString();
  }

  get connected() {
    return this.state === 'open';
  }

  // Connects (and stays connected until close()). Resolves at the first
  // connection; rejects when the first attempt fails and reconnection is
  // off, or when close() comes first.
  connect() {
    if (this.state === 'open') return Promise.resolve(this);
    const p = new Promise((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (this.state === 'idle' || this.state === 'closed') {
      this.state = 'connecting';
      this.open();
    }
    return p;
  }

  // Closes for good: no reconnection; pending requests reject with 'closed'.
  close() {
    const was = this.state;
    this.state = 'closed';
    clearTimeout(this.timer);
    this.timer = null;
    this.failPending('closed', 'the client was closed');
    for (const m of this.queue) m.reject?.(new RoomError('the client was closed', 'closed'));
    this.queue = [];
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    waiters.forEach((w) => w.reject(new RoomError('the client was closed', 'closed')));
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      this.detach(ws);
      try {
        ws.close(1000);
      } catch {
        // not open yet: nothing to close politely
      }
      if (was === 'open') this.emitLocal('disconnect', 'client close');
    }
  }

  wsUrl() {
    const u = new URL(this.url);
    const o = this.options;
    for (const [k, v] of Object.entries({ userId: o.userId, name: o.name, token: o.token, ...(o.query || {}) })) {
      if (v !== undefined && v !== null) u.searchParams.set(k, String(v));
    }
    if (this.pid) {
      u.searchParams.set('pid', this.pid);
      u.searchParams.set('offset', this.offset ?? '0');
    }
    return u.toString();
  }

  open() {
    let ws;
    try {
      ws = new this.WebSocket(this.wsUrl());
    } catch (err) {
      this.failed(err);
      return;
    }
    this.ws = ws;
    // Resuming: the first message says whether it worked (the session
    // message); otherwise the connection is ready when it opens.
    this.awaitingSession = this.pid !== null;
    const timer = setTimeout(() => {
      if (this.ws !== ws) return;
      if (this.awaitingSession && ws.readyState === 1) {
        // Open, but no session message: the server resumes no sessions
        // (restarted without recovery). Go on as a new connection.
        this.awaitingSession = false;
        this.pid = null;
        this.ready(false);
        return;
      }
      this.ws = null;
      this.detach(ws);
      try {
        ws.close();
      } catch {
        // never opened
      }
      this.failed(new Error(`no connection within ${this.connectTimeout} ms`));
    }, this.connectTimeout);
    ws.onopen = () => {
      if (!this.awaitingSession) {
        clearTimeout(timer);
        this.ready(false);
      }
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.receive(ev.data, timer);
    };
    ws.onerror = () => {}; // onclose follows, with what there is to know
    ws.onclose = (ev) => {
      clearTimeout(timer);
      if (this.ws !== ws) return;
      this.ws = null;
      const wasOpen = this.state === 'open';
      // Requests sent on it lose their answer; those still queued wait on.
      this.failPending('disconnected', 'the connection was lost before the answer', ws);
      if (wasOpen) {
        this.state = 'reconnecting';
        this.emitLocal('disconnect', ev.reason || `closed (${ev.code})`, ev.code);
        this.scheduleReconnect();
      } else {
        this.failed(new Error(`closed (${ev.code}) before it was ready${ev.reason ? `: ${ev.reason}` : ''}`));
      }
    };
  }

  detach(ws) {
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
  }

  // One attempt failed (never got ready).
  failed(err) {
    if (this.state === 'closed') return;
    this.emitLocal('connect_error', err);
    if (!this.reconnectOptions || this.attempt + 1 >= this.reconnectOptions.attempts) {
      this.state = 'closed';
      const waiters = this.connectWaiters;
      this.connectWaiters = [];
      waiters.forEach((w) => w.reject(err));
      this.failPending('closed', 'gave up connecting');
      for (const m of this.queue) m.reject?.(new RoomError('gave up connecting', 'closed'));
      this.queue = [];
      return;
    }
    this.attempt++;
    this.state = 'reconnecting';
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    if (!this.reconnectOptions) {
      this.state = 'closed';
      return;
    }
    const delay = backoffDelay(this.attempt, this.reconnectOptions, this.random);
    this.emitLocal('reconnecting', { attempt: this.attempt + 1, delay });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state === 'reconnecting') this.open();
    }, delay);
  }

  // The connection is usable: recovered says whether the server resumed
  // the session (rooms and missed events back).
  ready(recovered) {
    const reconnected = this.state === 'reconnecting';
    this.state = 'open';
    this.attempt = 0;
    this.recovered = recovered;
    const rejoin = reconnected && !recovered ? [...this.joined] : [];
    if (reconnected && !recovered) {
      // A new connection: its rooms and what it knew of them are gone.
      for (const [room] of rejoin) {
        if (this.presence.forget(room)) this.emitLocal('members', room, []);
        if (this.typing.forget(room)) this.emitLocal('typers', room, []);
      }
    }
    // Rooms first, then what waited, in the order it was asked.
    for (const [room, metadata] of rejoin) {
      this.request('join', metadata === undefined ? { room } : { room, metadata }).catch((err) => {
        if (err.code !== 'already_member') {
          this.joined.delete(room);
          this.emitLocal('connect_error', err);
        }
      });
    }
    const queued = this.queue;
    this.queue = [];
    queued.forEach((m) => this.write(m));
    const waiters = this.connectWaiters;
    this.connectWaiters = [];
    waiters.forEach((w) => w.resolve(this));
    this.emitLocal('connect');
    if (reconnected) this.emitLocal('reconnect', { recovered });
  }

  receive(text, timer) {
    let msg;
    try {
      msg = JSON.parse(typeof text === 'string' ? text : String(text));
    } catch {
      return; // the server writes JSON: nothing else is ours to read
    }
    if (msg === null || typeof msg !== 'object') return;
    if (msg.event === 'session' && msg.data && typeof msg.data.pid === 'string') {
      this.id = msg.data.id;
      this.pid = msg.data.pid;
      this.offset = msg.data.offset;
      this.emitLocal('session', msg.data);
      if (this.awaitingSession) {
        this.awaitingSession = false;
        clearTimeout(timer);
        this.ready(msg.data.recovered === true);
      }
      return;
    }
    if (this.awaitingSession) {
      // A server without recovery says nothing first: ready all the same.
      this.awaitingSession = false;
      clearTimeout(timer);
      this.pid = null;
      this.ready(false);
    }
    if (typeof msg.offset === 'string') this.offset = msg.offset;
    if ('ack' in msg) {
      const p = this.pending.get(msg.ack);
      if (!p) return; // answered after its timeout
      this.pending.delete(msg.ack);
      clearTimeout(p.timer);
      const body = msg.data;
      if (body && typeof body === 'object' && body.data && typeof body.data === 'object' && typeof body.data.code === 'string') {
        p.reject(new RoomError(body.msg || body.data.code, body.data.code, body));
      } else {
        p.resolve(msg.args ? msg.args : body);
      }
      return;
    }
    if (typeof msg.event !== 'string' || LOCAL.has(msg.event)) return;
    this.track(msg.event, msg.data);
    const meta = { event: msg.event, args: msg.args || ('data' in msg ? [msg.data] : []), offset: msg.offset };
    if (typeof msg.id === 'number') {
      // The server asks for an answer (room_emit_ack): meta.reply(...args).
      let replied = false;
      meta.reply = (...args) => {
        if (replied) return;
        replied = true;
        this.write({ ack: msg.id, ...(args.length === 1 ? { data: args[0] } : args.length > 1 ? { args } : {}) });
      };
    }
    this.emitLocal(msg.event, msg.data, meta);
  }

  // Keeps presence and typing up to date before the listeners run.
  track(event, data) {
    if (event === 'presence' || event === 'presence-diff') {
      const room = this.presence.apply(event, data);
      if (room !== null) this.emitLocal('members', room, this.presence.members(room));
    } else if (event === 'typing' || event === 'stop-typing') {
      const room = this.typing.apply(event, data);
      if (room !== null) this.emitLocal('typers', room, this.typing.typers(room));
    }
  }

  // Rejects the requests waiting for an answer: all of them, or those
  // sent on the WebSocket `sentOn`.
  failPending(code, text, sentOn = null) {
    for (const [id, p] of this.pending) {
      if (sentOn && p.sentOn !== sentOn) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new RoomError(text, code));
    }
  }

  write(m) {
    if (this.state !== 'open' || !this.ws) {
      this.queue.push(m);
      return;
    }
    const { reject, ...wire } = m;
    if (reject) {
      const p = this.pending.get(wire.id);
      if (!p) return; // timed out while queued
      p.sentOn = this.ws;
    }
    this.ws.send(JSON.stringify(wire));
  }

  static body(event, args) {
    const m = { event };
    if (args.length === 1) m.data = args[0];
    else if (args.length > 1) m.args = args;
    return m;
  }

  // Sends an event and asks nothing back (the server answers with a
  // `result` or `error` event).
  emit(event, ...args) {
    if (this.state === 'closed') throw new RoomError('the client was closed', 'closed');
    this.write(RoomClient.body(event, args));
    return this;
  }

  // Sends an event and resolves with its answer (the SocketResponse, or
  // the array of arguments when there were several); rejects with a
  // RoomError: the server's code, or 'timeout' after `ackTimeout` ms
  // (waiting for a connection included), or 'disconnected' when the
  // connection dropped first (the request may or may not have run).
  request(event, ...args) {
    return this.requestWithTimeout(this.ackTimeout, event, ...args);
  }

  requestWithTimeout(ms, event, ...args) {
    if (this.state === 'closed') return Promise.reject(new RoomError('the client was closed', 'closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RoomError(`no answer to ${event} within ${ms} ms`, 'timeout'));
      }, ms);
      this.pending.set(id, { resolve, reject, timer, sentOn: null });
      this.write({ ...RoomClient.body(event, args), id, reject });
    });
  }

  // The rooms protocol. join() remembers the room, to join it again
  // after a reconnection that could not resume the session.
  async join(room, metadata) {
    const res = await this.request('join', metadata === undefined ? { room } : { room, metadata });
    this.joined.set(room, metadata);
    return res;
  }

  async leave(room) {
    this.joined.delete(room);
    try {
      return await this.request('leave', { room });
    } finally {
      if (this.presence.forget(room)) this.emitLocal('members', room, []);
      if (this.typing.forget(room)) this.emitLocal('typers', room, []);
    }
  }

  send(room, data) {
    return this.request('send', { room, data });
  }

  direct(to, data) {
    return this.request('direct', { to, data });
  }

  updatePresence(room, presence) {
    return this.request('update-presence', { room, presence });
  }

  startTyping(room) {
    return this.request('typing', { room });
  }

  stopTyping(room) {
    return this.request('stop-typing', { room });
  }

  // The messages of `room` after `since` ({offset, epoch}; omitted: all
  // that are kept), replayed as `message` events before the answer.
  history(room, since) {
    return this.request('history', since ? { room, since } : { room });
  }

  members(room) {
    return this.presence.members(room);
  }

  typers(room) {
    return this.typing.typers(room);
  }
}
