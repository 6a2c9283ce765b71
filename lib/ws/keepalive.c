/* Keepalive of JSON mounts (Socket.IO mounts have Engine.IO's heartbeat):
 * WebSocket pings to connections that have gone quiet, and a close for
 * those that do not answer.
 *
 * An open connection spends two flag bits on it and nothing else. Every
 * ping interval a round walks the connection array: a connection that has
 * sent anything since the last round only loses its HEARD bit, a quiet one
 * is sent a ping and marked PINGED; pong_timeout_ms later, those still
 * PINGED (any input clears the bit) are closed. A deadline per connection
 * would be exact, but its list links and time would cost an idle
 * connection more than the rest of its engine state; a round costs one
 * pass over the array per interval, as Engine.IO's own pings do. */
#include "ws_internal.h"

/* FIN, opcode 9, no payload: the same two bytes for every connection. */
static const uint8_t ping[2] = {0x89, 0x00};

static bool watched(const room_ws_conn *c)
{
    return c->state == RM_WS_OPEN && !rm_ws_conn_mount(c)->eio;
}

static void check_pongs(room_ws *ws)
{
    room_ws_conn *c;
    size_t i;
    /* Closing frees nothing: the array stays as it is. */
    for (i = 0; i < ws->nconns; i++) {
        c = ws->conns[i];
        if (watched(c) && (c->flags & RM_WS_PINGED)) {
            ws->stats.ping_timeouts++;
            rm_ws_close(c, ROOM_CLOSE_POLICY_VIOLATION, "ping timeout");
        }
    }
}

static void ping_quiet(room_ws *ws)
{
    room_ws_conn *c;
    size_t i;
    for (i = 0; i < ws->nconns; i++) {
        c = ws->conns[i];
        if (!watched(c))
            continue;
        if (c->flags & RM_WS_HEARD)
            c->flags &= (uint8_t)~RM_WS_HEARD;
        /* Without memory for the ping, the next round tries again. */
        else if (rm_ws_queue_bytes(c, ping, sizeof ping) == 0)
            c->flags |= RM_WS_PINGED;
    }
}

uint64_t rm_ws_keepalive(room_ws *ws)
{
    const room_ws_config *cfg = &ws->cfg;

    /* Nothing open, nothing to watch: no wakeups for an idle engine. */
    if (cfg->ping_interval_ms == ROOM_WS_PING_OFF || !ws->stats.connections) {
        ws->ping_at = ws->pong_at = 0;
        return 0;
    }
    if (!ws->ping_at)
        ws->ping_at = ws->now + cfg->ping_interval_ms;
    if (ws->pong_at && ws->pong_at <= ws->now) {
        ws->pong_at = 0;
        check_pongs(ws);
    }
    if (ws->ping_at <= ws->now) {
        /* The next round comes after this one's pongs are checked. */
        ws->ping_at = ws->now + (cfg->ping_interval_ms > cfg->pong_timeout_ms ? cfg->ping_interval_ms
                                                                               : cfg->pong_timeout_ms);
        ws->pong_at = ws->now + cfg->pong_timeout_ms;
        ping_quiet(ws);
    }
    return ws->pong_at && ws->pong_at < ws->ping_at ? ws->pong_at : ws->ping_at;
}
