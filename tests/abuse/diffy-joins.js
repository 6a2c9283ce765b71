'use strict';
// node diffy-joins.js PORT [N]: N clients (default 1000) connect to
// `roomd --protocol diffy` at /ws, then all join pull request 1 at once.
// Prints the bytes roomd sent them (WebSocket frames and the 101
// responses, as received) and how many messages, once none has come for
// a second (at most 120 s). Used for the figures in docs/robustness.md.
const { RawWs } = require('./raw');

const port = Number(process.argv[2]);
const n = Number(process.argv[3] ?? 1000);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

(async () => {
  const clients = [];
  for (let i = 0; i < n; i++) {
    clients.push(new RawWs(port, '/ws'));
    if (i % 100 === 99) await Promise.all(clients.slice(-100).map((c) => c.status));
  }
  await Promise.all(clients.map((c) => c.status));
  const handshake = clients.reduce((s, c) => s + c.bytes, 0);
  const start = Date.now();
  clients.forEach((c, i) =>
    c.sendText(JSON.stringify({ event: 'join-pr-room', data: { pullRequestId: 1, username: `user${i}` } })),
  );
  let last = -1;
  let total = 0;
  while (Date.now() - start < 120000) {
    await sleep(1000);
    total = clients.reduce((s, c) => s + c.bytes, 0);
    if (total === last) break;
    last = total;
  }
  const messages = clients.reduce((s, c) => s + c.messages, 0);
  const closed = clients.filter((c) => c.closeCode !== undefined || c.ended).length;
  console.log(
    JSON.stringify({ clients: n, bytes: total - handshake, messages, closed, seconds: (Date.now() - start) / 1000 }),
  );
  clients.forEach((c) => c.destroy());
})();
