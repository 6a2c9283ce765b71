/* The opening handshake (RFC 6455 section 4.2): a request (parsed in
 * http.c) checked for its mount, answered 101 (and the session opened, or
 * a polling session's upgrade begun) or refused with a one-line reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nettle/base64.h>
#include <nettle/sha1.h>

#include "ws_internal.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* The key must be base64 of 16 bytes (RFC 6455 4.1). */
static bool key_valid(rm_ws_span key)
{
    struct base64_decode_ctx b64;
    uint8_t raw[BASE64_DECODE_LENGTH(24)];
    size_t n = sizeof raw;
    if (key.len != 24)
        return false;
    base64_decode_init(&b64);
    return base64_decode_update(&b64, &n, raw, key.len, key.p) && base64_decode_final(&b64) &&
           n == 16;
}

static void accept_key(rm_ws_span key, char out[RM_WS_ACCEPT_LEN + 1])
{
    struct sha1_ctx sha;
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_init(&sha);
    sha1_update(&sha, key.len, (const uint8_t *)key.p);
    sha1_update(&sha, sizeof WS_GUID - 1, (const uint8_t *)WS_GUID);
    sha1_digest(&sha, sizeof digest, digest);
    base64_encode_raw(out, sizeof digest, digest);
    out[RM_WS_ACCEPT_LEN] = '\0';
}

void rm_ws_refuse(room_ws_conn *c, const rm_ws_request *r, int status, const char *reason)
{
    if (rm_ws_respond(c, r, status, "text/plain", NULL, reason, strlen(reason), false) != 0) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    rm_ws_request_done(c, false);
}

/* The Engine.IO protocol of a request: 4, 3, or 0 for another value. */
int rm_ws_eio_protocol(const rm_ws_request *r)
{
    rm_ws_span v = rm_ws_query_get(r->query, "EIO");
    return rm_ws_span_is(v, "4") ? 4 : rm_ws_span_is(v, "3") ? 3 : 0;
}

/* Checks an upgrade request. Returns NULL and sets the Sec-WebSocket-Accept
 * value, the query parameters (a new object) and, for ?sid=, the polling
 * session to upgrade; or the reason (one line) to refuse it. */
static const char *check(room_ws_conn *c, const rm_ws_request *r, char accept[RM_WS_ACCEPT_LEN + 1],
                         json_t **query_out, rm_ws_poll **poll_out, int *status)
{
    const rm_ws_mount *m;
    rm_ws_span sid;

    *status = 400;
    if (r->method != RM_HTTP_GET)
        return "only GET can upgrade\n";
    /* room_ws_close_all() has run: no new sessions (the host may keep
     * answering its routes, a health check's 503, while it drains). */
    if (c->ws->shutting) {
        *status = 503;
        return "server shutting down\n";
    }
    if (!r->http11)
        return "HTTP/1.1 required\n";
    if (r->mount < 0)
        return "unknown path\n";
    m = c->ws->mounts[r->mount];
    if (!r->origin_ok) {
        *status = 403;
        return "origin not allowed\n";
    }
    if (m->eio) {
        if (!rm_ws_eio_protocol(r))
            return "unsupported protocol version\n";
        if (!rm_ws_span_is(rm_ws_query_get(r->query, "transport"), "websocket") ||
            !(m->transports & ROOM_WS_TRANSPORT_WEBSOCKET))
            return "unsupported transport\n";
        if ((sid = rm_ws_query_get(r->query, "sid")).p) {
            room_eio_session *s = room_eio_session_find(m->eio, sid.p, sid.len);
            rm_ws_poll *p = s ? room_eio_session_transport(s) : NULL;
            if (!s)
                return "session ID unknown\n";
            /* Already on a WebSocket, closing, or being upgraded. */
            if (room_eio_session_transport_kind(s) != ROOM_EIO_POLLING || p->tag != RM_WS_TAG_POLL ||
                p->probe || p->reason)
                return "Bad request\n";
            *poll_out = p;
        }
    }
    if (!r->upgrade || !r->connection_upgrade)
        return "websocket upgrade required\n";
    if (r->ws_versions != 1 || !rm_ws_span_is(r->ws_version, "13"))
        return "unsupported websocket version\n";
    if (r->keys != 1 || !key_valid(r->key))
        return "bad websocket key\n";
    switch (room_query_parse(r->query.p, r->query.len, query_out)) {
    case 0:
        break;
    case ROOM_ENOMEM:
        return "out of memory\n";
    default:
        return "malformed query\n";
    }
    accept_key(r->key, accept);
    return NULL;
}

static int respond_101(room_ws_conn *c, const rm_ws_request *r, const char *accept, bool front)
{
    char text[RM_WS_MAX_REQUEST + 256];
    const rm_ws_mount *m = c->ws->mounts[r->mount];
    size_t n = (size_t)snprintf(text, sizeof text,
                                "HTTP/1.1 101 Switching Protocols\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Accept: %s\r\n",
                                accept);
    if (r->cors)
        n += rm_ws_cors_headers(m, r->origin.p, r->origin.len, text + n, sizeof text - n - 2);
    memcpy(text + n, "\r\n", 2);
    n += 2;
    return front ? rm_ws_queue_front(c, text, n) : rm_ws_queue_bytes(c, text, n);
}

/* A new Engine.IO session on this WebSocket. The 101 goes in front of the
 * open packet once the eio has accepted: a protocol it refuses (EIO=3
 * without allow_eio3) gets a 400 instead. */
