/* roomd: the reference server. Socket.IO v5 at /socket.io/ (namespace "/"
 * speaks the chosen protocol, "/admin" the library's own) and, for the
 * protocols that need no handshake identity, the same protocol over the
 * plain JSON codec at /ws. One thread, one libuv loop.
 *
 * Options: options.c (roomd --help).
 *
 * Plain Engine.IO at /engine.io/ echoes every message back (for
 * engine.io-client).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#include <uv.h>

#include "auth.h"
#include "history.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "proto.h"
#include "static.h"
#include "yjs.h"
#include "room/eio.h"
#include "room/presence.h"
#include "room/protocol.h"
#include "room/ws.h"
#include "room/ws_uv.h"
#include "storage.h"

typedef struct roomd roomd;

typedef struct protocol {
    const char *name;
    int (*register_fn)(roomd *d, room_hub *hub);
    bool json; /* also served at /ws */
} protocol;

static int register_rooms(roomd *d, room_hub *hub);
static int register_diffy(roomd *d, room_hub *hub);
static int register_classroom(roomd *d, room_hub *hub);
static int register_bench(roomd *d, room_hub *hub);

static const protocol protocols[] = {
    {"rooms", register_rooms, true},
    {"diffy", register_diffy, true},
    /* Identity comes with the Socket.IO CONNECT packet, which /ws lacks. */
    {"classroom", register_classroom, false},
    {"bench", register_bench, false},
};

/* Descriptors kept for everything but connections: stdio, the listener,
 * epoll, libuv's own, the helpers' wakeups, a log file. */
#define ROOMD_FD_RESERVE 64
/* The largest join metadata of a rooms client, as compact JSON: it is
 * shown to every member of the room. */
#define ROOMD_METADATA_MAX 1024

struct roomd {
    const protocol *proto;
    uv_loop_t *loop;
    room_ws *ws;
    room_uv_server *srv;
    room_eio *eio;
    room_eio *echo; /* plain Engine.IO at /engine.io/ */
    room_hub *json_hub;
    /* The rooms protocol's presence. Its batched diffs go out once per loop
     * iteration without help: the engine runs its hubs' clocks
     * (room_hub_tick(), which flushes presence) after any input. */
    bool presence;
    uint32_t typing_ms;
    char refusal[ROOMD_ROOM_MAX + 32]; /* a join refusal's reason, read at once */
    bool hub_broadcast;
    roomd_auth auth;
    const options *options;
    roomd_life life;            /* lifecycle.c: health, drain */
    roomd_metrics_source metrics;
    roomd_static *files;        /* --static */
    roomd_yjs *yjs;
};

static const protocol *find_protocol(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        if (strcmp(protocols[i].name, name) == 0)
            return &protocols[i];
    }
    fprintf(stderr, "roomd: unknown protocol \"%s\" (rooms, diffy, classroom, bench)\n", name);
    exit(2);
}

/* /ws with the same origins as /socket.io/ (WebSocket only). */
static int mount_json(roomd *d, room_ws_mount_config *mcfg)
{
    mcfg->path = "/ws";
    mcfg->transports = ROOM_WS_TRANSPORT_WEBSOCKET;
    return room_ws_mount_json_with(d->ws, d->json_hub, mcfg);
}

/* rooms: the connection speaks for the identity it presented (auth.h),
 * refused when that is refused; the identity stays as the connection's
 * data for the join checks (its rooms). */
static int rooms_connect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    roomd *d = ud;
    json_t *identity = NULL;
    const char *why;
    int rc = roomd_auth_identity(&d->auth, ev, &identity, &why);
    if (rc == ROOM_EDENIED)
        room_refuse(hub, conn, why, NULL);
    if (rc != 0 || !identity)
        return rc;
    /* A resumed connection (recovery) keeps the data of its first connect. */
    if ((rc = roomd_auth_set_user(hub, conn, identity)) != 0 || room_conn_data(conn)) {
        json_decref(identity);
        return rc;
    }
    room_conn_set_data(conn, identity);
    return 0;
}

