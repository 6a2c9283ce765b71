/* The JSON codec through a real hub with the rooms protocol: a script of
 * up to four connections opening, sending messages, acknowledging, being
 * ticked, kicked and closed (fuzz.h: "<op><slot><arg>\n").
 *
 *   o  open (arg: the upgrade query)    m  message (arg: the bytes)
 *   b  message with arg as attachment   c  close
 *   a  server emit_ack (arg: timeout)   t  tick (arg: milliseconds on)
 *   f  toggle send failures             w  write out (release) held frames
 *   k  host kick
 *
 * Checked after every command: the hub's connection count, both sides of
 * every membership, the room count, every outbound frame is a JSON object,
 * and the hub's byte count against the allocator's. At the end every
 * connection is closed: no rooms, no connections, every emit_ack answered
 * exactly once, and after room_hub_free() nothing left allocated. */
#include <string.h>

#include "fuzz.h"
#include "room/protocol.h"

#define SLOTS 4
#define HELD 16

typedef struct slot {
    room_conn *conn;
    int kicked;
    int failing;
    room_frame *held[HELD]; /* frames an asynchronous transport has queued */
    size_t nheld;
} slot;

typedef struct state {
    room_hub *hub;
    slot slots[SLOTS];
    json_t *question; /* what emit_ack asks */
    size_t acks_pending;
    uint64_t now;
} state;

static int h_send(void *transport, room_frame *frame, void *ud)
{
    slot *s = transport;
    size_t len;
    const uint8_t *payload = room_frame_payload(frame, &len);
    json_t *msg = json_loadb((const char *)payload, len, 0, NULL);
    (void)ud;
    FUZZ_CHECK(room_frame_kind(frame) == ROOM_FRAME_TEXT && !room_frame_next(frame));
    FUZZ_CHECK(json_is_object(msg));
    json_decref(msg);
    if (s->failing)
        return ROOM_ETRANSPORT;
    if (s->nheld < HELD)
        s->held[s->nheld++] = room_frame_ref(frame);
    return 0;
}

static void h_close(void *transport, int code, const char *reason, void *ud)
{
    slot *s = transport;
    (void)ud;
    FUZZ_CHECK(s->conn && code >= 1000 && code < 5000 && reason);
    s->kicked = 1;
}

static void ack_done(room_hub *hub, room_conn *conn, int status, json_t *args, void *ud)
{
    state *st = ud;
    (void)hub, (void)conn;
    FUZZ_CHECK(st->acks_pending > 0);
    FUZZ_CHECK(status == 0 ? json_is_array(args)
                           : (status == ROOM_ETIMEOUT || status == ROOM_ECLOSED) && !args);
    st->acks_pending--;
}

static void release(slot *s)
{
    while (s->nheld)
        room_frame_unref(s->held[--s->nheld]);
}

/* Room name -> members seen from the connections' side. */
static int count_room(const char *room, void *ud)
{
    json_t *seen = ud;
    json_int_t n = json_integer_value(json_object_get(seen, room));
    json_object_set_new(seen, room, json_integer(n + 1));
    return 0;
}

static void check_hub(const state *st, size_t alloc_delta, const fuzz_alloc *counts)
{
    json_t *seen = json_object();
    const char *room;
    json_t *n;
    size_t open = 0, memberships = 0;
    for (int i = 0; i < SLOTS; i++) {
        const slot *s = &st->slots[i];
        if (!s->conn)
            continue;
        open++;
        memberships += room_conn_room_count(s->conn);
        FUZZ_CHECK(room_conn_rooms_foreach(st->hub, s->conn, count_room, seen) == 0);
    }
    FUZZ_CHECK(room_conn_count(st->hub) == open);
    FUZZ_CHECK(room_count(st->hub) == json_object_size(seen));
    json_object_foreach(seen, room, n) {
        FUZZ_CHECK(room_member_count(st->hub, room) == (size_t)json_integer_value(n));
        memberships -= (size_t)json_integer_value(n);
    }
    FUZZ_CHECK(memberships == 0);
    FUZZ_CHECK(counts->bytes - room_hub_memory(st->hub) == alloc_delta);
    json_decref(seen);
}

