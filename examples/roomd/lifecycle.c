/* Readiness, health and shutdown (lifecycle.h).
 *
 * SIGTERM (or SIGINT) starts the drain: /healthz answers 503 at once,
 * every client is told to go away (WebSocket close 1001, Engine.IO's close
 * packet to polling sessions), and new sessions are refused with 503,
 * while the listener stays open so that load balancers can see the 503.
 * When the last client has gone, or after --drain-ms (the engine's close
 * timeout too, so a client that does not answer its close is cut then),
 * the listener closes and the loop ends: roomd exits 0. A second signal
 * ends the drain at once. */
#include "lifecycle.h"

#include <signal.h>
#include <string.h>

#ifdef ROOMD_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "log.h"

#define DRAIN_POLL_MS 50

static void notify(const char *state)
{
#ifdef ROOMD_HAVE_SYSTEMD
    /* Outside systemd (no NOTIFY_SOCKET) this does nothing. */
    sd_notify(0, state);
#else
    (void)state;
#endif
}

static void health(room_ws_http *req, void *user_data)
{
    const roomd_life *life = user_data;
    if (life->draining)
        room_ws_http_respond(req, 503, "text/plain", "Cache-Control: no-store\r\n", "draining\n", 9);
    else
        room_ws_http_respond(req, 200, "text/plain", "Cache-Control: no-store\r\n", "ok\n", 3);
}

int roomd_health_mount(roomd_life *life, uv_loop_t *loop, room_ws *ws, room_uv_server *srv, uint32_t drain_ms)
{
    int rc;
    memset(life, 0, sizeof *life);
    life->loop = loop;
    life->ws = ws;
    life->srv = srv;
    life->drain_ms = drain_ms;
    if ((rc = room_ws_route(ws, "/healthz", health, life)) != 0) {
        roomd_logf(ROOM_LOG_ERROR, "/healthz: %s", room_strerror(rc));
        return -1;
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_shutdown(room_uv_server *srv, void *user_data)
{
    roomd_life *life = user_data;
    (void)srv;
    uv_close((uv_handle_t *)&life->sigint, on_closed);
    uv_close((uv_handle_t *)&life->sigterm, on_closed);
    uv_close((uv_handle_t *)&life->poll, on_closed);
    roomd_log_notice("stopped");
}

/* Clients left: sockets, of WebSockets (closing too) and of requests. A
 * live polling client always has one, its parked GET, which takes the
 * close packet; a polling session without one has a client that is gone,
 * and is not waited for. */
static size_t clients(const roomd_life *life)
{
    return room_ws_conn_count(life->ws);
}

static void stop(roomd_life *life, const char *why)
{
    size_t left = clients(life);
    if (life->stopping)
        return;
    life->stopping = true;
    uv_timer_stop(&life->poll);
    if (left)
        roomd_log_notice("%s; closing the listener and %zu connections left", why, left);
    else
        roomd_log_notice("%s; closing the listener", why);
    room_uv_shutdown(life->srv, on_shutdown);
}

static void on_poll(uv_timer_t *t)
{
    roomd_life *life = t->data;
    /* The engine cuts closing clients at the same time (its close timeout
     * is the drain time): past it, none left does not mean they left. */
    if (uv_now(life->loop) >= life->deadline)
        stop(life, "drain time over");
    else if (!clients(life))
        stop(life, "drained");
}

static void on_signal(uv_signal_t *sig, int signum)
{
    roomd_life *life = sig->data;
    const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (life->draining) {
        /* The engine's clock is the host's: run it past every deadline, and
         * each closing client is cut now rather than at the drain's end. */
        stop(life, signum == SIGINT ? "SIGINT again" : "SIGTERM again");
        room_ws_run(life->ws, UINT64_MAX / 2);
        return;
    }
    life->draining = true;
    notify("STOPPING=1");
    roomd_log_notice("%s: draining %zu connections (at most %u ms); /healthz answers 503", name, clients(life),
                     life->drain_ms);
    room_ws_close_all(life->ws, ROOM_CLOSE_GOING_AWAY, "server shutting down");
    life->deadline = uv_now(life->loop) + life->drain_ms;
    uv_timer_start(&life->poll, on_poll, DRAIN_POLL_MS, DRAIN_POLL_MS);
}

void roomd_life_ready(roomd_life *life)
{
    uv_signal_init(life->loop, &life->sigint);
    uv_signal_init(life->loop, &life->sigterm);
    uv_timer_init(life->loop, &life->poll);
    life->sigint.data = life->sigterm.data = life->poll.data = life;
    uv_signal_start(&life->sigint, on_signal, SIGINT);
    uv_signal_start(&life->sigterm, on_signal, SIGTERM);
    notify("READY=1");
}
