/* A connection's life: HANDSHAKE (HTTP requests are coming; PARKED while
 * a long-poll waits), OPEN (frames both ways), CLOSING (the close frame or
 * the last response is queued; the rest is written, then FIN, then the
 * peer's FIN or the close deadline), DONE (the host closes the socket and
 * frees the connection). */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ws_internal.h"

static rm_ws_list *timed(room_ws *ws, int state)
{
    return state == RM_WS_HANDSHAKE || state == RM_WS_CLOSING ? &ws->timed[state == RM_WS_CLOSING] : NULL;
}

void rm_ws_move(room_ws_conn *c, int state)
{
    room_ws *ws = c->ws;
    rm_ws_side *s = c->side;
    rm_ws_list *l = timed(ws, c->state);

    if (l) {
        *(s->prev ? &s->prev->next : &l->head) = s->next;
        *(s->next ? &s->next->prev : &l->tail) = s->prev;
    }
    if (c->state == RM_WS_OPEN && state != RM_WS_OPEN) {
        ws->stats.connections--;
        if (c->flags & RM_WS_PROBE)
            rm_ws_poll_probe_end(c);
    }
    if (c->state == RM_WS_PARKED && state != RM_WS_PARKED)
        rm_ws_poll_unpark(c, state == RM_WS_DONE);
    if (c->state == RM_WS_HANDSHAKE && state != RM_WS_HANDSHAKE)
        rm_ws_poll_posted(c);
    if ((c->state == RM_WS_HANDSHAKE || c->state == RM_WS_PARKED) && state != RM_WS_HANDSHAKE &&
        state != RM_WS_PARKED) {
        free(s->request);
        s->request = NULL;
        s->request_len = 0;
    }
    if (state == RM_WS_OPEN && c->state != RM_WS_OPEN) {
        ws->stats.connections++;
        /* The upgrade request counts as the first sign of life. */
        c->flags |= RM_WS_HEARD;
        if (s) {
            free(s->reason);
            free(s);
            c->side = NULL;
        }
    } else if (!s && (s = c->side = calloc(1, sizeof *s)) != NULL) {
        s->conn = c;
    } else if (!s) {
        /* No deadline can be kept: hang up now. */
        state = RM_WS_DONE;
    }
    c->state = (uint8_t)state;
    if ((l = timed(ws, state)) != NULL) {
        s->deadline = ws->now + (state == RM_WS_HANDSHAKE ? ws->cfg.handshake_timeout_ms : ws->cfg.close_timeout_ms);
        s->next = NULL;
        s->prev = l->tail;
        *(l->tail ? &l->tail->next : &l->head) = s;
        l->tail = s;
    }
}

void rm_ws_work(room_ws_conn *c)
{
    room_ws *ws = c->ws;
    if (c->flags & RM_WS_WORK)
        return;
    c->flags |= RM_WS_WORK;
    c->work_next = NULL;
    *(ws->work_tail ? &ws->work_tail->work_next : &ws->work) = c;
    ws->work_tail = c;
}

/* Once the connection has left OPEN (it has a side, but for want of
 * memory: then the session ends without a reason). */
static void set_reason(room_ws_conn *c, const char *why)
{
    if (!c->side)
        return;
    free(c->side->reason);
    c->side->reason = why ? strdup(why) : NULL;
}

void rm_ws_closing(room_ws_conn *c, const char *why)
{
    if (c->state != RM_WS_OPEN)
        return;
    rm_ws_move(c, RM_WS_CLOSING);
    set_reason(c, why);
    rm_ws_work(c);
}

void rm_ws_close(room_ws_conn *c, int code, const char *reason)
{
    if (c->state != RM_WS_OPEN)
        return;
    if (rm_ws_queue_close(c, code, reason) != 0) {
        rm_ws_abort(c, reason);
        return;
    }
    rm_ws_closing(c, reason);
}

void rm_ws_abort(room_ws_conn *c, const char *why)
{
    int was = c->state;
    if (was == RM_WS_DONE)
        return;
    rm_ws_move(c, RM_WS_DONE);
    if (was != RM_WS_CLOSING)
        set_reason(c, why);
    rm_ws_work(c);
}

static void core_close(room_ws_conn *c)
{
    const rm_ws_mount *m = rm_ws_conn_mount(c);
    const char *reason = c->side ? c->side->reason : NULL;
    c->flags &= ~RM_WS_CORE;
    rm_ws_log_close(c->ws, m->eio ? room_eio_session_id(c->core.session) : room_conn_id(c->core.conn), reason);
    if (m->eio)
        room_eio_close(m->eio, c->core.session, reason);
    else
        room_conn_close(m->hub, c->core.conn, reason);
}

void rm_ws_settle(room_ws_conn *c)
{
    /* Requests that waited behind a parked poll, now answered. */
    if (c->state == RM_WS_HANDSHAKE && c->side->request) {
        rm_ws_request_input(c, NULL, 0);
        return;
    }
    if (c->state != RM_WS_CLOSING && c->state != RM_WS_DONE)
        return;
    if (c->flags & RM_WS_CORE)
        core_close(c);
    else if (c->ws->resuming)
        rm_ws_resume_cancel(c);
    rm_ws_parser_drop(c);
}