static void run(state *st, const fuzz_cmd *cmd)
{
    slot *s = &st->slots[cmd->slot];
    room_bytes att = {cmd->arg, cmd->len};
    json_t *query = NULL;
    int rc;

    if (cmd->op == 'o' && !s->conn) {
        if (room_query_parse((const char *)cmd->arg, cmd->len, &query) != 0)
            query = NULL;
        rc = room_conn_open_handshake(st->hub, s, NULL, query, &s->conn, NULL);
        FUZZ_CHECK(rc == 0 ? s->conn != NULL : !s->conn);
        json_decref(query);
        return;
    }
    if (cmd->op == 't') {
        int64_t next;
        st->now += fuzz_arg_number(cmd);
        next = room_hub_tick(st->hub, st->now);
        FUZZ_CHECK(next >= -1 && (next != -1 || st->acks_pending == 0));
        return;
    }
    if (!s->conn)
        return;
    switch (cmd->op) {
    case 'm':
        rc = room_conn_recv(st->hub, s->conn, cmd->arg, cmd->len);
        FUZZ_CHECK(rc == 0 || rc == ROOM_EJSON || rc == ROOM_EPROTO || rc == ROOM_ETOOBIG ||
                   rc == ROOM_ERESERVED || rc == ROOM_EUNKNOWN ||
                   (rc == ROOM_ECLOSED && s->kicked));
        break;
    case 'b':
        /* The JSON codec announces no attachments: never accepted. */
        rc = room_conn_recv_binary(st->hub, s->conn, cmd->arg, cmd->len, &att, 1);
        FUZZ_CHECK(rc < 0);
        break;
    case 'c':
        room_conn_close(st->hub, s->conn, "bye");
        s->conn = NULL;
        s->kicked = s->failing = 0;
        break;
    case 'a':
        rc = room_emit_ack(st->hub, s->conn, "ask", st->question, fuzz_arg_number(cmd), ack_done, st);
        FUZZ_CHECK(rc == 0 || (rc == ROOM_ECLOSED && s->kicked) || (rc == ROOM_ETRANSPORT && s->failing));
        st->acks_pending += rc == 0;
        break;
    case 'f':
        s->failing = !s->failing;
        break;
    case 'w':
        release(s);
        break;
    case 'k':
        room_conn_kick(st->hub, s->conn, 4000, "kicked");
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static state st;
    fuzz_alloc counts = {0, 0};
    room_config cfg;
    fuzz_cmd cmd;
    size_t delta;

    memset(&st, 0, sizeof st);
    fuzz_random_reset();
    room_config_init(&cfg);
    cfg.send = h_send;
    cfg.close = h_close;
    cfg.random = fuzz_random;
    cfg.allocator = fuzz_allocator(&counts);
    /* Small limits, so that inputs reach them. */
    cfg.max_message_bytes = 4096;
    cfg.max_room_name_bytes = 16;
    cfg.max_rooms_per_conn = 4;
    cfg.max_members_per_room = 3;
    cfg.max_rooms = 8;
    FUZZ_CHECK(room_hub_new(&st.hub, &cfg) == 0);
    FUZZ_CHECK(room_protocol_rooms_register(st.hub) == 0);
    st.question = json_string("q");
    delta = counts.bytes - room_hub_memory(st.hub);

    while (fuzz_next_cmd(&data, &size, SLOTS, &cmd)) {
        run(&st, &cmd);
        check_hub(&st, delta, &counts);
    }
    for (int i = 0; i < SLOTS; i++) {
        room_conn_close(st.hub, st.slots[i].conn, "end");
        st.slots[i].conn = NULL;
    }
    for (int i = 0; i < SLOTS; i++)
        release(&st.slots[i]);
    check_hub(&st, delta, &counts);
    FUZZ_CHECK(room_count(st.hub) == 0 && room_conn_count(st.hub) == 0);
    FUZZ_CHECK(st.acks_pending == 0);
    room_hub_free(st.hub);
    json_decref(st.question);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    return 0;
}
