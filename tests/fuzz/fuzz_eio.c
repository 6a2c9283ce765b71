/* Engine.IO sessions (room_eio, v4 and v3 with allow_eio3) carrying
 * Socket.IO with namespaces "/" and "/admin", both speaking the rooms
 * protocol ("/admin" refuses a CONNECT without a "token" in its auth), on
 * WebSockets and on polling, with upgrades. A script of up to four
 * sessions (fuzz.h: "<op><slot><arg>\n"):
 *
 *   o  open on a WebSocket (arg: the query; EIO=3 opens a v3 session)
 *   p  open on polling (the same)
 *   t  text message (arg)               b  binary message (arg)
 *   P  POST body, text (arg)            B  POST body, binary framing (arg)
 *   u  text message on the slot's probe WebSocket (room_eio_upgrade_recv())
 *   a  the probe WebSocket closed (room_eio_upgrade_abort())
 *   c  close the session                k  tick (arg: milliseconds on)
 *   f  toggle send failures
 *
 * As a host does, sessions the room_eio asked to close are closed after
 * each command, and a probe the room_eio closed or refused is dropped.
 * Checked after every command: every frame is an Engine.IO packet (text: a
 * type digit; binary only after a text head, or alone with v3's type
 * byte), a refused message asked for a close, the close callback names the
 * session's transport or its live probe, room_eio_session_upgrading()
 * matches the probe the host holds, an upgraded session is on its
 * WebSocket, polling sessions are found by sid, and the session count. At
 * the end every session is closed: no sessions, no connections or rooms in
 * either namespace, and after room_eio_free() nothing left allocated. */
#include <string.h>

#include "fuzz.h"
#include "room/eio.h"
#include "room/protocol.h"

#define SLOTS 4

struct slot;

/* A transport: the session's first one, or the WebSocket probing it. */
typedef struct endpoint {
    struct slot *slot;
} endpoint;

typedef struct slot {
    room_eio_session *session;
    endpoint ep[2];
    int cur;          /* ep[cur] is the session's transport, ep[!cur] its probe */
    int probing;      /* the host holds a probe WebSocket that has probed */
    int polled;       /* opened on polling */
    int eio3;
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
    slot *s = ((endpoint *)transport)->slot;
    const room_frame *f;
    size_t len;
    const uint8_t *p = room_frame_payload(frame, &len);
    (void)ud;
    if (room_frame_kind(frame) == ROOM_FRAME_BINARY)
        FUZZ_CHECK(s->eio3 && !room_frame_next(frame) && len > 0 && p[0] == 4);
    else
        FUZZ_CHECK(len > 0 && p[0] >= '0' && p[0] <= '6');
    for (f = room_frame_next(frame); f; f = room_frame_next(f))
        FUZZ_CHECK(room_frame_kind(f) == ROOM_FRAME_BINARY);
    return s->failing ? ROOM_ETRANSPORT : 0;
}

static void e_close(void *transport, int code, const char *reason, void *ud)
{
    endpoint *ep = transport;
    slot *s = ep->slot;
    (void)ud;
    FUZZ_CHECK(s->session && code >= 1000 && code < 5000 && reason);
    if (ep == &s->ep[s->cur]) {
        s->close_asked = 1;
    } else {
        /* The room_eio ends the probe: the host closes that WebSocket. */
        FUZZ_CHECK(s->probing);
        s->probing = 0;
    }
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
    FUZZ_CHECK(!s->probing);
    memset(s, 0, sizeof *s);
}

static void open_session(state *st, slot *s, const fuzz_cmd *cmd, int transport)
{
    room_eio_request req;
    json_t *query = NULL;
    const char *v;
    int rc;

    if (room_query_parse((const char *)cmd->arg, cmd->len, &query) != 0)
        query = NULL;
    room_eio_request_init(&req);
    req.transport = transport;
    req.query = query;
    v = json_string_value(json_object_get(query, "EIO"));
    req.protocol = v && strcmp(v, "3") == 0 ? 3 : 4;
    s->ep[0].slot = s->ep[1].slot = s;
    s->cur = 0;
    s->eio3 = req.protocol == 3;
    s->polled = transport == ROOM_EIO_POLLING;
    rc = room_eio_accept(st->eio, &s->ep[0], &req, st->now, &s->session);
    FUZZ_CHECK(rc == 0 ? s->session != NULL : (rc == ROOM_ETRANSPORT && s->failing));
    if (rc != 0)
        memset(s, 0, sizeof *s);
    json_decref(query);
}

static void upgrade(state *st, slot *s, const fuzz_cmd *cmd)
{
    int rc = room_eio_upgrade_recv(st->eio, s->session, &s->ep[!s->cur], ROOM_FRAME_TEXT, cmd->arg,
                                   cmd->len, st->now);
    if (rc == ROOM_EIO_PROBING) {
        FUZZ_CHECK(room_eio_session_upgrading(s->session));
        s->probing = 1;
    } else if (rc == ROOM_EIO_UPGRADED) {
        FUZZ_CHECK(!room_eio_session_upgrading(s->session));
        FUZZ_CHECK(room_eio_session_transport_kind(s->session) == ROOM_EIO_WEBSOCKET);
        FUZZ_CHECK(room_eio_session_transport(s->session) == &s->ep[!s->cur]);
        s->cur = !s->cur;
        s->probing = 0;
    } else {
        /* Refused: the host closes the probe WebSocket. */
        FUZZ_CHECK(rc < 0);
        s->probing = 0;
    }
}

static void run(state *st, const fuzz_cmd *cmd)
{
    slot *s = &st->slots[cmd->slot];
    int rc;

    if ((cmd->op == 'o' || cmd->op == 'p') && !s->session) {
        open_session(st, s, cmd, cmd->op == 'p' ? ROOM_EIO_POLLING : ROOM_EIO_WEBSOCKET);
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
    case 'P':
    case 'B':
        rc = room_eio_recv_payload(st->eio, s->session, cmd->arg, cmd->len, cmd->op == 'B',
                                   st->now);
        FUZZ_CHECK(rc != ROOM_EPROTO || s->close_asked);
        break;
    case 'u':
        upgrade(st, s, cmd);
        break;
    case 'a':
        room_eio_upgrade_abort(st->eio, s->session, &s->ep[!s->cur]);
        s->probing = 0;
        break;
    case 'c':
        close_session(st, s, "transport close");
        break;
    }
}

static void check(state *st)
{
    for (int i = 0; i < SLOTS; i++) {
        slot *s = &st->slots[i];
        const char *sid;
        if (!s->session)
            continue;
        FUZZ_CHECK(room_eio_session_upgrading(s->session) == (s->probing != 0));
        FUZZ_CHECK(room_eio_session_transport(s->session) == &s->ep[s->cur]);
        FUZZ_CHECK(room_eio_session_protocol(s->session) == (s->eio3 ? 3 : 4));
        FUZZ_CHECK(room_eio_session_transport_kind(s->session) ==
                   (s->polled && s->cur == 0 ? ROOM_EIO_POLLING : ROOM_EIO_WEBSOCKET));
        sid = room_eio_session_id(s->session);
        FUZZ_CHECK(room_eio_session_find(st->eio, sid, strlen(sid)) == (s->polled ? s->session : NULL));
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
    ecfg.allow_eio3 = true;
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
        check(&st);
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
