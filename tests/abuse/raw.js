'use strict';
// A WebSocket client on a bare TCP socket, for the abuse tests: it can
// send what no library would (bad frames, trickled requests) and counts
// every byte it receives. Server frames are parsed just enough to count
// messages, find text by prefix and read the close code.
const net = require('node:net');
const crypto = require('node:crypto');

const HEAD_MAX = 16384;

function request(path) {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`
  );
}

// A client frame (masked, as RFC 6455 requires). `len` forces the length
// form: 'min' (default), 16 or 64, to write non-minimal lengths.
function frame(opcode, payload, { fin = true, len = 'min', mask = true, rsv = 0 } = {}) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const n = data.length;
  let head;
  if (len === 64 || (len === 'min' && n > 65535)) {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  } else if (len === 16 || (len === 'min' && n > 125)) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else {
    head = Buffer.alloc(2);
    head[1] = n;
  }
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (!mask) return Buffer.concat([head, data]);
  head[1] |= 0x80;
  const key = crypto.randomBytes(4);
  const body = Buffer.from(data);
  for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([head, key, body]);
}

class RawWs {
  // Connects and sends `head` (default: a valid upgrade for `path`).
  // `status` resolves with the HTTP status line's code, or null if the
  // connection ended first.
  // With `keep`, every message is kept for text() to find.
  constructor(port, path, { head, keep = false } = {}) {
    this.sock = net.connect(port, '127.0.0.1');
    this.bytes = 0; // every byte received, response head included
    this.messages = 0; // complete text and binary messages
    this.wanted = []; // [prefix, resolve]
    this.closeCode = undefined; // null: a close frame without a code
    this.ended = false;
    this.buf = Buffer.alloc(0);
    this.upgraded = false;
    this.keep = keep ? [] : null; // the messages text() has not taken
    this.status = new Promise((resolve) => {
      this.onStatus = resolve;
    });
    this.end = new Promise((resolve) => {
      this.sock.on('close', () => {
        this.ended = true;
        this.onStatus(null);
        resolve(this.closeCode);
      });
    });
    this.sock.on('error', () => {});
    this.sock.on('data', (chunk) => this.data(chunk));
    if (head !== null) this.sock.write(head ?? request(path));
  }

  data(chunk) {
    this.bytes += chunk.length;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.buf.length > HEAD_MAX) this.sock.destroy();
        return;
      }
      const line = this.buf.subarray(0, this.buf.indexOf('\r\n')).toString();
      this.statusLine = line;
      this.onStatus(Number(/^HTTP\/1\.1 (\d{3})/.exec(line)?.[1] ?? 0));
      this.upgraded = line.startsWith('HTTP/1.1 101');
      this.buf = this.buf.subarray(end + 4);
      if (!this.upgraded) return;
    }
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      const opcode = b[0] & 0x0f;
      const payload = b.subarray(off, off + len);
      this.buf = b.subarray(off + len);
      if (opcode === 8) {
        this.closeCode = len >= 2 ? payload.readUInt16BE(0) : null;
        this.closeReason = payload.subarray(2).toString();
      } else if (opcode === 9) {
        this.send(frame(10, payload));
      } else if (opcode !== 10) {
        this.messages++;
        if (opcode === 1 && this.wanted.length && this.match(payload.toString())) continue;
        if (this.keep) this.keep.push(payload.toString());
      }
    }
  }

  // Hands `text` to the first waiter it matches; whether there was one.
  match(text) {
    const i = this.wanted.findIndex(([prefix]) => text.startsWith(prefix));
    if (i < 0) return false;
    this.wanted.splice(i, 1)[0][1](text);
    return true;
  }

  // The next text message that starts with `prefix` (with `keep`, the
  // first one kept).
  text(prefix) {
    const i = this.keep ? this.keep.findIndex((t) => t.startsWith(prefix)) : -1;
    if (i >= 0) return Promise.resolve(this.keep.splice(i, 1)[0]);
    return new Promise((resolve) => this.wanted.push([prefix, resolve]));
  }

  send(bytes) {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  sendText(text) {
    this.send(frame(1, text));
  }

  destroy() {
    this.sock.destroy();
  }

  // An RST instead of a FIN.
  reset() {
    this.sock.resetAndDestroy();
  }
}

module.exports = { RawWs, frame, request };
