/* Requests to an Engine.IO mount that are not WebSocket upgrades, checked
 * in the order of engine.io's Server.verify() and answered as it answers:
 * the CORS preflight, then transport, origin, sid, method, protocol; an
 * error is 400 (403 for "Forbidden") with {"code":N,"message":"..."}. */
#include <stdio.h>
#include <string.h>

#include "ws_internal.h"

static const char *const messages[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method",
    "Bad request", "Forbidden", "Unsupported protocol version",
};

void rm_ws_eio_error(room_ws_conn *c, const rm_ws_request *r, int code, bool keep_alive)
{
    char body[96];
    c->ws->stats.handshake_failures++;
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, messages[code]);
    if (rm_ws_respond(c, r, code == RM_EIO_FORBIDDEN ? 403 : 400, "application/json", NULL, body, (size_t)n,
                      keep_alive) != 0) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    rm_ws_request_done(c, keep_alive);
}

/* The `cors` package's answer to a preflight: 204, the methods it allows
 * by default, the request headers the browser asks for echoed. */
static void preflight(room_ws_conn *c, const rm_ws_request *r)
{
    char extra[RM_WS_MAX_REQUEST + 128];
    size_t n = 0;

    if (r->cors) {
        n = (size_t)snprintf(extra, sizeof extra, "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
        if (r->request_headers.p)
            n += (size_t)snprintf(extra + n, sizeof extra - n,
                                  "Access-Control-Allow-Headers: %.*s\r\nVary: Access-Control-Request-Headers\r\n",
                                  (int)r->request_headers.len, r->request_headers.p);
    }
    /* The head is at most 8 KiB: the echo fits, and a cut one ends here. */
    extra[n < sizeof extra ? n : sizeof extra - 1] = '\0';
    if (rm_ws_respond(c, r, 204, NULL, extra, NULL, 0, r->keep_alive) != 0) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    rm_ws_request_done(c, r->keep_alive);
}

void rm_ws_eio_request(room_ws_conn *c, const rm_ws_request *r)
{
    const rm_ws_mount *m = c->ws->mounts[r->mount];
    rm_ws_span transport = rm_ws_query_get(r->query, "transport");
    rm_ws_span sid = rm_ws_query_get(r->query, "sid");
    bool keep = r->keep_alive;
    room_eio_session *s;
    rm_ws_poll *p;

    /* Without CORS configured, as Socket.IO without its cors option, a
     * preflight is one more request that is not a handshake. */
    if (r->method == RM_HTTP_OPTIONS && m->cors) {
        preflight(c, r);
        return;
    }
    if (!((rm_ws_span_is(transport, "polling") && (m->transports & ROOM_WS_TRANSPORT_POLLING)) ||
          (rm_ws_span_is(transport, "websocket") && (m->transports & ROOM_WS_TRANSPORT_WEBSOCKET)))) {
        rm_ws_eio_error(c, r, RM_EIO_UNKNOWN_TRANSPORT, keep);
        return;
    }
    if (!r->origin_ok) {
        rm_ws_eio_error(c, r, RM_EIO_FORBIDDEN, keep);
        return;
    }
    if (sid.p) {
        /* A session ending (not to linger) is as good as gone. */
        if (!(s = room_eio_session_find(m->eio, sid.p, sid.len)) ||
            (*(const uint8_t *)room_eio_session_transport(s) == RM_WS_TAG_POLL &&
             rm_ws_poll_gone(room_eio_session_transport(s)))) {
            rm_ws_eio_error(c, r, RM_EIO_UNKNOWN_SID, keep);
            return;
        }
        p = room_eio_session_transport(s);
        /* A session on a WebSocket now, or a websocket request without
         * the upgrade: engine.io's TRANSPORT_MISMATCH. */
        if (!rm_ws_span_is(transport, "polling") || room_eio_session_transport_kind(s) != ROOM_EIO_POLLING ||
            p->tag != RM_WS_TAG_POLL || (r->method != RM_HTTP_GET && r->method != RM_HTTP_POST)) {
            rm_ws_eio_error(c, r, RM_EIO_BAD_REQUEST, keep);
            return;
        }
        if (r->method == RM_HTTP_GET)
            rm_ws_poll_get(c, r, p);
        else
            rm_ws_poll_post(c, r, p);
        return;
    }
    if (r->method != RM_HTTP_GET) {
        rm_ws_eio_error(c, r, RM_EIO_BAD_HANDSHAKE_METHOD, keep);
        return;
    }
    if (!rm_ws_span_is(transport, "polling")) {
        rm_ws_eio_error(c, r, RM_EIO_BAD_REQUEST, keep);
        return;
    }
    if (!rm_ws_eio_protocol(r)) {
        rm_ws_eio_error(c, r, RM_EIO_UNSUPPORTED_PROTOCOL, keep);
        return;
    }
    /* room_ws_close_all() has run: no new sessions. */
    if (c->ws->shutting) {
        c->ws->stats.handshake_failures++;
        rm_ws_refuse(c, r, 503, "server shutting down\n");
        return;
    }
    rm_ws_poll_open(c, r);
}
