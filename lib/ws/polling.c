/* HTTP long-polling, Engine.IO's "polling" transport.
 *
 * A polling session's transport is an rm_ws_poll, not a connection: its
 * client comes and goes over any number of HTTP requests, on any
 * connections. It holds (by reference) the frames the eio sends it until
 * the client polls. A GET with nothing to take parks its connection
 * (PARKED) until there is; a POST's body goes to the eio. A close the eio
 * asks for in good order is delivered as what is held, then a close
 * packet in a later response, to the GETs that come within
 * close_timeout_ms; after that the session just ends. A session whose
 * client left ends at once (a parked GET gets the close packet).
 *
 * Upgrade: a WebSocket with ?sid= probes (its messages go to
 * room_eio_upgrade_recv()); once upgraded, the frames still held move to
 * the WebSocket's queue ahead of anything later, and the rm_ws_poll goes.
 *
 * Nothing here calls into the eio from its callbacks (send, close): they
 * only buffer and put the rm_ws_poll on ws->poll_work, which
 * rm_ws_polls_run() serves from room_ws_run() and room_ws_ready(). */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

enum {
    POLL_WORK = 1u << 0,    /* on ws->poll_work */
    POLL_CLOSING = 1u << 1, /* the eio asked to close: the next GET takes the close packet */
};

static const char *const no_store = "Cache-Control: no-store\r\n";

static void work(rm_ws_poll *p)
{
    if (p->flags & POLL_WORK)
        return;
    p->flags |= POLL_WORK;
    p->work_next = p->ws->poll_work;
    p->ws->poll_work = p;
}

static rm_ws_poll *poll_new(room_ws *ws, int mount)
{
    rm_ws_poll *p;
    if (ws->npolls == ws->cappolls) {
        size_t cap = ws->cappolls ? 2 * ws->cappolls : 16;
        rm_ws_poll **a = realloc(ws->polls, cap * sizeof *a);
        if (!a)
            return NULL;
        ws->polls = a;
        ws->cappolls = cap;
    }
    if (!(p = calloc(1, sizeof *p)))
        return NULL;
    p->tag = RM_WS_TAG_POLL;
    p->ws = ws;
    p->mount = (uint8_t)mount;
    p->slot = (uint32_t)ws->npolls;
    ws->polls[ws->npolls++] = p;
    ws->stats.polling_sessions++;
    return p;
}

/* Drops the frames held (sent, moved or dropped). */
static void frames_release(rm_ws_poll *p)
{
    uint32_t i;
    for (i = 0; i < p->nframes; i++)
        room_frame_unref(p->frames[i]);
    /* A session waiting for its next poll, as most are, holds no array. */
    free(p->frames);
    p->frames = NULL;
    p->nframes = p->capframes = 0;
    p->ws->stats.bytes_pending -= p->pending;
    p->pending = 0;
}

static void poll_free(rm_ws_poll *p)
{
    room_ws *ws = p->ws;
    rm_ws_poll **at;

    if (p->post)
        rm_ws_poll_posted(p->post);
    if (p->flags & POLL_WORK) {
        for (at = &ws->poll_work; *at != p; at = &(*at)->work_next)
            ;
        *at = p->work_next;
    }
    frames_release(p);
    free(p->reason);
    ws->polls[p->slot] = ws->polls[--ws->npolls];
    ws->polls[p->slot]->slot = p->slot;
    ws->stats.polling_sessions--;
    free(p);
}

static size_t chain_bytes(const room_frame *frame)
{
    const room_frame *f;
    size_t n = 0, len;
    for (f = frame; f; f = room_frame_next(f)) {
        room_frame_payload(f, &len);
        n += len;
    }
    return n;
}

static bool is_noop(const room_frame *frame)
{
    size_t len;
    const uint8_t *b = room_frame_payload(frame, &len);
    return !room_frame_next(frame) && room_frame_kind(frame) == ROOM_FRAME_TEXT && len == 1 && b[0] == '6';
}

