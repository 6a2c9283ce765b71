// The demo page (index.html): a chat over roomd's rooms protocol with
// presence, typing and history, through the stock socket.io-client or
// room-client.js on /ws, switchable at any time. Plain DOM, no framework.
//
// Who you are lives in localStorage (one user id per browser profile, so
// every tab of it is the same member); which rooms this tab is in lives in
// sessionStorage (a reload joins them again and asks for their history).
// Query parameters, for links and tests: name, transport (sio or ws),
// room (joined at start), server (another roomd than this page's origin).
import { RoomClient } from './room-client.js';
import { SioClient } from './sio-client.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const server = params.get('server') || location.origin;

function randomId() {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return 'u-' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const store = {
  get userId() {
    let id = localStorage.getItem('libroom.userId');
    if (!id) localStorage.setItem('libroom.userId', (id = randomId()));
    return id;
  },
  get name() {
    return localStorage.getItem('libroom.name') || `Guest ${this.userId.slice(2, 6)}`;
  },
  set name(v) {
    localStorage.setItem('libroom.name', v);
  },
  get transport() {
    return localStorage.getItem('libroom.transport') === 'ws' ? 'ws' : 'sio';
  },
  set transport(v) {
    localStorage.setItem('libroom.transport', v);
  },
  get rooms() {
    try {
      const r = JSON.parse(sessionStorage.getItem('libroom.rooms') || '[]');
      return Array.isArray(r) ? r.filter((x) => typeof x === 'string') : [];
    } catch {
      return [];
    }
  },
  set rooms(list) {
    sessionStorage.setItem('libroom.rooms', JSON.stringify(list));
  },
  get current() {
    return sessionStorage.getItem('libroom.current');
  },
  set current(room) {
    if (room === null) sessionStorage.removeItem('libroom.current');
    else sessionStorage.setItem('libroom.current', room);
  },
};

if (params.get('name')) store.name = params.get('name');
if (params.get('transport') === 'ws' || params.get('transport') === 'sio') store.transport = params.get('transport');

// Per room: its messages (deduplicated by their place in the room's
// history when the server keeps one), unread count, last known position.
const rooms = new Map();
function roomState(room) {
  // position: where the room's history stands for this page, trusted only
  // while `synced` (from a history answer on, until the connection drops).
  if (!rooms.has(room)) rooms.set(room, { messages: [], seen: new Set(), unread: 0, position: null, synced: false });
  return rooms.get(room);
}

let client = null;
let current = null;
let note = null; // the current room's SharedNote (note.js), when it loads
let historyNote = '';
let typingSent = 0; // when this tab last told the server it types (ms)
const TYPING_EVERY_MS = 2000;

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function makeClient() {
  const opts = { userId: store.userId, name: store.name, ackTimeout: 5000 };
  if (store.transport === 'ws') return new RoomClient(server, { ...opts, reconnect: { min: 250, max: 5000 } });
  return new SioClient(server, opts);
}

function wire(c) {
  c.on('connect', () => setStatus('connected', `connected (${store.transport === 'ws' ? '/ws' : 'Socket.IO'})`));
  c.on('disconnect', () => {
    setStatus('disconnected', 'disconnected, reconnecting…');
    for (const r of rooms.values()) r.synced = false;
  });
  c.on('reconnecting', ({ attempt }) => setStatus('reconnecting', `reconnecting (attempt ${attempt})…`));
  c.on('reconnect', ({ recovered }) => {
    // A recovered session got what it missed; a new one asks the history.
    for (const room of store.rooms) {
      if (recovered) roomState(room).synced = true;
      else loadHistory(room);
    }
  });
  c.on('message', (m) => onMessage(m && m.data));
  c.on('members', (room) => {
    if (room === current) renderMembers();
  });
  c.on('typers', (room) => {
    if (room === current) renderTyping();
  });
}

function onMessage(d) {
  if (!d || typeof d.room !== 'string') return; // direct messages: not shown here
  const r = roomState(d.room);
  if (typeof d.offset === 'number' && typeof d.epoch === 'string') {
    const key = `${d.epoch}:${d.offset}`;
    if (r.seen.has(key)) return;
    r.seen.add(key);
    if (r.synced && (!r.position || r.position.epoch !== d.epoch || r.position.offset < d.offset)) r.position = { offset: d.offset, epoch: d.epoch };
  }
  const body = d.data && typeof d.data === 'object' ? d.data : { text: String(d.data) };
  const m = { from: d.from, name: d.name || d.from, text: String(body.text ?? ''), at: body.at, offset: d.offset };
  // History replayed after a live message that came first goes before it.
  let i = r.messages.length;
  if (typeof m.offset === 'number') while (i > 0 && typeof r.messages[i - 1].offset === 'number' && r.messages[i - 1].offset > m.offset) i--;
  r.messages.splice(i, 0, m);
  if (d.room === current) {
    if (i === r.messages.length - 1) appendMessage(m);
    else renderMessages();
  } else if (!r.loading) {
    // (What a history answer brings back is not news.)
    r.unread++;
    renderRooms();
  }
}

// Asks the room's history after the last message this page has (all kept
// messages after a reload); they come as `message` events first.
async function loadHistory(room) {
  const r = roomState(room);
  r.synced = false;
  r.loading = true;
  try {
    const res = await client.history(room, r.position || undefined);
    // The answer says where the room stands: {room, offset, epoch, count}.
    const now = res && res.data;
    if (now && typeof now.offset === 'number' && (!r.position || r.position.epoch !== now.epoch || r.position.offset < now.offset)) {
      r.position = { offset: now.offset, epoch: now.epoch };
    }
    r.synced = true;
    historyNote = '';
  } catch (err) {
    if (err.code === 'too_old' || err.code === 'wrong_epoch') {
      // A gap the server cannot fill (or a server restarted without its
      // store): start over from what it still has.
      r.position = null;
      r.seen.clear();
      r.messages = [];
      if (room === current) renderMessages();
      // Without `since` the answer is all that is kept: it cannot be too old.
      return await loadHistory(room);
    } else if (err.code === 'unknown_event' || err.code === 'not_found') {
      historyNote = `No history is kept for ${room}: messages from before you joined are not shown.`;
    }
  } finally {
    r.loading = false;
  }
  renderFooter();
}

async function joinRoom(room, { select = true } = {}) {
  try {
    await client.join(room);
  } catch (err) {
    if (err.code !== 'already_member') {
      alert(`Could not join ${room}: ${err.message}`);
      return;
    }
  }
  if (!store.rooms.includes(room)) store.rooms = [...store.rooms, room];
  roomState(room);
  if (select) selectRoom(room);
  else renderRooms();
  await loadHistory(room);
}

async function leaveRoom(room) {
  stopTyping();
  store.rooms = store.rooms.filter((r) => r !== room);
  rooms.delete(room);
  if (current === room) selectRoom(store.rooms[0] ?? null);
  else renderRooms();
  await client.leave(room).catch(() => {});
}

function selectRoom(room) {
  stopTyping();
  current = room;
  store.current = room;
  if (room) roomState(room).unread = 0;
  renderRooms();
  renderMessages();
  renderMembers();
  renderTyping();
  openNote(room);
}

// The room's shared Yjs note, through roomd's y-websocket mount. Yjs loads
// on first use; without it (or without the mount) the chat goes on.
async function openNote(room) {
  if (note && note.room === room) return;
  if (note) note.destroy();
  note = null;
  if (!room) return;
  const status = $('note-status');
  try {
    const { SharedNote } = await import('./note.js');
    if (room !== current || (note && note.room === room)) return; // moved on meanwhile
    note = new SharedNote(server, room, $('note'), { userId: store.userId, name: store.name }, ({ status: s, synced, editors }) => {
      status.dataset.state = synced && s === 'connected' ? 'synced' : s;
      status.textContent =
        s !== 'connected' ? `note: ${s}…` : synced ? `Editing now: ${editors.join(', ') || 'nobody'}` : 'note: loading…';
    });
    note.room = room;
  } catch (err) {
    status.dataset.state = 'off';
    status.textContent = `No shared note: ${err.message}`;
  }
}

function renderRooms() {
  const ul = $('rooms');
  ul.replaceChildren(
    ...store.rooms.map((room) => {
      const li = document.createElement('li');
      li.dataset.room = room;
      if (room === current) li.className = 'current';
      const open = document.createElement('button');
      open.className = 'room';
      open.textContent = room;
      const unread = roomState(room).unread;
      if (unread) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = String(unread);
        open.append(' ', badge);
      }
      open.onclick = () => selectRoom(room);
      const leave = document.createElement('button');
      leave.className = 'leave';
      leave.title = `Leave ${room}`;
      leave.textContent = 'Leave';
      leave.onclick = () => leaveRoom(room);
      li.append(open, leave);
      return li;
    }),
  );
  $('chat').hidden = $('people').hidden = !current;
  $('empty').hidden = !!current;
  $('room-title').textContent = current ? `# ${current}` : '';
}