static int rooms_disconnect(room_hub *hub, room_conn *conn, const room_event *ev, void *ud)
{
    json_decref(room_conn_data(conn));
    room_conn_set_data(conn, NULL);
    return room_protocol_rooms_disconnect(hub, conn, ev, ud);
}

/* Joins: the token's rooms (all when self-declared), and the join's
 * metadata, an object of at most ROOMD_METADATA_MAX bytes, shown to the
 * members as the member's "info". */
static int rooms_authorize(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                           room_join_verdict *verdict, void *ud)
{
    roomd *d = ud;
    (void)hub;
    if (!roomd_identity_may_join(room_conn_data(conn), room)) {
        snprintf(d->refusal, sizeof d->refusal, "not allowed in room %s", room);
        verdict->reason = d->refusal;
        return ROOM_EFORBIDDEN;
    }
    if (!metadata || json_is_null(metadata))
        return 0;
    if (!json_is_object(metadata)) {
        verdict->reason = "join metadata must be an object";
        return ROOM_EPROTO;
    }
    if (json_dumpb(metadata, NULL, 0, JSON_COMPACT) > ROOMD_METADATA_MAX) {
        verdict->reason = "join metadata is larger than 1024 bytes";
        return ROOM_ETOOBIG;
    }
    verdict->info = json_deep_copy(metadata);
    return verdict->info ? 0 : ROOM_ENOMEM;
}

static int register_rooms(roomd *d, room_hub *hub)
{
    unsigned flags = d->hub_broadcast ? ROOM_PROTOCOL_ROOMS_HUB_BROADCAST : 0;
    room_presence_config pcfg;
    int rc;
    if (d->presence) {
        room_protocol_rooms_presence_config(&pcfg);
        pcfg.typing_ms = d->typing_ms;
        pcfg.authorize = rooms_authorize;
        pcfg.user_data = d;
        if ((rc = room_presence_enable(hub, &pcfg)) != 0)
            return rc;
        flags |= ROOM_PROTOCOL_ROOMS_PRESENCE;
    }
    if ((rc = roomd_history_enable(hub, d->options, roomd_storage_store(),
                                   roomd_storage_scope(d->eio, d->json_hub, hub))) != 0 ||
        (rc = room_protocol_rooms_register_flags(hub, flags)) != 0 ||
        (rc = room_on(hub, "connect", rooms_connect, d)) != 0)
        return rc;
    return room_on(hub, "disconnect", rooms_disconnect, NULL);
}

static int register_diffy(roomd *d, room_hub *hub)
{
    return proto_diffy_register(hub, &d->auth);
}

static int register_classroom(roomd *d, room_hub *hub)
{
    return proto_classroom_register(hub, &d->auth);
}

static int register_bench(roomd *d, room_hub *hub)
{
    (void)d;
    return proto_bench_register(hub);
}

/* Every connection is a descriptor: take as many as the hard limit allows,
 * and return how many connections that leaves room for, so that a full
 * server refuses connections instead of failing accept() on EMFILE. */
static size_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    return rl.rlim_cur > 2 * ROOMD_FD_RESERVE ? (size_t)rl.rlim_cur - ROOMD_FD_RESERVE
                                              : (size_t)rl.rlim_cur / 2;
}

/* The same limits for every hub: the Socket.IO namespaces and /ws. */
static void set_rate_limits(room_config *cfg, const options *o)
{
    cfg->rate_messages = o->msg_rate;
    cfg->rate_messages_burst = 2 * o->msg_rate;
    cfg->rate_bytes = o->byte_rate;
}

static int fail(const char *what, int rc)
{
    roomd_logf(ROOM_LOG_ERROR, "%s: %s", what, room_strerror(rc));
    return rc;
}

/* /engine.io/: every message back to its sender, as it came. */
static void echo_message(room_eio *eio, room_eio_session *session, int kind, const void *bytes,
                         size_t len, void *user_data)
{
    (void)user_data;
    room_eio_session_send(eio, session, kind, bytes, len);
}