int room_ws_conn_new(room_ws *ws, void *host, uint64_t now_ms, room_ws_conn **conn_out)
{
    room_ws_conn *c;
    if (!conn_out)
        return ROOM_EINVAL;
    *conn_out = NULL;
    if (!ws)
        return ROOM_EINVAL;
    if (ws->nconns == ws->capconns) {
        size_t cap = ws->capconns ? 2 * ws->capconns : 64;
        room_ws_conn **p = realloc(ws->conns, cap * sizeof *p);
        if (!p)
            return ROOM_ENOMEM;
        ws->conns = p;
        ws->capconns = cap;
    }
    if (!(c = calloc(1, sizeof *c)))
        return ROOM_ENOMEM;
    if (!(c->side = calloc(1, sizeof *c->side))) {
        free(c);
        return ROOM_ENOMEM;
    }
    if (now_ms > ws->now)
        ws->now = now_ms;
    c->tag = RM_WS_TAG_CONN;
    c->ws = ws;
    c->host = host;
    c->side->conn = c;
    /* From DONE, which has no list, to start the handshake deadline. */
    c->state = RM_WS_DONE;
    rm_ws_move(c, RM_WS_HANDSHAKE);
    c->slot = (uint32_t)ws->nconns;
    ws->conns[ws->nconns++] = c;
    *conn_out = c;
    return 0;
}

void room_ws_conn_free(room_ws_conn *c)
{
    room_ws *ws;
    room_ws_conn *prev = NULL, *it;

    if (!c)
        return;
    ws = c->ws;
    if (c->flags & RM_WS_CORE)
        core_close(c);
    else if (ws->resuming)
        rm_ws_resume_cancel(c);
    if (c->flags & RM_WS_WORK) {
        for (it = ws->work; it != c; it = it->work_next)
            prev = it;
        *(prev ? &prev->work_next : &ws->work) = c->work_next;
        if (ws->work_tail == c)
            ws->work_tail = prev;
    }
    /* Off its deadline list (and keeps the open count right). */
    rm_ws_move(c, RM_WS_DONE);
    rm_ws_parser_drop(c);
    rm_ws_queue_release(c, false);
    if (c->side) {
        free(c->side->reason);
        free(c->side);
    }
    /* The last connection takes its slot. */
    ws->conns[c->slot] = ws->conns[--ws->nconns];
    ws->conns[c->slot]->slot = c->slot;
    free(c);
}

void *room_ws_conn_host(const room_ws_conn *c)
{
    return c ? c->host : NULL;
}

int room_ws_conn_set_peer(room_ws_conn *c, const struct sockaddr *addr, size_t len)
{
    const void *ip;
    if (!c || !addr || c->state != RM_WS_HANDSHAKE || c->side->request)
        return ROOM_EINVAL;
    if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
        ip = &((const struct sockaddr_in *)(const void *)addr)->sin_addr;
    else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
        ip = &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;
    else
        return ROOM_EINVAL;
    return inet_ntop(addr->sa_family, ip, c->side->peer, sizeof c->side->peer) ? 0 : ROOM_EINVAL;
}

void room_ws_conn_input(room_ws_conn *c, const void *bytes, size_t len, uint64_t now_ms)
{
    if (!c || !len)
        return;
    if (now_ms > c->ws->now)
        c->ws->now = now_ms;
    /* Any byte is a sign of life for the keepalive (keepalive.c). */
    c->flags = (uint8_t)((c->flags | RM_WS_HEARD) & ~RM_WS_PINGED);
    if (c->state == RM_WS_HANDSHAKE || c->state == RM_WS_PARKED)
        rm_ws_request_input(c, bytes, len);
    else if (c->state == RM_WS_OPEN)
        rm_ws_input(c, bytes, len);
    /* Closing: what the peer still sends is moot. */
}

void room_ws_conn_eof(room_ws_conn *c)
{
    if (!c)
        return;
    /* Half a request, then FIN: answered as Node's HTTP server does. */
    if (c->state == RM_WS_HANDSHAKE && c->side->request)
        rm_ws_request_eof(c);
    if (c->state == RM_WS_CLOSING) {
        /* Finish writing (the peer may still read), then hang up. */
        c->flags |= RM_WS_EOF;
        rm_ws_work(c);
    } else {
        rm_ws_abort(c, "transport close");
    }
}

void room_ws_conn_error(room_ws_conn *c)
{
    if (c)
        rm_ws_abort(c, "transport error");
}

unsigned room_ws_conn_wants(room_ws_conn *c)
{
    if (!c || c->state == RM_WS_DONE)
        return ROOM_WS_WANT_CLOSE;
    if (c->out)
        return ROOM_WS_WANT_WRITE;
    if (c->state != RM_WS_CLOSING)
        return 0;
    if (c->flags & RM_WS_EOF) {
        rm_ws_move(c, RM_WS_DONE);
        return ROOM_WS_WANT_CLOSE;
    }
    if (c->flags & RM_WS_SHUT)
        return 0; /* until the peer's FIN or the close deadline */
    c->flags |= RM_WS_SHUT;
    return ROOM_WS_WANT_SHUTDOWN;
}
