/* roomd's Sails protocol (examples/roomd/proto_sails.c) through a real hub
 * with the JSON codec: a script of up to four connections (fuzz.h:
 * "<op><slot><arg>\n").
 *
 *   o  open (arg: the upgrade query, with its __sails_io_sdk_version)
 *   m  message (arg: the bytes, e.g. {"event":"post","data":{"url":...},"id":1})
 *   c  close      k  host kick
 *
 * Connection ids come from fuzz_random(), so an input can name another
 * connection in /leaveRoom (the seeds do). Checked after every command:
 * every frame is a JSON object; an acknowledgement carries one argument,
 * a JWR {body, headers (an object), statusCode (200, 400, 404 or 500)} or
 * the hook's parse error; a "sails:parseError" event carries that error;
 * a request with an id that the hub took gets exactly one answer, and its
 * sender no other; both sides of every membership and the hub's byte
 * count. At the end every connection is closed: no rooms, no
 * connections, and after room_hub_free() nothing left allocated. */
#include <string.h>

#include "../../examples/roomd/proto.h"
#include "fuzz.h"

#define SLOTS 4

typedef struct slot {
    room_conn *conn;
    int kicked;
    int acks;     /* acknowledgements sent to it during the current command */
    json_t *last; /* the last of them */
} slot;

typedef struct state {
    room_hub *hub;
    slot slots[SLOTS];
} state;

static void check_parse_error(const json_t *err)
{
    FUZZ_CHECK(json_is_object(err));
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(err, "code")),
                      "SAILS:HOOK:SOCKETS:PARSE_VIRTUAL_REQ") == 0);
    FUZZ_CHECK(json_integer_value(json_object_get(err, "statusCode")) == 400);
    FUZZ_CHECK(json_is_string(json_object_get(err, "details")));
}

/* An answer of the protocol (the hub's own, to what never reached it, are
 * SocketResponses). */
static void check_ack(const json_t *msg)
{
    const json_t *jwr = json_object_get(msg, "data"), *status;
    FUZZ_CHECK(!json_object_get(msg, "args"));
    if (json_object_get(jwr, "code")) {
        check_parse_error(jwr);
        return;
    }
    status = json_object_get(jwr, "statusCode");
    FUZZ_CHECK(json_is_object(jwr) && json_object_size(jwr) == 3);
    FUZZ_CHECK(json_object_get(jwr, "body") && json_is_object(json_object_get(jwr, "headers")));
    FUZZ_CHECK(json_is_integer(status));
    switch (json_integer_value(status)) {
    case 200: case 400: case 404: case 500:
        break;
    default:
        FUZZ_CHECK(!"a status code the protocol does not give");
    }
}

static int h_send(void *transport, room_frame *frame, void *ud)
{
    slot *s = transport;
    size_t len;
    const uint8_t *payload = room_frame_payload(frame, &len);
    json_t *msg = json_loadb((const char *)payload, len, 0, NULL);
    const char *event = json_string_value(json_object_get(msg, "event"));
    (void)ud;
    FUZZ_CHECK(room_frame_kind(frame) == ROOM_FRAME_TEXT && !room_frame_next(frame));
    FUZZ_CHECK(json_is_object(msg));
    if (json_object_get(msg, "ack")) {
        s->acks++;
        json_decref(s->last);
        s->last = json_incref(msg);
    } else if (event && strcmp(event, "sails:parseError") == 0)
        check_parse_error(json_object_get(msg, "data"));
    json_decref(msg);
    return 0;
}

static void h_close(void *transport, int code, const char *reason, void *ud)
{
    slot *s = transport;
    (void)ud;
    FUZZ_CHECK(s->conn && code >= 1000 && code < 5000 && reason);
    s->kicked = 1;
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
    json_t *query = NULL, *msg;
    int rc, asked;

    if (cmd->op == 'o' && !s->conn) {
        if (room_query_parse((const char *)cmd->arg, cmd->len, &query) != 0)
            query = NULL;
        rc = room_conn_open_handshake(st->hub, s, NULL, query, &s->conn, NULL);
        FUZZ_CHECK(rc == 0 && s->conn);
        json_decref(query);
        return;
    }
    if (!s->conn)
        return;
    switch (cmd->op) {
    case 'm':
        msg = json_loadb((const char *)cmd->arg, cmd->len, 0, NULL);
        asked = json_is_string(json_object_get(msg, "event")) &&
                json_is_integer(json_object_get(msg, "id"));
        json_decref(msg);
        s->acks = 0;
        rc = room_conn_recv(st->hub, s->conn, cmd->arg, cmd->len);
        /* Every event has a handler (room_on_any()). */
        FUZZ_CHECK(rc == 0 || rc == ROOM_EJSON || rc == ROOM_EPROTO || rc == ROOM_ETOOBIG ||
                   rc == ROOM_ERESERVED || (rc == ROOM_ECLOSED && s->kicked));
        /* Sends to a kicked connection are dropped; what the hub refused
         * it answered itself. */
        FUZZ_CHECK(s->acks <= 1);
        if (rc == 0 && !s->kicked) {
            FUZZ_CHECK(s->acks == asked);
            if (asked)
                check_ack(s->last);
        }
        json_decref(s->last);
        s->last = NULL;
        break;
    case 'c':
        room_conn_close(st->hub, s->conn, "bye");
        s->conn = NULL;
        s->kicked = 0;
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
    FUZZ_CHECK(proto_sails_register(st.hub) == 0);
    delta = counts.bytes - room_hub_memory(st.hub);

    while (fuzz_next_cmd(&data, &size, SLOTS, &cmd)) {
        run(&st, &cmd);
        check_hub(&st, delta, &counts);
    }
    for (int i = 0; i < SLOTS; i++) {
        room_conn_close(st.hub, st.slots[i].conn, "end");
        st.slots[i].conn = NULL;
    }
    check_hub(&st, delta, &counts);
    FUZZ_CHECK(room_count(st.hub) == 0 && room_conn_count(st.hub) == 0);
    room_hub_free(st.hub);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    return 0;
}
