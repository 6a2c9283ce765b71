/* GET /metrics (metrics.h). The text is built at each scrape from the
 * libraries' counters: room_ws_stats, room_uv_stats, room_hub_stats, the
 * hubs' counts, and /proc/self for the process. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* A growing text buffer; on failure it stays failed and the scrape gets 500. */
typedef struct text {
    char *p;
    size_t len, cap;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    for (;;) {
        if (t->failed)
            return;
        va_start(ap, fmt);
        n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        {
            size_t cap = t->cap ? t->cap * 2 : 4096;
            char *p;
            while (cap < t->len + (size_t)n + 1)
                cap *= 2;
            if (!(p = realloc(t->p, cap))) {
                t->failed = true;
                return;
            }
            t->p = p;
            t->cap = cap;
        }
    }
}

static void family(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(text *t, const char *name, uint64_t v)
{
    put(t, "%s %llu\n", name, (unsigned long long)v);
}

static void labeled(text *t, const char *name, const char *label, const char *value, uint64_t v)
{
    put(t, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)v);
}

static int count_memberships(room_conn *conn, void *ud)
{
    *(uint64_t *)ud += room_conn_room_count(conn);
    return 0;
}

/* Resident and virtual memory from /proc/self/statm, in bytes. */
static bool memory(uint64_t *rss, uint64_t *vsz)
{
    unsigned long long size, resident;
    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    int n = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f)
        fclose(f);
    if (n != 2 || page <= 0)
        return false;
    *rss = resident * (uint64_t)page;
    *vsz = size * (uint64_t)page;
    return true;
}

static time_t started;

static void hub_family(text *t, const roomd_metrics_source *src, const char *name, const char *type,
                       const char *help, uint64_t (*get)(room_hub *hub))
{
    unsigned i;
    family(t, name, type, help);
    for (i = 0; i < src->nhubs; i++)
        labeled(t, name, "hub", src->hubs[i].label, get(src->hubs[i].hub));
}

static uint64_t hub_conns(room_hub *h)
{
    return room_conn_count(h);
}
static uint64_t hub_rooms(room_hub *h)
{
    return room_count(h);
}
static uint64_t hub_members(room_hub *h)
{
    uint64_t n = 0;
    room_conns_foreach(h, count_memberships, &n);
    return n;
}
static uint64_t hub_in(room_hub *h)
{
    room_hub_stats st;
    room_hub_stats_get(h, &st);
    return st.messages_in;
}
static uint64_t hub_out(room_hub *h)
{
    room_hub_stats st;
    room_hub_stats_get(h, &st);
    return st.messages_out;
}
static uint64_t hub_deliveries(room_hub *h)
{
    room_hub_stats st;
    room_hub_stats_get(h, &st);
    return st.deliveries;
}
static uint64_t hub_memory(room_hub *h)
{
    return room_hub_memory(h);
}

