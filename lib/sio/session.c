/* Engine.IO v4 sessions over one WebSocket each: the open packet and sid,
 * the transport's own packets (ping/pong, close, noop), the message limit,
 * and closing. Socket.IO packets go on to namespace.c. */
#include <stdio.h>
#include <string.h>

#include "sio_internal.h"

void sio_shut(room_eio *eio, room_eio_session *s, int code, const char *reason)
{
    if (s->closing)
        return;
    s->closing = true;
    sio_binary_drop(eio, s);
    sio_connect_wait_end(eio, s);
    sio_list_unlink(&s->hb);
    sio_list_append(&eio->closing, &s->hb);
    room_logf(eio->cfg.log, eio->cfg.user_data, ROOM_LOG_DEBUG, "closing session %s: %s", s->sid,
              reason);
    eio->cfg.close(s->transport, code, reason, eio->cfg.user_data);
}

int sio_violation(room_eio *eio, room_eio_session *s, const char *reason)
{
    sio_shut(eio, s, ROOM_CLOSE_PROTOCOL_ERROR, reason);
    return ROOM_EPROTO;
}

int sio_send(room_eio *eio, room_eio_session *s, room_frame *frame)
{
    /* The host is closing it already: nothing more to say. */
    if (s->closing)
        return 0;
    if (eio->cfg.send(s->transport, frame, eio->cfg.user_data) < 0) {
        sio_shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "send failed");
        return ROOM_ETRANSPORT;
    }
    return 0;
}

int sio_send_scratch(room_eio *eio, room_eio_session *s, int rc)
{
    room_frame *frame;
    if (!rc && s->closing)
        return 0;
    frame = rc ? NULL
               : room_frame_new(eio->nsps[0]->hub, ROOM_FRAME_TEXT, room_buf_data(eio->scratch),
                                room_buf_len(eio->scratch));
    if (!frame) {
        sio_shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "out of memory");
        return ROOM_ENOMEM;
    }
    rc = sio_send(eio, s, frame);
    room_frame_unref(frame);
    return rc;
}

/* The application's part of the query: without the Engine.IO transport's
 * own parameters, and NULL when nothing is left. */
static int app_query(json_t *query, json_t **app_out)
{
    static const char *const engine[] = {"EIO", "transport", "sid", "t", "j", "b64"};
    json_t *app;
    size_t i;
    *app_out = NULL;
    if (!query)
        return 0;
    app = json_copy(query);
    if (!app)
        return ROOM_ENOMEM;
    for (i = 0; i < sizeof engine / sizeof engine[0]; i++)
        json_object_del(app, engine[i]);
    if (json_object_size(app))
        *app_out = app;
    else
        json_decref(app);
    return 0;
}

/* 0{"sid":...,"upgrades":[],"pingInterval":...,"pingTimeout":...,"maxPayload":...} */
static room_frame *open_packet(room_eio *eio, const room_eio_session *s)
{
    char open[192];
    int n = snprintf(open, sizeof open,
                     "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":%lu,\"pingTimeout\":%lu,"
                     "\"maxPayload\":%zu}",
                     s->sid, (unsigned long)eio->cfg.ping_interval_ms,
                     (unsigned long)eio->cfg.ping_timeout_ms, eio->max_payload);
    return room_frame_new(eio->nsps[0]->hub, ROOM_FRAME_TEXT, open, (size_t)n);
}

/* A session that failed to open: in no list yet. */
static void discard(room_eio *eio, room_eio_session *s)
{
    json_decref(s->query);
    sio_free(&eio->alloc, s->wait);
    sio_free(&eio->alloc, s);
}

int room_eio_open(room_eio *eio, void *transport, uint64_t now_ms, room_eio_session **session_out)
{
    return room_eio_open_query(eio, transport, NULL, now_ms, session_out);
}

int room_eio_open_query(room_eio *eio, void *transport, json_t *query, uint64_t now_ms,
                        room_eio_session **session_out)
{
    const eio_nsp *root;
    room_eio_session *s;
    room_frame *frame;
    int rc;

    if (!session_out)
        return ROOM_EINVAL;
    *session_out = NULL;
    if (!eio)
        return ROOM_EINVAL;
    root = eio->nsps[0];
    if (!eio->ping_frame) {
        eio->ping_frame = room_frame_new(root->hub, ROOM_FRAME_TEXT, "2", 1);
        if (!eio->ping_frame)
            return ROOM_ENOMEM;
    }
    s = sio_calloc(&eio->alloc, sizeof *s);
    if (!s)
        return ROOM_ENOMEM;
    /* Everything that can fail comes before the open packet goes out. */
    s->wait = sio_malloc(&eio->alloc, sizeof *s->wait);
    rc = s->wait ? room_id_generate(s->sid, root->random, root->random_ud) : ROOM_ENOMEM;
    /* Kept only when the application has parameters of its own, so an idle
     * session of a client without any costs nothing. */
    if (!rc)
        rc = app_query(query, &s->query);
    frame = rc ? NULL : open_packet(eio, s);
    if (!frame) {
        discard(eio, s);
        return rc ? rc : ROOM_ENOMEM;
    }
    rc = eio->cfg.send(transport, frame, eio->cfg.user_data);
    room_frame_unref(frame);
    if (rc < 0) {
        discard(eio, s);
        return ROOM_ETRANSPORT;
    }
    s->transport = transport;
    sio_heartbeat_start(eio, s, now_ms);
    eio->nsessions++;
    *session_out = s;
    return 0;
}