/* Plain Engine.IO at /engine.io/, with the Socket.IO mount's intervals,
 * transports and origins. */
static int mount_echo(roomd *d, const room_eio_config *sio_cfg, room_ws_mount_config *mcfg)
{
    room_eio_config ecfg = *sio_cfg;
    int rc;
    ecfg.message = echo_message;
    if ((rc = room_eio_new(&d->echo, &ecfg, NULL)) != 0)
        return rc;
    mcfg->path = NULL;
    return room_ws_mount_engineio(d->ws, d->echo, mcfg);
}

/* What /metrics reads (metrics.c), once the hubs exist. */
static roomd_metrics_source *roomd_metrics_sources(roomd *d)
{
    roomd_metrics_source *m = &d->metrics;
    m->ws = d->ws;
    m->srv = d->srv;
    m->draining = &d->life.draining;
    roomd_metrics_add_hub(m, "socket.io/", room_eio_hub(d->eio, "/"));
    roomd_metrics_add_hub(m, "socket.io/admin", room_eio_hub(d->eio, "/admin"));
    if (d->json_hub)
        roomd_metrics_add_hub(m, "ws", d->json_hub);
    return m;
}

/* Hubs, protocols and mounts; the server is listening when it returns 0. */
static int start(roomd *d, const options *o)
{
    room_ws_config wcfg;
    room_uv_config ucfg;
    room_eio_config ecfg;
    room_config rcfg, jcfg;
    room_ws_mount_config mcfg;
    room_hub *admin;
    bool v6;
    int rc;

    if ((rc = roomd_storage_open(o, roomd_log_line, NULL)) != 0)
        return rc;
    room_ws_config_init(&wcfg);
    wcfg.handshake_timeout_ms = o->handshake_timeout_ms;
    /* A closing client is cut after the drain time, at shutdown or not. */
    wcfg.close_timeout_ms = o->drain_ms ? o->drain_ms : 1;
    wcfg.log = roomd_log_line;
    room_uv_config_init(&ucfg);
    ucfg.user_data = &d->life;
    ucfg.max_connections = o->max_connections;
    /* The loop thread plus helpers for the write system calls of big
     * broadcasts; beyond a few, they only contend for the sockets' locks. */
    if (o->write_threads >= 0) {
        ucfg.write_threads = (unsigned)o->write_threads;
    } else {
        unsigned cpus = uv_available_parallelism();
        ucfg.write_threads = cpus > 4 ? 3 : cpus - 1;
    }
    if ((rc = room_ws_new(&d->ws, &wcfg)) != 0 ||
        (rc = room_uv_server_new(&d->srv, d->loop, d->ws, &ucfg)) != 0)
        return fail("server", rc);

    room_eio_config_init(&ecfg);
    room_ws_eio_config(d->ws, &ecfg);
    ecfg.log = roomd_log_line;
    if (o->ping_interval_ms)
        ecfg.ping_interval_ms = o->ping_interval_ms;
    if (o->ping_timeout_ms)
        ecfg.ping_timeout_ms = o->ping_timeout_ms;
    ecfg.allow_eio3 = o->allow_eio3;
    room_config_init(&rcfg);
    set_rate_limits(&rcfg, o);
    rcfg.recovery_ms = o->recovery_ms;
    if ((rc = room_eio_new(&d->eio, &ecfg, &rcfg)) != 0)
        return fail("engine.io", rc);
    if ((rc = d->proto->register_fn(d, room_eio_hub(d->eio, "/"))) != 0)
        return fail(d->proto->name, rc);
    if ((rc = room_eio_namespace(d->eio, "/admin", &rcfg, &admin)) != 0 ||
        (rc = register_rooms(d, admin)) != 0)
        return fail("namespace /admin", rc);
    room_ws_mount_config_init(&mcfg);
    mcfg.transports = o->transports;
    mcfg.origins = o->origins[0] ? o->origins : NULL;
    mcfg.credentials = o->credentials;
    if ((rc = room_ws_mount_socketio_with(d->ws, d->eio, &mcfg)) != 0)
        return fail("mount /socket.io/", rc);
    if ((rc = mount_echo(d, &ecfg, &mcfg)) != 0)
        return fail("mount /engine.io/", rc);

    if (d->proto->json) {
        room_config_init(&jcfg);
        room_ws_hub_config(d->ws, &jcfg);
        jcfg.log = roomd_log_line;
        set_rate_limits(&jcfg, o);
        jcfg.recovery_ms = o->recovery_ms;
        if ((rc = room_hub_new(&d->json_hub, &jcfg)) != 0 ||
            (rc = d->proto->register_fn(d, d->json_hub)) != 0 ||
            (rc = mount_json(d, &mcfg)) != 0)
            return fail("mount /ws", rc);
    }

    if (roomd_health_mount(&d->life, d->loop, d->ws, d->srv, o->drain_ms) != 0 ||
        roomd_metrics_mount(roomd_metrics_sources(d)) != 0 ||
        (o->static_dir && roomd_static_mount(d->ws, o->static_dir, &d->files) != 0))
        return ROOM_EINVAL;
    if ((rc = roomd_yjs_mount(d->ws, o, &d->auth, &d->yjs)) != 0)
        return rc;

    /* The server has logged why. */
    if ((rc = room_uv_listen(d->srv, o->host, o->port)) != 0) {
        roomd_logf(ROOM_LOG_ERROR, "cannot listen on %s port %d", o->host, o->port);
        return rc;
    }

    /* Signals handled before "listening": whoever waits for that line may
     * send one at once. */
    roomd_life_ready(&d->life);
    /* Before "listening": whoever waits for that line has this one too. */
    if (d->auth.key)
        room_ws_logf(d->ws, ROOM_LOG_INFO,
                     "identities: signed tokens (--auth-secret), checked at connect and at join");
    else
        room_ws_logf(d->ws, ROOM_LOG_WARN,
                     "identities are self-declared: any client may claim any user, name or role "
                     "(--auth-secret requires signed tokens)");
    v6 = strchr(o->host, ':') != NULL;
    roomd_log_notice("roomd %s listening on %s%s%s:%d", room_version(), v6 ? "[" : "", o->host, v6 ? "]" : "",
                     room_uv_port(d->srv));
    room_ws_logf(d->ws, ROOM_LOG_INFO,
                 "limits: %zu connections, per connection %u messages/s and %u bytes/s (0: none)",
                 o->max_connections, o->msg_rate, o->byte_rate);
    return 0;
}