int rm_ws_poll_send(rm_ws_poll *p, room_frame *frame)
{
    room_ws *ws = p->ws;
    size_t bytes = chain_bytes(frame);
    bool total_full;

    if (p->flags & POLL_CLOSING)
        return ROOM_ECLOSED;
    /* The noop that releases a poll during an upgrade matters only to a
     * parked GET (a later one gets its own): held, it would reach the
     * WebSocket after the upgrade. */
    if (!p->get && is_noop(frame))
        return 0;
    if (!ws->ticking)
        ws->tick_due = true;
    /* The same policy as a WebSocket's queue (output.c). */
    total_full = ws->stats.bytes_pending + bytes > ws->cfg.max_total_queued_bytes;
    if (total_full || p->pending + bytes > ws->cfg.max_queued_bytes) {
        ws->stats.total_full += total_full;
        if (ws->cfg.slow_policy == ROOM_WS_SLOW_DROP) {
            ws->stats.frames_dropped++;
            return 0;
        }
        ws->stats.slow_closes++;
        room_ws_logf(ws, ROOM_LOG_WARN, "slow consumer %s closed: %zu bytes held", room_eio_session_id(p->session),
                     p->pending);
        frames_release(p);
        rm_ws_poll_close(p, "slow consumer", false);
        return ROOM_ECLOSED;
    }
    if (p->nframes == p->capframes) {
        uint32_t cap = p->capframes ? 2 * p->capframes : 4;
        room_frame **a = realloc(p->frames, cap * sizeof *a);
        if (!a)
            return ROOM_ENOMEM;
        p->frames = a;
        p->capframes = cap;
    }
    p->frames[p->nframes++] = room_frame_ref(frame);
    p->pending += bytes;
    ws->stats.bytes_pending += bytes;
    ws->stats.bytes_queued += bytes;
    if (p->get)
        work(p);
    return 0;
}

void rm_ws_poll_close(rm_ws_poll *p, const char *reason, bool linger)
{
    if (p->flags & POLL_CLOSING)
        return;
    p->flags |= POLL_CLOSING;
    /* Without memory for the reason the session ends without one. */
    p->reason = strdup(reason ? reason : "");
    /* A probing WebSocket is ended by the eio when the session ends. */
    p->deadline = p->ws->now + (linger ? p->ws->cfg.close_timeout_ms : 0);
    work(p);
}

bool rm_ws_poll_gone(const rm_ws_poll *p)
{
    return (p->flags & POLL_CLOSING) && p->deadline <= p->ws->now;
}

/* A packet of our own ("1" close, "6" noop) as a frame the payload
 * encoder takes; the caller owns it. */
static room_frame *packet(const rm_ws_poll *p, const char *text)
{
    return room_frame_new(room_eio_hub(p->ws->mounts[p->mount]->eio, "/"), ROOM_FRAME_TEXT, text, 1);
}

/* Answers GET `c` with everything held, then `extra` ("1", "6" or NULL). */
static int answer(rm_ws_poll *p, room_ws_conn *c, const char *origin, size_t origin_len, bool keep_alive,
                  const char *extra)
{
    room_ws *ws = p->ws;
    const rm_ws_mount *m = ws->mounts[p->mount];
    room_frame *own = NULL;
    const char *type = NULL;
    int rc;

    if (extra) {
        if (!(own = packet(p, extra)))
            return ROOM_ENOMEM;
        if (p->nframes == p->capframes) {
            room_frame **a = realloc(p->frames, (p->capframes + 1) * sizeof *a);
            if (!a) {
                room_frame_unref(own);
                return ROOM_ENOMEM;
            }
            p->frames = a;
            p->capframes++;
        }
        p->frames[p->nframes] = own;
    }
    if (!ws->body && room_buf_new(&ws->body, NULL) != 0)
        rc = ROOM_ENOMEM;
    else
        rc = room_eio_payload_encode(p->session, p->frames, p->nframes + (own != NULL), ws->body, &type);
    room_frame_unref(own);
    if (rc == 0)
        rc = rm_ws_respond_to(c, m, origin, origin_len, 200, type, no_store, room_buf_data(ws->body),
                              room_buf_len(ws->body), keep_alive);
    if (ws->body)
        room_buf_reset(ws->body);
    if (rc != 0)
        return rc;
    frames_release(p);
    return 0;
}