function messageItem(m) {
  const li = document.createElement('li');
  if (m.offset !== undefined) li.dataset.offset = String(m.offset);
  if (m.from === store.userId) li.className = 'mine';
  const who = document.createElement('strong');
  who.textContent = m.name;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text;
  li.append(who, ' ', text);
  if (typeof m.at === 'number') {
    const time = document.createElement('time');
    time.dateTime = new Date(m.at).toISOString();
    time.textContent = new Date(m.at).toLocaleTimeString();
    li.append(' ', time);
  }
  return li;
}

function appendMessage(m) {
  const ol = $('messages');
  ol.append(messageItem(m));
  ol.scrollTop = ol.scrollHeight;
}

function renderMessages() {
  const ol = $('messages');
  ol.replaceChildren(...(current ? roomState(current).messages.map(messageItem) : []));
  ol.scrollTop = ol.scrollHeight;
}

function renderMembers() {
  const list = current ? client.members(current) : [];
  $('member-count').textContent = current ? `(${list.length})` : '';
  $('members').replaceChildren(
    ...list.map((e) => {
      const li = document.createElement('li');
      li.dataset.user = e.id;
      li.textContent = e.name || e.id;
      if (e.id === store.userId) {
        const you = document.createElement('span');
        you.className = 'muted';
        you.textContent = ' (you)';
        li.append(you);
      }
      return li;
    }),
  );
}

