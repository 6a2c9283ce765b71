/* Engine.IO v4 / Socket.IO v5 sessions (room_eio) with namespaces "/" and
 * "/admin", both speaking the rooms protocol ("/admin" refuses a CONNECT
 * without a "token" in its auth). A script of up to four sessions (fuzz.h:
 * "<op><slot><arg>\n"):
 *
 *   o  open (arg: the upgrade query)    t  text message (arg)
 *   b  binary message (arg)             c  close the session
 *   k  tick (arg: milliseconds on)      f  toggle send failures
 *
 * As a host does, sessions the room_eio asked to close are closed after
 * each command. Checked after every command: every frame is an Engine.IO
 * packet (text: a type digit; binary only after a text head), a refused
 * message asked for a close, and the session count. At the end every
 * session is closed: no sessions, no connections or rooms in either
 * namespace, and after room_eio_free() nothing left allocated. */
#include <string.h>

#include "fuzz.h"
#include "room/eio.h"
#include "room/protocol.h"

#define SLOTS 4

typedef struct slot {
    room_eio_session *session;
    int close_asked;
    int failing;
} slot;

typedef struct state {
    room_eio *eio;
    room_hub *root, *admin;
    slot slots[SLOTS];
    uint64_t now;
} state;

static int e_send(void *transport, room_frame *frame, void *ud)
{
    slot *s = transport;
    const room_frame *f;
    size_t len;
    const uint8_t *p = room_frame_payload(frame, &len);
    (void)ud;
    FUZZ_CHECK(room_frame_kind(frame) == ROOM_FRAME_TEXT && len > 0 && p[0] >= '0' && p[0] <= '6');
    for (f = room_frame_next(frame); f; f = room_frame_next(f))
        FUZZ_CHECK(room_frame_kind(f) == ROOM_FRAME_BINARY);
    return s->failing ? ROOM_ETRANSPORT : 0;
}

static void e_close(void *transport, int code, const char *reason, void *ud)
{
    slot *s = transport;
    (void)ud;
    FUZZ_CHECK(s->session && code >= 1000 && code < 5000 && reason);
    s->close_asked = 1;
}

static int admin_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_t *auth = json_array_get(ev->args, 0);
    (void)ud;
    if (!json_is_string(json_object_get(auth, "token"))) {
        room_refuse(hub, conn, "token required", NULL);
        return ROOM_EDENIED;
    }
    return 0;
}

static size_t open_sessions(const state *st)
{
    size_t n = 0;
    for (int i = 0; i < SLOTS; i++)
        n += st->slots[i].session != NULL;
    return n;
}

static void close_session(state *st, slot *s, const char *reason)
{
    room_eio_close(st->eio, s->session, reason);
    memset(s, 0, sizeof *s);
}

static void run(state *st, const fuzz_cmd *cmd)
{
    slot *s = &st->slots[cmd->slot];
    json_t *query = NULL;
    int rc;

    if (cmd->op == 'o' && !s->session) {
        if (room_query_parse((const char *)cmd->arg, cmd->len, &query) != 0)
            query = NULL;
        rc = room_eio_open_query(st->eio, s, query, st->now, &s->session);
        FUZZ_CHECK(rc == 0 ? s->session != NULL : rc == ROOM_ETRANSPORT && s->failing);
        if (rc != 0)
            s->session = NULL;
        json_decref(query);
        return;
    }
    if (cmd->op == 'k') {
        st->now += fuzz_arg_number(cmd);
        FUZZ_CHECK(room_eio_tick(st->eio, st->now) >= -1);
        return;
    }
    if (cmd->op == 'f') {
        s->failing = !s->failing;
        return;
    }
    if (!s->session)
        return;
    switch (cmd->op) {
    case 't':
    case 'b':
        rc = room_eio_recv(st->eio, s->session, cmd->op == 't' ? ROOM_FRAME_TEXT : ROOM_FRAME_BINARY,
                           cmd->arg, cmd->len, st->now);
        FUZZ_CHECK(rc != ROOM_EPROTO || s->close_asked);
        break;
    case 'c':
        close_session(st, s, "transport close");
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static state st;
    fuzz_alloc counts = {0, 0};
    room_eio_config ecfg;
    room_config hcfg, acfg;
    fuzz_cmd cmd;

    memset(&st, 0, sizeof st);
    fuzz_random_reset();
    room_eio_config_init(&ecfg);
    ecfg.send = e_send;
    ecfg.close = e_close;
    ecfg.allocator = fuzz_allocator(&counts);
    ecfg.ping_interval_ms = 1000;
    ecfg.ping_timeout_ms = 500;
    ecfg.connect_timeout_ms = 2000;
    room_config_init(&hcfg);
    hcfg.random = fuzz_random;
    hcfg.max_message_bytes = 4096;
    hcfg.max_rooms_per_conn = 4;
    hcfg.max_rooms = 8;
    hcfg.unknown_events = ROOM_UNKNOWN_IGNORE;
    FUZZ_CHECK(room_eio_new(&st.eio, &ecfg, &hcfg) == 0);
    /* "/admin" has connection-state recovery: a CONNECT's auth may resume
     * with {pid, offset}. */
    acfg = hcfg;
    acfg.recovery_ms = 1000;
    FUZZ_CHECK(room_eio_namespace(st.eio, "/admin", &acfg, &st.admin) == 0);
    st.root = room_eio_hub(st.eio, "/");
    FUZZ_CHECK(st.root && room_eio_hub(st.eio, "/admin") == st.admin);
    FUZZ_CHECK(room_protocol_rooms_register(st.root) == 0);
    FUZZ_CHECK(room_protocol_rooms_register(st.admin) == 0);
    FUZZ_CHECK(room_on(st.admin, "connect", admin_connect, NULL) == 0);

    while (fuzz_next_cmd(&data, &size, SLOTS, &cmd)) {
        run(&st, &cmd);
        for (int i = 0; i < SLOTS; i++) {
            if (st.slots[i].close_asked)
                close_session(&st, &st.slots[i], "closed by server");
        }
        FUZZ_CHECK(room_eio_session_count(st.eio) == open_sessions(&st));
        FUZZ_CHECK(room_conn_count(st.root) <= open_sessions(&st));
        FUZZ_CHECK(room_conn_count(st.admin) <= open_sessions(&st));
    }
    for (int i = 0; i < SLOTS; i++)
        close_session(&st, &st.slots[i], "end");
    /* The detached connections of "/admin" expire: their window starts at
     * the first tick after their close. */
    FUZZ_CHECK(room_eio_tick(st.eio, st.now) >= -1);
    FUZZ_CHECK(room_eio_tick(st.eio, st.now + 1000) >= -1);
    FUZZ_CHECK(room_eio_session_count(st.eio) == 0);
    FUZZ_CHECK(room_conn_count(st.root) == 0 && room_count(st.root) == 0);
    FUZZ_CHECK(room_conn_count(st.admin) == 0 && room_count(st.admin) == 0);
    room_eio_free(st.eio);
    FUZZ_CHECK(counts.bytes == 0 && counts.blocks == 0);
    return 0;
}