/* Answers the parked GET, which then leaves PARKED. */
static void answer_parked(rm_ws_poll *p, const char *extra)
{
    room_ws_conn *c = p->get;
    rm_ws_side *s = c->side;
    bool keep = s->keep_alive;

    if (answer(p, c, s->origin, s->origin ? strlen(s->origin) : 0, keep, extra) != 0) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    rm_ws_request_done(c, keep);
    /* Requests pipelined behind it are served from the work list. */
    rm_ws_work(c);
}

/* The session ends: its parked GET gets the close packet first. */
static void end(rm_ws_poll *p)
{
    room_ws *ws = p->ws;
    const rm_ws_mount *m = ws->mounts[p->mount];
    room_eio_session *session = p->session;
    char *reason = p->reason;
    room_ws_conn *probe = p->probe, *post = p->post;

    if (p->get)
        answer_parked(p, "1");
    /* engine.io destroys a data request still coming. */
    if (post) {
        rm_ws_poll_posted(post);
        rm_ws_abort(post, "transport error");
    }
    /* The eio closes the probe inside room_eio_close() (close callback);
     * detached first, it finds no rm_ws_poll there. */
    if (probe)
        rm_ws_probe_detach(probe);
    p->reason = NULL;
    poll_free(p);
    rm_ws_log_close(ws, room_eio_session_id(session), reason);
    room_eio_close(m->eio, session, reason);
    if (probe)
        rm_ws_close(probe, ROOM_CLOSE_NORMAL, reason);
    free(reason);
}

uint64_t rm_ws_polls_run(room_ws *ws)
{
    rm_ws_poll *p, *waiting = NULL;
    uint64_t due = 0;

    while ((p = ws->poll_work) != NULL) {
        ws->poll_work = p->work_next;
        p->flags &= ~POLL_WORK;
        if (p->flags & POLL_CLOSING) {
            /* Lingering, what is held goes first, in a response of its own:
             * engine.io sends the close packet once its buffer drained, and
             * a client handles a payload's messages a tick after a close
             * in the same payload (socket.io-client drops them). */
            if (p->get && p->nframes && p->deadline > ws->now)
                answer_parked(p, NULL);
            else if (p->get || p->deadline <= ws->now) {
                end(p);
                continue;
            }
            /* Until the next GET or the deadline. */
            p->flags |= POLL_WORK;
            p->work_next = waiting;
            waiting = p;
            if (!due || p->deadline < due)
                due = p->deadline;
        } else if (p->get && p->nframes) {
            answer_parked(p, NULL);
        }
    }
    ws->poll_work = waiting;
    return due;
}

void rm_ws_polls_free(room_ws *ws)
{
    while (ws->npolls) {
        rm_ws_poll *p = ws->polls[ws->npolls - 1];
        room_eio_session *session = p->session;
        const rm_ws_mount *m = ws->mounts[p->mount];
        if (p->probe)
            rm_ws_probe_detach(p->probe);
        poll_free(p);
        room_eio_close(m->eio, session, "server shutting down");
    }
    free(ws->polls);
    room_buf_free(ws->body);
}

/* ---- requests ------------------------------------------------------------- */

static rm_ws_poll *poll_of(const room_ws *ws, const rm_ws_request *r)
{
    const rm_ws_mount *m = r->mount >= 0 ? ws->mounts[r->mount] : NULL;
    rm_ws_span sid = rm_ws_query_get(r->query, "sid");
    room_eio_session *s;
    rm_ws_poll *p;

    if (!m || !m->eio || !sid.p || !(s = room_eio_session_find(m->eio, sid.p, sid.len)))
        return NULL;
    p = room_eio_session_transport(s);
    return *(const uint8_t *)p == RM_WS_TAG_POLL ? p : NULL;
}

void rm_ws_poll_posting(room_ws_conn *c, const rm_ws_request *r)
{
    rm_ws_poll *p;
    if (c->side->posting || r->method != RM_HTTP_POST || !(p = poll_of(c->ws, r)) || p->post)
        return;
    p->post = c;
    c->side->posting = p;
}

void rm_ws_poll_posted(room_ws_conn *c)
{
    rm_ws_side *s = c->side;
    if (!s || !s->posting)
        return;
    s->posting->post = NULL;
    s->posting = NULL;
}

/* A bare 400, and the session closes (engine.io's onError). */
static void overlap(room_ws_conn *c, const rm_ws_request *r, rm_ws_poll *p)
{
    if (rm_ws_respond(c, r, 400, NULL, NULL, NULL, 0, r->keep_alive) != 0)
        rm_ws_abort(c, "out of memory");
    else
        rm_ws_request_done(c, r->keep_alive);
    rm_ws_poll_close(p, "transport error", false);
}