static void build(text *t, const roomd_metrics_source *src)
{
    room_ws_stats ws;
    room_uv_stats uv;
    room_hub_stats hs;
    uint64_t rate_limited = 0, connects_refused = 0, rss, vsz;
    unsigned i;

    room_ws_stats_get(src->ws, &ws);
    room_uv_stats_get(src->srv, &uv);
    for (i = 0; i < src->nhubs; i++) {
        room_hub_stats_get(src->hubs[i].hub, &hs);
        rate_limited += hs.rate_limited;
        connects_refused += hs.connects_refused;
    }

    family(t, "roomd_build_info", "gauge", "Always 1; the version of libroom roomd runs on.");
    put(t, "roomd_build_info{version=\"%s\"} 1\n", room_version());
    family(t, "roomd_draining", "gauge", "1 while the server drains after SIGTERM (/healthz answers 503).");
    sample(t, "roomd_draining", src->draining && *src->draining);

    family(t, "roomd_connections", "gauge", "Client connections open now, by transport.");
    labeled(t, "roomd_connections", "transport", "websocket", ws.connections);
    labeled(t, "roomd_connections", "transport", "polling", ws.polling_sessions);
    family(t, "roomd_sockets", "gauge", "Accepted sockets not yet closed, in any state (HTTP requests too).");
    sample(t, "roomd_sockets", room_ws_conn_count(src->ws));

    hub_family(t, src, "roomd_hub_connections", "gauge", "Connections of each hub (Socket.IO namespace or /ws).",
               hub_conns);
    hub_family(t, src, "roomd_rooms", "gauge", "Rooms that have members.", hub_rooms);
    hub_family(t, src, "roomd_members", "gauge", "Room memberships: each connection counted once per room it is in.",
               hub_members);
    hub_family(t, src, "roomd_messages_received_total", "counter",
               "Messages received from clients, refused and malformed ones included.", hub_in);
    hub_family(t, src, "roomd_messages_sent_total", "counter",
               "Messages encoded to send (events, answers, acks, presence), each once however many get it.", hub_out);
    hub_family(t, src, "roomd_deliveries_total", "counter", "Messages queued for a recipient: one per recipient.",
               hub_deliveries);
    hub_family(t, src, "roomd_library_memory_bytes", "gauge", "Memory the hub's libroom allocations hold.",
               hub_memory);

    family(t, "roomd_bytes_queued_total", "counter", "Bytes ever queued for writing to clients.");
    sample(t, "roomd_bytes_queued_total", ws.bytes_queued);
    family(t, "roomd_bytes_pending", "gauge", "Bytes queued for clients and not yet written.");
    sample(t, "roomd_bytes_pending", ws.bytes_pending);
    family(t, "roomd_slow_consumer_closes_total", "counter",
           "Connections closed because their unwritten output passed the limit.");
    sample(t, "roomd_slow_consumer_closes_total", ws.slow_closes);
    family(t, "roomd_ping_timeouts_total", "counter", "JSON connections closed for not answering a ping.");
    sample(t, "roomd_ping_timeouts_total", ws.ping_timeouts);

    family(t, "roomd_refusals_total", "counter", "Connections and messages refused, by reason.");
    labeled(t, "roomd_refusals_total", "reason", "max_connections", uv.refused);
    labeled(t, "roomd_refusals_total", "reason", "connect_refused", connects_refused);
    labeled(t, "roomd_refusals_total", "reason", "rate_limited", rate_limited);
    labeled(t, "roomd_refusals_total", "reason", "queue_full", ws.total_full);
    family(t, "roomd_handshake_failures_total", "counter",
           "WebSocket upgrades and Engine.IO requests refused by the server.");
    sample(t, "roomd_handshake_failures_total", ws.handshake_failures);
    family(t, "roomd_http_requests_total", "counter", "HTTP requests answered other than WebSocket upgrades.");
    sample(t, "roomd_http_requests_total", ws.http_requests);

    if (src->redis_up) {
        family(t, "roomd_redis_up", "gauge", "1 while the link to the Redis cluster is up.");
        sample(t, "roomd_redis_up", src->redis_up(src->redis_user_data));
    }

    if (memory(&rss, &vsz)) {
        family(t, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        sample(t, "process_resident_memory_bytes", rss);
        family(t, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
        sample(t, "process_virtual_memory_bytes", vsz);
    }
    family(t, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.");
    sample(t, "process_start_time_seconds", (uint64_t)started);
}

static void scrape(room_ws_http *req, void *user_data)
{
    const char *method = room_ws_http_method(req);
    text t = {NULL, 0, 0, false};

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        room_ws_http_respond(req, 405, "text/plain", "Allow: GET, HEAD\r\n", "method not allowed\n", 19);
        return;
    }
    build(&t, user_data);
    if (!t.failed)
        room_ws_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", "Cache-Control: no-store\r\n",
                             t.p, t.len);
    free(t.p);
}

bool roomd_metrics_add_hub(roomd_metrics_source *src, const char *label, room_hub *hub)
{
    if (src->nhubs == ROOMD_METRICS_HUBS)
        return false;
    src->hubs[src->nhubs].label = label;
    src->hubs[src->nhubs++].hub = hub;
    return true;
}

int roomd_metrics_mount(roomd_metrics_source *src)
{
    int rc;
    started = time(NULL);
    if ((rc = room_ws_route(src->ws, "/metrics", scrape, src)) != 0) {
        roomd_logf(ROOM_LOG_ERROR, "/metrics: %s", room_strerror(rc));
        return -1;
    }
    return 0;
}