function renderTyping() {
  const names = current ? client.typers(current).map((t) => t.name || t.id) : [];
  $('typing').textContent =
    names.length === 0 ? '' : names.length === 1 ? `${names[0]} is typing…` : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} are typing…`;
}

function renderFooter() {
  $('footer').textContent = `${historyNote} Server ${server}.`.trim();
}

function stopTyping() {
  if (typingSent && current && client) client.stopTyping(current).catch(() => {});
  typingSent = 0;
}

async function start() {
  client = makeClient();
  wire(client);
  setStatus('connecting', 'connecting…');
  try {
    await client.connect();
  } catch (err) {
    setStatus('disconnected', `cannot connect: ${err.message}`);
    // Both clients keep trying by themselves; the rooms are joined once back.
    await new Promise((resolve) => client.on('connect', resolve));
  }
  const wanted = params.get('room');
  if (wanted && !store.rooms.includes(wanted)) store.rooms = [...store.rooms, wanted];
  const tabRooms = store.rooms;
  const keep = store.current;
  for (const room of tabRooms) await joinRoom(room, { select: false });
  selectRoom(tabRooms.includes(keep) ? keep : wanted || tabRooms[0] || null);
}

async function switchTransport(to) {
  if (to === store.transport) return;
  stopTyping();
  store.transport = to;
  const u = new URL(location.href);
  u.searchParams.set('transport', to);
  history.replaceState(null, '', u);
  client.close();
  // The server keeps Socket.IO's rooms and /ws's apart (a hub each): what
  // this page showed belongs to the other one.
  rooms.clear();
  await start();
}

$('name').value = store.name;
$('user-id').textContent = store.userId;
for (const input of document.querySelectorAll('input[name=transport]')) {
  input.checked = input.value === store.transport;
  input.onchange = () => switchTransport(input.value);
}
$('identity').onsubmit = async (e) => {
  e.preventDefault();
  const name = $('name').value.trim();
  if (!name || name === store.name) return;
  // The name is part of the identity the connection presents: reconnect.
  store.name = name;
  stopTyping();
  client.close();
  // The note's editors show the name too.
  if (note) note.destroy();
  note = null;
  await start();
};
$('join').onsubmit = (e) => {
  e.preventDefault();
  const room = $('room-name').value.trim();
  if (room) joinRoom(room);
  $('room-name').value = '';
};
$('composer').onsubmit = async (e) => {
  e.preventDefault();
  const text = $('text').value.trim();
  if (!text || !current) return;
  $('text').value = '';
  stopTyping();
  try {
    await client.send(current, { text, at: Date.now() });
  } catch (err) {
    $('text').value = text;
    alert(`Not sent: ${err.message}`);
  }
};
$('text').oninput = () => {
  if (!current) return;
  if (!$('text').value) {
    stopTyping();
    return;
  }
  // The server keeps the user typing for its idle time after the last
  // `typing`: one every couple of seconds is enough.
  const now = Date.now();
  if (now - typingSent >= TYPING_EVERY_MS) {
    typingSent = now;
    client.startTyping(current).catch(() => {});
  }
};
renderFooter();
start();