void rm_ws_poll_open(room_ws_conn *c, const rm_ws_request *r)
{
    room_ws *ws = c->ws;
    const rm_ws_mount *m = ws->mounts[r->mount];
    room_eio_request req;
    json_t *query = NULL, *handshake = NULL;
    rm_ws_poll *p;
    int rc;

    switch (room_query_parse(r->query.p, r->query.len, &query)) {
    case 0:
        break;
    case ROOM_ENOMEM:
        rm_ws_abort(c, "out of memory");
        return;
    default:
        rm_ws_eio_error(c, r, RM_EIO_BAD_REQUEST, r->keep_alive);
        return;
    }
    if (!(handshake = rm_ws_handshake_json(c, r, false)) || !(p = poll_new(ws, r->mount))) {
        json_decref(query);
        json_decref(handshake);
        rm_ws_abort(c, "out of memory");
        return;
    }
    room_eio_request_init(&req);
    req.transport = ROOM_EIO_POLLING;
    req.protocol = rm_ws_eio_protocol(r);
    req.no_upgrade = !(m->transports & ROOM_WS_TRANSPORT_WEBSOCKET);
    req.query = query;
    req.handshake = handshake;
    rc = room_eio_accept(m->eio, p, &req, ws->now, &p->session);
    json_decref(query);
    json_decref(handshake);
    if (rc != 0) {
        poll_free(p);
        rm_ws_eio_error(c, r, rc == ROOM_EINVAL && req.protocol != 4 ? RM_EIO_UNSUPPORTED_PROTOCOL : RM_EIO_BAD_REQUEST,
                        r->keep_alive);
        return;
    }
    ws->tick_due = true;
    rm_ws_log_open(ws, "polling", room_eio_session_id(p->session), c->side->peer, m->path);
    /* The open packet is the handshake's answer. */
    if (answer(p, c, r->cors ? r->origin.p : NULL, r->origin.len, r->keep_alive, NULL) != 0) {
        rm_ws_abort(c, "out of memory");
        rm_ws_poll_close(p, "transport error", false);
        return;
    }
    rm_ws_request_done(c, r->keep_alive);
}

void rm_ws_poll_get(room_ws_conn *c, const rm_ws_request *r, rm_ws_poll *p)
{
    const char *extra = NULL;
    rm_ws_side *s;

    if (p->get) {
        /* engine.io: "overlap from client": this GET gets a bare 400, the
         * session closes, and the parked GET takes the close packet. */
        overlap(c, r, p);
        return;
    }
    /* Closing: the close packet, once nothing is held (see rm_ws_polls_run()). */
    if ((p->flags & POLL_CLOSING) && !p->nframes)
        extra = "1";
    else if (!p->nframes && room_eio_session_upgrading(p->session))
        extra = "6"; /* release the client to finish its upgrade */
    if (extra || p->nframes) {
        if (answer(p, c, r->cors ? r->origin.p : NULL, r->origin.len, r->keep_alive, extra) != 0) {
            rm_ws_abort(c, "out of memory");
            return;
        }
        rm_ws_request_done(c, r->keep_alive);
        if (extra && extra[0] == '1')
            p->deadline = c->ws->now; /* delivered: end it now */
        return;
    }
    /* Park: the response leaves when there is something to take. */
    s = c->side;
    if (r->cors && !(s->origin = strndup(r->origin.p, r->origin.len))) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    s->keep_alive = r->keep_alive;
    s->poll = p;
    p->get = c;
    rm_ws_move(c, RM_WS_PARKED);
}