static void open_eio(room_ws_conn *c, const rm_ws_request *r, const char *accept, json_t *query,
                     json_t *handshake)
{
    const rm_ws_mount *m = c->ws->mounts[r->mount];
    room_eio_request req;
    int rc;

    room_eio_request_init(&req);
    req.transport = ROOM_EIO_WEBSOCKET;
    req.protocol = rm_ws_eio_protocol(r);
    req.query = query;
    req.handshake = handshake;
    rc = room_eio_accept(m->eio, c, &req, c->ws->now, &c->core.session);
    if (rc == ROOM_EINVAL && req.protocol != 4 && !c->out) {
        rm_ws_refuse(c, r, 400, "unsupported protocol version\n");
        return;
    }
    if (rc == 0)
        c->flags |= RM_WS_CORE;
    if (respond_101(c, r, accept, true) != 0)
        rm_ws_abort(c, "out of memory");
    else if (rc != 0)
        rm_ws_close(c, ROOM_CLOSE_INTERNAL_ERROR, room_strerror(rc));
}

/* What the open of a JSON connection gave. */
static void json_opened(room_ws_conn *c, int rc, json_t *refusal)
{
    if (rc == 0) {
        c->flags |= RM_WS_CORE;
    } else if (rc == ROOM_EDENIED) {
        const char *msg = json_string_value(json_object_get(refusal, "msg"));
        rm_ws_close(c, ROOM_CLOSE_POLICY_VIOLATION, msg ? msg : "connection refused");
    } else {
        rm_ws_close(c, ROOM_CLOSE_INTERNAL_ERROR, room_strerror(rc));
    }
    json_decref(refusal);
}

/* Recovery across nodes: the cluster answered for the connection whose
 * open waited (room_open_args.resume_wait). */
static void json_resume_ready(room_hub *hub, void *transport, void *ud)
{
    room_ws_conn *c = transport;
    json_t *refusal = NULL;
    int rc;
    (void)ud;
    c->ws->resuming--;
    rc = room_conn_open_pending(hub, c, &c->core.conn, &refusal);
    json_opened(c, rc, refusal);
    if (c->flags & RM_WS_CORE)
        rm_ws_log_open(c->ws, "websocket", room_conn_id(c->core.conn), "-",
                       rm_ws_conn_mount(c)->path);
    rm_ws_work(c);
}

void rm_ws_resume_cancel(room_ws_conn *c)
{
    const rm_ws_mount *m;
    if (c->mount >= c->ws->nmounts)
        return;
    m = rm_ws_conn_mount(c);
    if (!m->eio && m->hub && room_conn_open_cancel(m->hub, c) == 0)
        c->ws->resuming--;
}

static void open_json(room_ws_conn *c, const rm_ws_request *r, const char *accept, json_t *query,
                      json_t *handshake)
{
    const rm_ws_mount *m = c->ws->mounts[r->mount];
    room_open_args args;
    json_t *refusal = NULL;
    int rc;

    if (respond_101(c, r, accept, false) != 0) {
        rm_ws_abort(c, NULL);
        return;
    }
    room_open_args_init(&args);
    args.query = query;
    args.handshake = handshake;
    /* A pid another node holds: the session message waits for it. */
    args.resume_wait = json_resume_ready;
    rc = room_conn_open_with(m->hub, c, &args, &c->core.conn, &refusal);
    if (rc == ROOM_OPEN_PENDING) {
        c->ws->resuming++;
        return;
    }
    json_opened(c, rc, refusal);
}

void rm_ws_upgrade(room_ws_conn *c, const rm_ws_request *r, const uint8_t *rest, size_t rest_len)
{
    char accept[RM_WS_ACCEPT_LEN + 1], peer[RM_WS_PEER_LEN];
    json_t *query = NULL, *handshake = NULL;
    rm_ws_poll *p = NULL;
    const char *why;
    int status;

    if ((why = check(c, r, accept, &query, &p, &status)) != NULL) {
        c->ws->stats.handshake_failures++;
        room_ws_logf(c->ws, ROOM_LOG_DEBUG, "refused a websocket from %s at %.*s: %d %.*s",
                     c->side->peer[0] ? c->side->peer : "?", (int)(r->path.len < 200 ? r->path.len : 200), r->path.p,
                     status, (int)strcspn(why, "\n"), why);
        rm_ws_refuse(c, r, status, why);
        return;
    }
    /* For the log line: the side part goes when the connection opens. */
    memcpy(peer, c->side->peer, sizeof peer);
    /* Built while the side part (the peer's address) is still there. */
    if (!p && !(handshake = rm_ws_handshake_json(c, r, true))) {
        json_decref(query);
        rm_ws_refuse(c, r, 400, "out of memory\n");
        return;
    }
    if (!p && c->ws->mounts[r->mount]->prefix && (why = rm_ws_prefix_handshake(c, r, handshake)) != NULL) {
        json_decref(query);
        json_decref(handshake);
        rm_ws_refuse(c, r, 400, why);
        return;
    }
    c->mount = (uint8_t)r->mount;
    rm_ws_move(c, RM_WS_OPEN);
    if (p) {
        /* Probing: its messages go to the upgrade until it is done. */
        if (respond_101(c, r, accept, false) != 0) {
            rm_ws_abort(c, NULL);
        } else {
            c->core.session = p->session;
            c->flags |= RM_WS_PROBE;
            p->probe = c;
        }
    } else if (c->ws->mounts[r->mount]->eio) {
        open_eio(c, r, accept, query, handshake);
    } else {
        open_json(c, r, accept, query, handshake);
    }
    json_decref(query);
    json_decref(handshake);
    if (!p && (c->flags & RM_WS_CORE))
        rm_ws_log_open(c->ws, "websocket",
                       c->ws->mounts[r->mount]->eio ? room_eio_session_id(c->core.session) : room_conn_id(c->core.conn),
                       peer, c->ws->mounts[r->mount]->path);
    if (rest_len && c->state == RM_WS_OPEN)
        rm_ws_input(c, rest, rest_len);
}
