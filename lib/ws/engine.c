/* The engine: configuration, the work list that runs outside libroom's
 * callbacks, the hubs' clock and the connections' deadlines.
 *
 * Callbacks from the hub or eio (send, close) never call back into them:
 * they queue bytes, change state and put the connection on the work list.
 * room_ws_run() ends the sessions of closing connections there
 * (room_eio_close(), room_conn_close()) before the host takes the list
 * with room_ws_ready(), so that what their disconnect handlers send leaves
 * in the same write. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

void room_ws_logf(const room_ws *ws, int level, const char *fmt, ...)
{
    va_list ap;
    if (!ws)
        return;
    va_start(ap, fmt);
    room_vlogf(ws->cfg.log, ws->cfg.user_data, level, fmt, ap);
    va_end(ap);
}

void rm_ws_log_open(const room_ws *ws, const char *transport, const char *id, const char *peer, const char *path)
{
    room_ws_logf(ws, ROOM_LOG_DEBUG, "open %s %s from %s at %s", transport, id, peer[0] ? peer : "?", path);
}

void rm_ws_log_close(const room_ws *ws, const char *id, const char *reason)
{
    room_ws_logf(ws, ROOM_LOG_DEBUG, "close %s: %s", id, reason ? reason : "closed");
}

int room_ws_new(room_ws **ws_out, const room_ws_config *config)
{
    room_ws_config cfg;
    room_ws *ws;

    if (!ws_out)
        return ROOM_EINVAL;
    *ws_out = NULL;
    room_ws_config_init(&cfg);
    if (config && room_config_copy(&cfg, sizeof cfg, config, ROOM_WS_CONFIG_MIN_SIZE) != 0)
        return ROOM_EINVAL;
    if (cfg.slow_policy != ROOM_WS_SLOW_CLOSE && cfg.slow_policy != ROOM_WS_SLOW_DROP)
        return ROOM_EINVAL;
    if (!cfg.max_queued_bytes)
        cfg.max_queued_bytes = RM_WS_DEFAULT_MAX_QUEUED;
    if (!cfg.handshake_timeout_ms)
        cfg.handshake_timeout_ms = RM_WS_DEFAULT_HANDSHAKE_MS;
    if (!cfg.close_timeout_ms)
        cfg.close_timeout_ms = RM_WS_DEFAULT_CLOSE_MS;
    if (!cfg.ping_interval_ms)
        cfg.ping_interval_ms = RM_WS_DEFAULT_PING_MS;
    if (!cfg.pong_timeout_ms)
        cfg.pong_timeout_ms = RM_WS_DEFAULT_PONG_MS;
    if (!cfg.max_total_queued_bytes)
        cfg.max_total_queued_bytes = RM_WS_DEFAULT_MAX_TOTAL_QUEUED;
    if (!(ws = calloc(1, sizeof *ws)))
        return ROOM_ENOMEM;
    ws->cfg = cfg;
    *ws_out = ws;
    return 0;
}

void room_ws_free(room_ws *ws)
{
    if (!ws)
        return;
    while (ws->nconns)
        room_ws_conn_free(ws->conns[ws->nconns - 1]);
    free(ws->conns);
    rm_ws_polls_free(ws);
    rm_ws_mounts_free(ws);
    rm_ws_routes_free(ws);
    rm_ws_pool_free(ws);
    free(ws);
}

/* Runs the hubs' clocks; remembers their nearest deadline. */
static void tick(room_ws *ws)
{
    int64_t next = -1, t;
    const rm_ws_mount *m;
    unsigned i;

    ws->tick_due = false;
    ws->ticking = true;
    for (i = 0; i < ws->nmounts; i++) {
        m = ws->mounts[i];
        t = m->eio ? room_eio_tick(m->eio, ws->now)
            : m->prefix ? rm_ws_prefix_tick(m, ws->now) : room_hub_tick(m->hub, ws->now);
        if (t >= 0 && (next < 0 || t < next))
            next = t;
    }
    ws->ticking = false;
    ws->tick_at = next >= 0 ? ws->now + (uint64_t)next : 0;
    /* 0 means "none": a deadline due at once is 1 ms from the epoch. */
    if (next >= 0 && !ws->tick_at)
        ws->tick_at = 1;
}

static void expire(room_ws *ws, int state)
{
    rm_ws_side *s;
    while ((s = ws->timed[state == RM_WS_CLOSING].head) && s->deadline <= ws->now)
        rm_ws_abort(s->conn, state == RM_WS_HANDSHAKE ? "handshake timeout" : "close timeout");
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
    return !a || (b && b < a) ? b : a;
}

int64_t room_ws_run(room_ws *ws, uint64_t now_ms)
{
    room_ws_conn *c;
    uint64_t due, polls_due;
    int i;

    if (!ws)
        return -1;
    if (now_ms > ws->now)
        ws->now = now_ms;
    expire(ws, RM_WS_HANDSHAKE);
    expire(ws, RM_WS_CLOSING);
    /* Before the work list: the sessions of those it closes end below. */
    due = rm_ws_keepalive(ws);
    do {
        if (ws->tick_due || (ws->tick_at && ws->tick_at <= ws->now))
            tick(ws);
        polls_due = rm_ws_polls_run(ws);
        /* Their disconnect handlers may queue frames for others (then on
         * the list too) or send with a new deadline (tick_due again). */
        for (c = ws->work; c; c = c->work_next)
            rm_ws_settle(c);
    } while (ws->tick_due);

    due = earliest(earliest(due, ws->tick_at), polls_due);
    for (i = 0; i < 2; i++) {
        if (ws->timed[i].head)
            due = earliest(due, ws->timed[i].head->deadline);
    }
    if (!due)
        return -1;
    return due > ws->now ? (int64_t)(due - ws->now) : 0;
}

room_ws_conn *room_ws_ready(room_ws *ws)
{
    room_ws_conn *c;
    if (!ws)
        return NULL;
    /* Polls that the work below made answerable (its disconnect
     * handlers' frames, say) are answered before the host goes to wait. */
    if (!ws->work && ws->poll_work)
        rm_ws_polls_run(ws);
    if (!(c = ws->work))
        return NULL;
    ws->work = c->work_next;
    if (!ws->work)
        ws->work_tail = NULL;
    c->flags &= ~RM_WS_WORK;
    /* Put on the list after room_ws_run() (by a write error, say). */
    rm_ws_settle(c);
    return c;
}

void room_ws_close_all(room_ws *ws, int code, const char *reason)
{
    size_t i;
    if (!ws)
        return;
    /* From now on every response ends its connection. */
    ws->shutting = true;
    /* A parked poll is answered with the close packet (in room_ws_run()),
     * then its connection closes. Neither frees a polling session. */
    for (i = 0; i < ws->npolls; i++)
        rm_ws_poll_close(ws->polls[i], reason, true);
    /* Neither frees a connection: the array stays as it is. */
    for (i = 0; i < ws->nconns; i++) {
        if (ws->conns[i]->state == RM_WS_HANDSHAKE)
            rm_ws_abort(ws->conns[i], reason);
        else if (ws->conns[i]->state != RM_WS_PARKED)
            rm_ws_close(ws->conns[i], code, reason);
    }
}

size_t room_ws_conn_count(const room_ws *ws)
{
    return ws ? ws->nconns : 0;
}

void room_ws_stats_copy(const room_ws *ws, room_ws_stats *stats, size_t size)
{
    if (!ws || !stats)
        return;
    memset(stats, 0, size);
    memcpy(stats, &ws->stats, size < sizeof ws->stats ? size : sizeof ws->stats);
}