void sio_session_free(room_eio *eio, room_eio_session *s)
{
    sio_binary_drop(eio, s);
    sio_connect_wait_end(eio, s);
    sio_list_unlink(&s->hb);
    sio_free(&eio->alloc, s->rare);
    json_decref(s->query);
    sio_free(&eio->alloc, s);
    eio->nsessions--;
}

int sio_rare_grow(room_eio *eio, room_eio_session *s, size_t nextra)
{
    eio_rare *rare = s->rare;
    size_t old = rare ? rare->nextra : 0, want = nextra > old ? eio->nnsp - 1 : old;
    if (rare && want == old)
        return 0;
    rare = sio_realloc(&eio->alloc, rare, offsetof(eio_rare, extra) + old * sizeof rare->extra[0],
                       offsetof(eio_rare, extra) + want * sizeof rare->extra[0]);
    if (!rare)
        return ROOM_ENOMEM;
    if (!s->rare)
        rare->binary = NULL;
    memset(rare->extra + old, 0, (want - old) * sizeof rare->extra[0]);
    rare->nextra = (uint16_t)want;
    s->rare = rare;
    return 0;
}

void sio_rare_trim(room_eio *eio, room_eio_session *s)
{
    eio_rare *rare = s->rare;
    size_t i;
    if (!rare || rare->binary)
        return;
    for (i = 0; i < rare->nextra; i++) {
        if (rare->extra[i])
            return;
    }
    s->rare = NULL;
    sio_free(&eio->alloc, rare);
}

void room_eio_close(room_eio *eio, room_eio_session *s, const char *reason)
{
    size_t i, nextra;
    if (!eio || !s)
        return;
    /* Disconnect handlers may still send to the other namespaces: drop. */
    s->closing = true;
    sio_binary_drop(eio, s);
    /* Nothing adds namespaces to a closing session: the count holds. */
    nextra = s->rare ? s->rare->nextra : 0;
    for (i = 0; i <= nextra; i++) {
        room_conn **slot = sio_conn_slot(s, i);
        room_conn *conn = *slot;
        if (conn) {
            *slot = NULL;
            room_conn_close(eio->nsps[i]->hub, conn, reason);
        }
    }
    sio_session_free(eio, s);
}

int room_eio_recv(room_eio *eio, room_eio_session *s, int kind, const void *bytes, size_t len,
                  uint64_t now_ms)
{
    const uint8_t *p = bytes;
    bool pending;

    if (!eio || !s || (!bytes && len) || (kind != ROOM_FRAME_TEXT && kind != ROOM_FRAME_BINARY))
        return ROOM_EINVAL;
    if (s->closing)
        return ROOM_ECLOSED;
    eio->now = now_ms;
    if (len > eio->max_payload) {
        sio_shut(eio, s, ROOM_CLOSE_MESSAGE_TOO_BIG, "message exceeds maxPayload");
        return ROOM_EPROTO;
    }
    /* Binary messages only ever carry announced attachments, and nothing
     * else may come between those. */
    pending = s->rare && s->rare->binary;
    if (kind == ROOM_FRAME_BINARY)
        return pending ? sio_binary_recv(eio, s, p, len)
                       : sio_violation(eio, s, "unexpected binary message");
    if (pending)
        return sio_violation(eio, s, "binary attachment expected");
    if (len == 0)
        return sio_violation(eio, s, "empty message");
    switch (p[0]) {
    case '1': /* close */
        if (len != 1)
            break;
        sio_shut(eio, s, ROOM_CLOSE_NORMAL, "client close");
        return 0;
    case '3': /* pong */
        if (len != 1)
            break;
        sio_heartbeat_pong(eio, s, now_ms);
        return 0;
    case '4': /* message */
        return sio_recv_packet(eio, s, p + 1, len - 1);
    case '6': /* noop */
        if (len != 1)
            break;
        return 0;
    default:
        /* Includes "2": in Engine.IO v4 only the server pings; and "5":
         * there is nothing to upgrade from on a plain WebSocket. */
        break;
    }
    return sio_violation(eio, s, "invalid Engine.IO packet");
}

const char *room_eio_session_id(const room_eio_session *session)
{
    return session ? session->sid : "";
}

void *room_eio_session_transport(const room_eio_session *session)
{
    return session ? session->transport : NULL;
}

size_t room_eio_session_count(const room_eio *eio)
{
    return eio ? eio->nsessions : 0;
}
