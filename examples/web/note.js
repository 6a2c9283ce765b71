// The room's shared note: a Y.Text (the stock yjs, vendored) synced through
// roomd's y-websocket mount at /yjs/<room> (the stock y-websocket provider),
// which keeps the document in the room's storage: it is there for whoever
// comes later, and after a reload. Loaded by app.js only when the page
// shows a room, so the chat works without it.
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';

export class SharedNote {
  // server: the http(s) origin of roomd; textarea: the element to bind;
  // onChange({status, synced, editors}) after any change of those.
  constructor(server, room, textarea, { userId, name }, onChange) {
    this.textarea = textarea;
    this.onChange = onChange;
    this.status = 'connecting';
    this.synced = false;
    this.doc = new Y.Doc();
    this.text = this.doc.getText('note');
    const base = new URL('/yjs', server);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    // disableBc: tabs of one browser sync through the server too, as
    // everyone else does (the demo shows roomd doing it).
    this.provider = new WebsocketProvider(base.toString(), encodeURIComponent(room), this.doc, {
      params: { userId, name },
      disableBc: true,
    });
    this.provider.awareness.setLocalStateField('user', { id: userId, name });
    this.provider.on('status', ({ status }) => {
      this.status = status;
      this.changed();
    });
    this.provider.on('sync', (synced) => {
      this.synced = synced;
      if (synced) {
        this.textarea.value = this.text.toString();
        this.textarea.disabled = false;
      }
      this.changed();
    });
    this.provider.awareness.on('change', () => this.changed());

    // Remote edits: apply them to the textarea, moving the caret with them.
    this.text.observe((event) => {
      if (event.transaction.local) return;
      const ta = this.textarea;
      let start = ta.selectionStart;
      let end = ta.selectionEnd;
      let at = 0;
      for (const op of event.delta) {
        if (op.retain) at += op.retain;
        else if (op.insert) {
          const n = op.insert.length;
          if (at < start) start += n;
          if (at < end) end += n;
          at += n;
        } else if (op.delete) {
          if (at < start) start -= Math.min(op.delete, start - at);
          if (at < end) end -= Math.min(op.delete, end - at);
        }
      }
      ta.value = this.text.toString();
      if (document.activeElement === ta) ta.setSelectionRange(start, end);
    });
    // Local edits: the difference from the document, as one change.
    this.onInput = () => {
      const before = this.text.toString();
      const after = this.textarea.value;
      let head = 0;
      while (head < before.length && head < after.length && before[head] === after[head]) head++;
      let tail = 0;
      while (tail < before.length - head && tail < after.length - head && before[before.length - 1 - tail] === after[after.length - 1 - tail]) tail++;
      this.doc.transact(() => {
        if (before.length - head - tail > 0) this.text.delete(head, before.length - head - tail);
        if (after.length - head - tail > 0) this.text.insert(head, after.slice(head, after.length - tail));
      });
    };
    textarea.addEventListener('input', this.onInput);
    textarea.value = '';
    // Editable once it has the document: nothing typed is lost meanwhile.
    textarea.disabled = true;
  }

  // Who has the note open now (one entry per user), by name.
  editors() {
    const users = new Map();
    for (const state of this.provider.awareness.getStates().values()) {
      if (state.user && state.user.id) users.set(state.user.id, state.user.name || state.user.id);
    }
    return [...users.values()].sort();
  }

  changed() {
    this.onChange({ status: this.status, synced: this.synced, editors: this.editors() });
  }

  destroy() {
    this.textarea.removeEventListener('input', this.onInput);
    this.provider.destroy();
    this.doc.destroy();
  }
}