void rm_ws_poll_post(room_ws_conn *c, const rm_ws_request *r, rm_ws_poll *p)
{
    room_ws *ws = c->ws;
    const rm_ws_mount *m = ws->mounts[r->mount];
    bool binary = r->content_type.len >= 24 && memcmp(r->content_type.p, "application/octet-stream", 24) == 0;

    /* "data request overlap from client"; a binary body for v4, "invalid
     * content". */
    if ((p->post && p->post != c) || (binary && room_eio_session_protocol(p->session) == 4)) {
        overlap(c, r, p);
        return;
    }

    /* A closing session takes nothing more. */
    if (!(p->flags & POLL_CLOSING)) {
        room_eio_recv_payload(m->eio, p->session, r->body, (size_t)r->content_length, binary, ws->now);
        ws->tick_due = true; /* the packets may have moved a deadline */
    }
    /* text/html, as engine.io, against download dialogs (its GH-43). */
    if (rm_ws_respond(c, r, 200, "text/html", no_store, "ok", 2, r->keep_alive) != 0) {
        rm_ws_abort(c, "out of memory");
        return;
    }
    rm_ws_request_done(c, r->keep_alive);
}

void rm_ws_poll_too_large(room_ws_conn *c, const rm_ws_request *r)
{
    rm_ws_poll *p = poll_of(c->ws, r);
    if (p)
        rm_ws_poll_close(p, "transport error", false);
    /* The body is not read: this connection cannot go on. */
    if (rm_ws_respond(c, r, 413, NULL, NULL, NULL, 0, false) != 0)
        rm_ws_abort(c, "out of memory");
    else
        rm_ws_request_done(c, false);
}

void rm_ws_poll_unpark(room_ws_conn *c, bool gone)
{
    rm_ws_side *s = c->side;
    rm_ws_poll *p = s->poll;

    free(s->origin);
    s->origin = NULL;
    s->poll = NULL;
    if (!p)
        return;
    p->get = NULL;
    /* engine.io: "poll connection closed prematurely". */
    if (gone)
        rm_ws_poll_close(p, "transport error", false);
}

/* ---- upgrade -------------------------------------------------------------- */

static rm_ws_poll *probed(const room_ws_conn *c)
{
    return room_eio_session_transport(c->core.session);
}

void rm_ws_probe_detach(room_ws_conn *c)
{
    rm_ws_poll *p = c->core.session ? probed(c) : NULL;
    if (p && p->tag == RM_WS_TAG_POLL && p->probe == c)
        p->probe = NULL;
    c->core.session = NULL;
    c->flags &= ~RM_WS_PROBE;
}

void rm_ws_poll_probe_recv(room_ws_conn *c, int kind, const void *bytes, size_t len)
{
    room_ws *ws = c->ws;
    const rm_ws_mount *m = rm_ws_conn_mount(c);
    room_eio_session *session = c->core.session;
    rm_ws_poll *p = probed(c);
    uint32_t i;
    int rc;

    /* If this connection closes meanwhile (its "3probe" met the slow
     * consumer policy), the eio is told after the call, not inside it. */
    ws->probing = true;
    rc = room_eio_upgrade_recv(m->eio, session, c, kind, bytes, len, ws->now);
    ws->probing = false;
    if (rc == ROOM_EIO_PROBING) {
        if (c->state != RM_WS_OPEN)
            room_eio_upgrade_abort(m->eio, session, c);
        return;
    }
    if (rc != ROOM_EIO_UPGRADED) {
        /* The eio has let go of this WebSocket; the session goes on
         * polling (or is closing). */
        rm_ws_probe_detach(c);
        rm_ws_close(c, ROOM_CLOSE_POLICY_VIOLATION, "upgrade failed");
        return;
    }
    /* The session is this connection's now (and ends with it, if it
     * closed meanwhile); what the polling transport still holds goes
     * first, in order. */
    p->probe = NULL;
    c->core.session = session;
    c->flags = (uint8_t)((c->state == RM_WS_OPEN ? c->flags & ~RM_WS_PROBE : c->flags) | RM_WS_CORE);
    for (i = 0; i < p->nframes && c->state == RM_WS_OPEN; i++)
        rm_ws_send(c, p->frames[i]);
    frames_release(p);
    if (p->get)
        answer_parked(p, "6");
    poll_free(p);
    if (c->state != RM_WS_OPEN)
        rm_ws_work(c);
}

void rm_ws_poll_probe_end(room_ws_conn *c)
{
    room_eio_session *session = c->core.session;
    bool tell = !c->ws->probing;
    rm_ws_probe_detach(c);
    /* Gone on its own (EOF, an error, freed): the eio must forget it. */
    if (tell)
        room_eio_upgrade_abort(rm_ws_conn_mount(c)->eio, session, c);
}