int main(int argc, char **argv)
{
    roomd d = {0};
    options o;
    size_t fd_room;
    int rc;

    roomd_options_parse(argc, argv, &o);
    d.proto = find_protocol(o.protocol);
    /* A peer that hung up must cost an EPIPE, not the process. */
    signal(SIGPIPE, SIG_IGN);
    fd_room = raise_fd_limit();
    if (!o.max_connections)
        o.max_connections = fd_room;
    roomd_log_setup(o.log_level, o.log_format);
    d.loop = uv_default_loop();
    d.hub_broadcast = o.hub_broadcast;
    d.presence = o.presence;
    d.typing_ms = o.typing_ms;
    d.options = &o;
    if (o.auth_secret) {
        d.auth.key = (const uint8_t *)o.auth_secret;
        d.auth.key_len = strlen(o.auth_secret);
    }
    rc = start(&d, &o);
    if (rc == 0)
        uv_run(d.loop, UV_RUN_DEFAULT);
    /* The server and engine first: queued frames belong to the hubs. */
    room_uv_server_free(d.srv);
    room_ws_free(d.ws);
    roomd_static_free(d.files);
    roomd_yjs_free(d.yjs);
    room_hub_free(d.json_hub);
    room_eio_free(d.eio);
    room_eio_free(d.echo);
    roomd_storage_close();
    uv_loop_close(d.loop);
    roomd_options_release(&o);
    return rc == 0 ? 0 : 1;
}
