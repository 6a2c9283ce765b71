// The demo page's other transport: the stock socket.io-client (vendored,
// vendor/README.md) behind the same small API as RoomClient (room-client.js),
// so that the page does not care which one it talks through. Socket.IO
// brings its own reconnection (with backoff and jitter) and, with roomd
// --recovery-ms, its own session recovery (socket.recovered); this adds
// acks as promises that reject on error answers, joining the rooms again
// when a reconnection was not a recovery, and the presence and typing
// trackers of room-client.js.
import { io } from './vendor/socket.io.esm.min.js';
import { RoomError, PresenceTracker, TypingTracker } from './room-client.js';

// Events the page listens to; each listener gets (data, meta) as with
// RoomClient. Socket.IO appends the offset as a last string argument when
// recovery is on: meta.offset.
const SERVER_EVENTS = ['message', 'member-joined', 'member-left', 'presence', 'presence-diff', 'typing', 'stop-typing', 'result', 'error'];

export class SioClient {
  constructor(url, options = {}) {
    this.options = options;
    this.ackTimeout = options.ackTimeout ?? 5000;
    this.listeners = new Map();
    this.joined = new Map();
    this.presence = new PresenceTracker();
    this.typing = new TypingTracker();
    this.everConnected = false;
    this.socket = io(url, {
      autoConnect: false,
      auth: { userId: options.userId, name: options.name },
      reconnectionDelay: 250,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
    });
    this.socket.on('connect', () => this.connected_());
    this.socket.on('disconnect', (reason) => this.emitLocal('disconnect', reason));
    this.socket.on('connect_error', (err) => this.emitLocal('connect_error', err));
    this.socket.io.on('reconnect_attempt', (attempt) => this.emitLocal('reconnecting', { attempt }));
    for (const event of SERVER_EVENTS) {
      this.socket.on(event, (...args) => {
        const offset = typeof args[args.length - 1] === 'string' && args.length > 1 ? args.pop() : undefined;
        const data = args[0];
        if (event === 'presence' || event === 'presence-diff') {
          const room = this.presence.apply(event, data);
          if (room !== null) this.emitLocal('members', room, this.presence.members(room));
        } else if (event === 'typing' || event === 'stop-typing') {
          const room = this.typing.apply(event, data);
          if (room !== null) this.emitLocal('typers', room, this.typing.typers(room));
        }
        this.emitLocal(event, data, { event, args, offset });
      });
    }
  }

  get id() {
    return this.socket.id;
  }

  get connected() {
    return this.socket.connected;
  }

  connected_() {
    const reconnected = this.everConnected;
    this.everConnected = true;
    const recovered = this.socket.recovered === true;
    if (reconnected && !recovered) {
      for (const [room, metadata] of this.joined) {
        if (this.presence.forget(room)) this.emitLocal('members', room, []);
        if (this.typing.forget(room)) this.emitLocal('typers', room, []);
        this.request('join', metadata === undefined ? { room } : { room, metadata }).catch((err) => {
          if (err.code !== 'already_member') this.joined.delete(room);
        });
      }
    }
    this.emitLocal('connect');
    if (reconnected) this.emitLocal('reconnect', { recovered });
  }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(fn);
    return this;
  }

  off(event, fn) {
    const list = this.listeners.get(event) || [];
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  emitLocal(event, ...args) {
    for (const fn of [...(this.listeners.get(event) || [])]) fn(...args);
  }

  connect() {
    return new Promise((resolve, reject) => {
      const ok = () => {
        this.socket.off('connect_error', bad);
        resolve(this);
      };
      const bad = (err) => {
        // Socket.IO keeps trying by itself; the first failure is reported.
        this.socket.off('connect', ok);
        reject(err);
      };
      this.socket.once('connect', ok);
      this.socket.once('connect_error', bad);
      this.socket.connect();
    });
  }

  close() {
    this.socket.close();
  }

  async request(event, payload) {
    let res;
    try {
      res = await this.socket.timeout(this.ackTimeout).emitWithAck(event, payload);
    } catch (err) {
      throw new RoomError(`no answer to ${event} within ${this.ackTimeout} ms`, 'timeout');
    }
    if (res && typeof res === 'object' && res.data && typeof res.data.code === 'string') {
      throw new RoomError(res.msg || res.data.code, res.data.code, res);
    }
    return res;
  }

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

  startTyping(room) {
    return this.request('typing', { room });
  }

  stopTyping(room) {
    return this.request('stop-typing', { room });
  }

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
