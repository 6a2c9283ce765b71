/* Engine.IO sessions (v4, and v3 when allowed) on a WebSocket or on
 * polling: the open packet and sid, the transport's own packets (ping/pong,
 * close, noop), the message limit, and closing. Socket.IO packets go on to
 * namespace.c, or every message to the host in plain Engine.IO mode. */
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
    sio_probe_end(eio, s, true, "session closed");
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

/* Engine.IO v3 sends a binary message with its packet type (4) in front,
 * which a hub's shared attachment frames do not have: a v3 session gets
 * each message of the chain as a frame of its own, attachments copied
 * behind that byte. v3 clients are the old ones: the copy is theirs. */
/* The host's send. A transport already going (the peer gone, or closed as
 * slow) answers ROOM_ECLOSED: its close reaches the session on its own,
 * and a break the client did not ask for leaves the connection detached
 * for recovery; shutting it here would make it a kick. */
static int host_send(room_eio *eio, room_eio_session *s, room_frame *frame)
{
    int rc = eio->cfg.send(s->transport, frame, eio->cfg.user_data);
    if (rc == ROOM_ECLOSED)
        return rc;
    if (rc < 0) {
        sio_shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "send failed");
        return ROOM_ETRANSPORT;
    }
    return 0;
}

static int send_v3_chain(room_eio *eio, room_eio_session *s, const room_frame *chain)
{
    room_hub *hub = eio->nsps[0]->hub;
    const room_frame *f;
    int rc = 0;

    for (f = chain; !rc && f && !s->closing; f = room_frame_next(f)) {
        size_t len;
        const uint8_t *p = room_frame_payload(f, &len);
        room_frame *copy;
        if (room_frame_kind(f) == ROOM_FRAME_TEXT) {
            copy = room_frame_new(hub, ROOM_FRAME_TEXT, p, len);
        } else {
            room_buf_reset(eio->scratch);
            rc = room_buf_append(eio->scratch, "\x04", 1);
            if (!rc)
                rc = room_buf_append(eio->scratch, p, len);
            copy = rc ? NULL
                      : room_frame_new(hub, ROOM_FRAME_BINARY, room_buf_data(eio->scratch),
                                       room_buf_len(eio->scratch));
        }
        if (!copy) {
            sio_shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "out of memory");
            return ROOM_ENOMEM;
        }
        rc = host_send(eio, s, copy);
        room_frame_unref(copy);
    }
    return rc;
}

