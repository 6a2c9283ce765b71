/* History and storage (docs/history.md) through a real hub with the rooms
 * protocol and a memory store: a script of up to four connections (fuzz.h:
 * "<op><slot><arg>\n").
 *
 *   o  open                        m  message (arg: the bytes: join, send,
 *   j  join "doc"                     history requests with any `since`)
 *   u  append an update to "doc" (a big one when the arg starts with '*')
 *                                  s  sync: begin, or send arg bytes more
 *   k  compaction begin (the slot, or any when the arg starts with '*')
 *   a  the compactor answers with its state
 *   x  compaction abort            l  leave "doc"      c  close
 *   t  tick (arg: ms on)           f  toggle store write failures
 *   r  restart: everything closed, the hub freed and made again on the
 *      same store (only while writes succeed)
 *
 * Updates are fresh 5-character ids made by the target ("u0042"), so that
 * a member's state is the set of ids it has seen (a CRDT in miniature) and
 * a snapshot is that set written out. Checked after every command: the
 * hub's byte count against the allocator's, and every member whose sync
 * completed has every id appended so far. At the end: the log holds every
 * id, and nothing is left allocated. */
#include <string.h>

#include "fuzz.h"
#include "room/history.h"
#include "room/protocol.h"

#define SLOTS 4
#define IDS 2048
#define ID_LEN 5
#define RUN 110 /* ids in a big update: 550 bytes */

typedef struct slot {
    room_conn *conn;
    int member, syncing, synced;
    unsigned char seen[IDS];
} slot;

typedef struct state {
    room_hub *hub;
    room_store *store;
    fuzz_alloc counts;
    slot slots[SLOTS];
    unsigned char all[IDS];
    int next_id, failing, compactor;
    uint64_t token, now;
    size_t delta; /* allocator bytes that are not the hub's (none) */
} state;

static state st;

/* "uNNNN" for id < IDS (four digits), without snprintf's width doubts. */
static void id_text(unsigned id, char *out)
{
    out[0] = 'u';
    for (int k = ID_LEN - 1; k >= 1; k--, id /= 10)
        out[k] = (char)('0' + id % 10);
}

/* Updates arrive as "Y:" and ids; everything else is a JSON-codec frame. */
static int h_send(void *transport, room_frame *frame, void *ud)
{
    slot *s = transport;
    size_t len, i;
    const uint8_t *p = room_frame_payload(frame, &len);
    (void)ud;
    if (room_frame_kind(frame) == ROOM_FRAME_TEXT) {
        json_t *msg = json_loadb((const char *)p, len, 0, NULL);
        FUZZ_CHECK(json_is_object(msg));
        json_decref(msg);
        return 0;
    }
    FUZZ_CHECK(len >= 2 && p[0] == 'Y' && p[1] == ':' && (len - 2) % ID_LEN == 0);
    for (i = 2; i < len; i += ID_LEN) {
        unsigned id = 0;
        for (size_t k = 1; k < ID_LEN; k++)
            id = id * 10 + (unsigned)(p[i + k] - '0');
        FUZZ_CHECK(p[i] == 'u' && id < IDS);
        s->seen[id] = 1;
    }
    return 0;
}

static size_t prefix(const uint8_t *update, size_t len, uint8_t *out, void *ud)
{
    (void)update, (void)len, (void)ud;
    out[0] = 'Y';
    out[1] = ':';
    return 2;
}

static void compact(room_hub *hub, const char *room, void *ud)
{
    (void)hub, (void)room, (void)ud;
    /* Whether to begin is the script's choice ('k'). */
}

static void hub_up(void)
{
    room_config cfg;
    room_storage_config sc;
    room_config_init(&cfg);
    cfg.send = h_send;
    cfg.random = fuzz_random;
    cfg.allocator = fuzz_allocator(&st.counts);
    cfg.max_message_bytes = 4096;
    FUZZ_CHECK(room_hub_new(&st.hub, &cfg) == 0);
    FUZZ_CHECK(room_protocol_rooms_register(st.hub) == 0);
    room_storage_config_init(&sc);
    sc.store = st.store;
    sc.history_rooms = "h*";
    sc.history_messages = 4;
    sc.history_ms = 500;
    sc.history_bytes = 1024;
    sc.max_log_bytes = 1 << 20;
    sc.compact_bytes = 64;
    sc.compact = compact;
    sc.update_prefix = prefix;
    FUZZ_CHECK(room_storage_enable(st.hub, &sc) == 0);
    room_hub_tick(st.hub, st.now);
    st.delta = st.counts.bytes - room_hub_memory(st.hub);
}

static void closed(slot *s)
{
    memset(s, 0, sizeof *s);
}

static void hub_down(void)
{
    for (int i = 0; i < SLOTS; i++) {
        if (st.slots[i].conn)
            room_conn_close(st.hub, st.slots[i].conn, "end");
        closed(&st.slots[i]);
    }
    st.compactor = -1;
    room_hub_free(st.hub);
    st.hub = NULL;
}

static int slot_of(const room_conn *conn)
{
    for (int i = 0; i < SLOTS; i++) {
        if (st.slots[i].conn == conn)
            return i;
    }
    return -1;
}

static void check(void)
{
    for (int i = 0; i < SLOTS; i++) {
        const slot *s = &st.slots[i];
        if (!s->synced)
            continue;
        for (int id = 0; id < st.next_id; id++)
            FUZZ_CHECK(!st.all[id] || s->seen[id]);
    }
}

static void run(const fuzz_cmd *cmd)
{
    slot *s = &st.slots[cmd->slot];
    room_storage_info info;
    int rc;

    switch (cmd->op) {
    case 't':
        st.now += fuzz_arg_number(cmd);
        FUZZ_CHECK(room_hub_tick(st.hub, st.now) >= -1);
        return;
    case 'f':
        st.failing = !st.failing;
        room_store_memory_fail_writes(st.store, st.failing ? 1000000u : 0);
        return;
    case 'r':
        if (st.failing)
            return;
        hub_down();
        hub_up();
        /* Everything was written at the free: the log is whole. */
        FUZZ_CHECK(room_storage_get_info(st.hub, "doc", &info) == 0);
        return;
    case 'o':
        if (!s->conn)
            FUZZ_CHECK(room_conn_open(st.hub, s, &s->conn) == 0);
        return;
    case 'k': {
        uint64_t token;
        int any = cmd->len && cmd->arg[0] == '*';
        room_conn *who = any ? NULL : s->conn;
        if (st.compactor >= 0 || (!who && !any))
            return;
        rc = room_storage_compaction_begin(st.hub, "doc", who, &token);
        if (rc == 0) {
            st.compactor = slot_of(room_storage_compaction_member(st.hub, "doc", NULL));
            FUZZ_CHECK(st.compactor >= 0 && st.slots[st.compactor].synced);
            st.token = token;
        } else {
            FUZZ_CHECK(rc == ROOM_ENOTMEMBER || rc == ROOM_ENOTFOUND || rc == ROOM_ESTORAGE ||
                       rc == ROOM_EALREADY || rc == ROOM_EINVAL);
        }
        return;
    }
    case 'a':
        if (st.compactor >= 0) {
            static char snap[IDS * ID_LEN];
            size_t len = 0;
            const slot *c = &st.slots[st.compactor];
            for (int id = 0; id < IDS; id++) {
                if (c->seen[id]) {
                    id_text((unsigned)id, snap + len);
                    len += ID_LEN;
                }
            }
            rc = room_storage_compaction_commit(st.hub, "doc", st.token, snap, len);
            FUZZ_CHECK(rc == 0);
            st.compactor = -1;
        }
        return;
    case 'x':
        if (st.compactor >= 0) {
            FUZZ_CHECK(room_storage_compaction_abort(st.hub, "doc", st.token) == 0);
            st.compactor = -1;
        }
        return;
    }
    if (!s->conn)
        return;
    switch (cmd->op) {
    case 'm':
        rc = room_conn_recv(st.hub, s->conn, cmd->arg, cmd->len);
        FUZZ_CHECK(rc == 0 || rc == ROOM_EJSON || rc == ROOM_EPROTO || rc == ROOM_ETOOBIG ||
                   rc == ROOM_ERESERVED || rc == ROOM_EUNKNOWN);
        /* A protocol leave or join of "doc" changes the model's membership. */
        if (!room_is_member(st.hub, s->conn, "doc") && s->member) {
            int keep = slot_of(s->conn);
            room_conn *conn = s->conn;
            if (st.compactor == keep)
                st.compactor = -1;
            closed(s);
            s->conn = conn;
        } else if (room_is_member(st.hub, s->conn, "doc") && !s->member) {
            s->member = 1; /* joined without a sync: relays only */
        }
        break;
    case 'j':
        if (!s->member && room_join(st.hub, s->conn, "doc") == 0)
            s->member = 1;
        break;
    case 'l':
        if (s->member && room_leave(st.hub, s->conn, "doc") == 0) {
            room_conn *conn = s->conn;
            if (st.compactor == (int)cmd->slot)
                st.compactor = -1;
            closed(s);
            s->conn = conn;
        }
        break;
    case 'c':
        if (st.compactor == (int)cmd->slot)
            st.compactor = -1;
        room_conn_close(st.hub, s->conn, "bye");
        closed(s);
        break;
    case 's':
        if (!s->member)
            break;
        if (!s->syncing) {
            rc = room_storage_sync_begin(st.hub, s->conn, "doc");
            FUZZ_CHECK(rc == 0 || rc == ROOM_ESTORAGE);
            if (rc == 0) {
                /* A running compaction it was asked for stands: it has
                 * what it had. */
                s->syncing = 1;
                s->synced = 0;
            }
        } else {
            rc = room_storage_sync_send(st.hub, s->conn, "doc", fuzz_arg_number(cmd));
            FUZZ_CHECK(rc == 0 || rc == 1);
            if (rc == 1) {
                s->syncing = 0;
                s->synced = 1;
            }
        }
        break;
    case 'u':
        if (s->member && st.next_id < IDS) {
            /* One id, or with '*' a run of up to RUN (a big update: the
             * log keeps its frame, not its bytes). */
            char u[RUN * ID_LEN];
            int n = cmd->len && cmd->arg[0] == '*' ? RUN : 1, k;
            if (n > IDS - st.next_id)
                n = IDS - st.next_id;
            k = 0;
            do
                id_text((unsigned)(st.next_id + k), u + k * ID_LEN);
            while (++k < n);
            rc = room_storage_append(st.hub, s->conn, "doc", u, (size_t)n * ID_LEN, NULL);
            FUZZ_CHECK(rc >= 0 || rc == ROOM_ESTORAGE);
            for (k = 0; k < n; k++, st.next_id++) {
                if (rc >= 0) {
                    s->seen[st.next_id] = 1;
                    st.all[st.next_id] = 1;
                }
            }
        }
        break;
    }
}