int sio_send(room_eio *eio, room_eio_session *s, room_frame *frame)
{
    /* The host is closing it already: nothing more to say. */
    if (s->closing)
        return 0;
    if (s->eio3 && room_frame_next(frame))
        return send_v3_chain(eio, s, frame);
    return host_send(eio, s, frame);
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

/* 0{"sid":...,"upgrades":[...],"pingInterval":...,"pingTimeout":...,"maxPayload":...}
 * The same for v3 clients, as engine.io 6 sends it to them. A polling
 * session may upgrade to a WebSocket; a WebSocket session has nowhere to
 * go. */
static room_frame *open_packet(room_eio *eio, const room_eio_session *s)
{
    char open[208];
    int n = snprintf(open, sizeof open,
                     "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%lu,\"pingTimeout\":%lu,"
                     "\"maxPayload\":%zu}",
                     s->sid, s->polling && !s->no_upgrade ? "\"websocket\"" : "",
                     (unsigned long)eio->cfg.ping_interval_ms,
                     (unsigned long)eio->cfg.ping_timeout_ms, eio->max_payload);
    return room_frame_new(eio->nsps[0]->hub, ROOM_FRAME_TEXT, open, (size_t)n);
}

/* A session that failed to open: in no list yet. */
static void discard(room_eio *eio, room_eio_session *s)
{
    sio_index_remove(eio, s);
    json_decref(s->query);
    if (s->wait)
        json_decref(s->wait->handshake);
    sio_free(&eio->alloc, s->wait);
    if (s->rare)
        json_decref(s->rare->handshake);
    sio_free(&eio->alloc, s->rare);
    sio_free(&eio->alloc, s);
}

int room_eio_open(room_eio *eio, void *transport, uint64_t now_ms, room_eio_session **session_out)
{
    return room_eio_open_query(eio, transport, NULL, now_ms, session_out);
}

int room_eio_open_query(room_eio *eio, void *transport, json_t *query, uint64_t now_ms,
                        room_eio_session **session_out)
{
    room_eio_request request;
    room_eio_request_init(&request);
    request.query = query;
    return room_eio_accept(eio, transport, &request, now_ms, session_out);
}

/* The v3 client asked for base64 instead of binary (b64=1): any value but
 * an empty one, as engine.io reads it. */
static bool wants_b64(json_t *query)
{
    const char *v = json_string_value(json_object_get(query, "b64"));
    return v && v[0];
}

/* The heartbeat's shared frame for the session's protocol. */
static int heartbeat_frame(room_eio *eio, bool eio3)
{
    room_frame **frame = eio3 ? &eio->pong_frame : &eio->ping_frame;
    if (!*frame)
        *frame = room_frame_new(eio->nsps[0]->hub, ROOM_FRAME_TEXT, eio3 ? "3" : "2", 1);
    return *frame ? 0 : ROOM_ENOMEM;
}

/* Everything a session needs before its open packet goes out, so that
 * nothing can fail after it. */
static int prepare(room_eio *eio, room_eio_session *s, const room_eio_request *req)
{
    const eio_nsp *root = eio->nsps[0];
    bool plain = eio->cfg.message != NULL;
    int rc;

    s->polling = req->transport == ROOM_EIO_POLLING;
    s->no_upgrade = req->no_upgrade;
    s->eio3 = req->protocol == 3;
    s->b64 = s->eio3 && wants_b64(req->query);
    if (!plain) {
        s->wait = sio_calloc(&eio->alloc, sizeof *s->wait);
        if (!s->wait)
            return ROOM_ENOMEM;
        if (eio->cfg.keep_handshake && req->handshake) {
            rc = sio_rare_grow(eio, s, 0);
            if (rc)
                return rc;
            s->rare->handshake = json_incref(req->handshake);
        } else {
            s->wait->handshake = json_incref(req->handshake);
        }
        /* Kept only when the application has parameters of its own, so
         * an idle session of a client without any costs nothing. */
        rc = app_query(req->query, &s->query);
        if (rc)
            return rc;
    }
    /* A sid names a polling session in every request of its client: it
     * must name one session only. */
    do {
        if (room_id_generate(s->sid, root->random, root->random_ud) != 0)
            return ROOM_EINVAL;
    } while (s->polling && sio_index_find(eio, s->sid, ROOM_CONN_ID_LEN));
    return s->polling ? sio_index_add(eio, s) : 0;
}

int room_eio_accept(room_eio *eio, void *transport, const room_eio_request *request,
                    uint64_t now_ms, room_eio_session **session_out)
{
    room_eio_request req;
    room_eio_session *s;
    room_frame *frame;
    int rc;

    if (!session_out)
        return ROOM_EINVAL;
    *session_out = NULL;
    if (!eio || room_config_copy(&req, sizeof req, request, ROOM_EIO_REQUEST_MIN_SIZE) != 0 ||
        (req.transport != ROOM_EIO_WEBSOCKET && req.transport != ROOM_EIO_POLLING) ||
        (req.protocol != 4 && !(req.protocol == 3 && eio->cfg.allow_eio3)))
        return ROOM_EINVAL;
    rc = heartbeat_frame(eio, req.protocol == 3);
    if (rc)
        return rc;
    s = sio_calloc(&eio->alloc, sizeof *s);
    if (!s)
        return ROOM_ENOMEM;
    rc = prepare(eio, s, &req);
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
    if (eio->cfg.message) {
        if (eio->cfg.session_open)
            eio->cfg.session_open(eio, s, eio->cfg.user_data);
    } else if (s->eio3) {
        eio->now = now_ms;
        rc = sio_connect_root_v2(eio, s);
        if (rc < 0) {
            room_eio_close(eio, s, "server error");
            return rc;
        }
    }
    *session_out = s;
    return 0;
}

json_t *sio_handshake(const room_eio_session *s)
{
    if (s->wait && s->wait->handshake)
        return s->wait->handshake;
    return s->rare ? s->rare->handshake : NULL;
}

void sio_session_free(room_eio *eio, room_eio_session *s)
{
    sio_binary_drop(eio, s);
    sio_connect_wait_end(eio, s);
    sio_probe_end(eio, s, false, NULL);
    sio_list_unlink(&s->hb);
    sio_index_remove(eio, s);
    if (s->rare)
        json_decref(s->rare->handshake);
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
    if (!s->rare) {
        rare->binary = NULL;
        rare->probe = NULL;
        rare->handshake = NULL;
    }
    memset(rare->extra + old, 0, (want - old) * sizeof rare->extra[0]);
    rare->nextra = (uint16_t)want;
    s->rare = rare;
    return 0;
}

void sio_rare_trim(room_eio *eio, room_eio_session *s)
{
    eio_rare *rare = s->rare;
    size_t i;
    if (!rare || rare->binary || rare->probe || rare->handshake)
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
    /* The probe WebSocket has no session left to upgrade. */
    sio_probe_end(eio, s, true, "session closed");
    if (eio->cfg.message && eio->cfg.session_close)
        eio->cfg.session_close(eio, s, reason, eio->cfg.user_data);
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
    /* A CONNECT that waits for the cluster has no one to answer now. */
    for (i = 0; s->resuming && i < eio->nnsp; i++)
        room_conn_open_cancel(eio->nsps[i]->hub, s);
    sio_session_free(eio, s);
}

int room_eio_recv(room_eio *eio, room_eio_session *s, int kind, const void *bytes, size_t len,
                  uint64_t now_ms)
{
    const uint8_t *p = bytes;

    if (!eio || !s || (!bytes && len) || (kind != ROOM_FRAME_TEXT && kind != ROOM_FRAME_BINARY))
        return ROOM_EINVAL;
    if (s->closing)
        return ROOM_ECLOSED;
    eio->now = now_ms;
    /* A v3 binary WebSocket message starts with its packet type, which
     * can only be a message (4). */
    if (s->eio3 && kind == ROOM_FRAME_BINARY) {
        if (len == 0 || p[0] != 4)
            return sio_violation(eio, s, "invalid Engine.IO packet");
        p++;
        len--;
    }
    if (kind == ROOM_FRAME_TEXT && len > 0 && p[0] == 'b')
        return sio_recv_base64(eio, s, p, len);
    return sio_recv_engine(eio, s, kind, p, len);
}

int sio_recv_engine(room_eio *eio, room_eio_session *s, int kind, const uint8_t *p, size_t len)
{
    bool pending;

    if (len > eio->max_payload) {
        sio_shut(eio, s, ROOM_CLOSE_MESSAGE_TOO_BIG, "message exceeds maxPayload");
        return ROOM_EPROTO;
    }
    if (eio->cfg.message && kind == ROOM_FRAME_BINARY) {
        eio->cfg.message(eio, s, ROOM_FRAME_BINARY, p, len, eio->cfg.user_data);
        return 0;
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
    case '2': /* ping: only v3 clients ping */
        if (len != 1 || !s->eio3)
            break;
        return sio_heartbeat_ping(eio, s, eio->now);
    case '3': /* pong: only v4 clients answer pings */
        if (len != 1 || s->eio3)
            break;
        sio_heartbeat_pong(eio, s, eio->now);
        return 0;
    case '4': /* message */
        if (eio->cfg.message) {
            eio->cfg.message(eio, s, ROOM_FRAME_TEXT, p + 1, len - 1, eio->cfg.user_data);
            return 0;
        }
        return sio_recv_packet(eio, s, p + 1, len - 1);
    case '6': /* noop */
        if (len != 1)
            break;
        return 0;
    default:
        /* Includes "5": upgrades come through room_eio_upgrade_recv(). */
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

int room_eio_session_transport_kind(const room_eio_session *session)
{
    return session && session->polling ? ROOM_EIO_POLLING : ROOM_EIO_WEBSOCKET;
}

int room_eio_session_protocol(const room_eio_session *session)
{
    return session && session->eio3 ? 3 : 4;
}