static int collect(const room_storage_entry *e, void *ud)
{
    unsigned char *seen = ud;
    for (size_t i = 0; i + ID_LEN <= e->update.len; i += ID_LEN) {
        unsigned id = 0;
        for (size_t k = 1; k < ID_LEN; k++)
            id = id * 10 + (unsigned)(e->update.data[i + k] - '0');
        seen[id] = 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char seen[IDS];
    fuzz_cmd cmd;

    memset(&st, 0, sizeof st);
    st.compactor = -1;
    fuzz_random_reset();
    FUZZ_CHECK(room_store_memory_new(&st.store, NULL) == 0);
    hub_up();
    while (fuzz_next_cmd(&data, &size, SLOTS, &cmd)) {
        run(&cmd);
        FUZZ_CHECK(st.counts.bytes - room_hub_memory(st.hub) == st.delta);
        check();
    }
    memset(seen, 0, sizeof seen);
    if (st.next_id)
        FUZZ_CHECK(room_storage_foreach(st.hub, "doc", collect, seen) == 0);
    for (int id = 0; id < st.next_id; id++)
        FUZZ_CHECK(!st.all[id] || seen[id]);
    hub_down();
    room_store_free(st.store);
    FUZZ_CHECK(st.counts.bytes == 0 && st.counts.blocks == 0);
    return 0;
}
