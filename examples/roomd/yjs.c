/* roomd's y-websocket mount: a hub of its own at /yjs/ (a prefix mount of
 * libroom-ws), served by libroom-yjs. Identities and join authorization
 * come from the query, as on /ws: ?token=... with --auth-secret, else the
 * self-declared ?userId=&name=. With --data the documents are in its
 * SQLite file (storage.c), under the mount's path as scope; with --redis
 * they span the cluster (each node keeps its own copy). */
#include "yjs.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cluster.h"
#include "room/yjs.h"
#include "storage.h"

/* A whole document travels in one message (a client's answer to the
 * server's sync step 1, a compacted snapshot to a joiner). */
#define ROOMD_YJS_MAX_MESSAGE ((size_t)64 << 20)
/* A joiner's log is streamed in parts; one part may be one big snapshot,
 * and live updates queue behind it. */
#define ROOMD_YJS_MAX_QUEUED ((size_t)80 << 20)
/* How often at most the heap's free pages go back to the system (see
 * on_tick()). */
#define ROOMD_YJS_TRIM_MS 1000

struct roomd_yjs {
    room_hub *hub;
    room_yjs *yjs;
    const roomd_auth *auth;
    uint64_t trimmed_at;
    char refusal[ROOMD_ROOM_MAX + 32];
};

static void log_line(int level, const char *message, void *ud)
{
    (void)ud;
    if (level <= ROOM_LOG_WARN)
        fprintf(stderr, "roomd: yjs: %s\n", message);
}

static int identity(const roomd_yjs *y, json_t *query, json_t **out, const char **why)
{
    return roomd_identity_from(y->auth->key, y->auth->key_len, NULL, query, (int64_t)time(NULL), out,
                               why);
}

/* Who the connection speaks for: its awareness is that user's presence. */
static int on_connect(room_hub *hub, room_conn *conn, const char *room, json_t *query,
                      json_t *handshake, const char **reason, void *ud)
{
    json_t *id = NULL;
    int rc = identity(ud, query, &id, reason);
    (void)room;
    (void)handshake;
    if (rc == 0 && id)
        rc = roomd_auth_set_user(hub, conn, id);
    json_decref(id);
    return rc;
}

/* The presence join hook: the token's rooms (all when self-declared). */
static int authorize(room_hub *hub, room_conn *conn, const char *room, json_t *metadata,
                     room_join_verdict *verdict, void *ud)
{
    roomd_yjs *y = ud;
    json_t *id = NULL;
    const char *why = NULL;
    int rc = identity(y, metadata, &id, &why);
    (void)hub;
    (void)conn;
    if (rc == ROOM_EDENIED)
        verdict->reason = why;
    else if (rc == 0 && !roomd_identity_may_join(id, room)) {
        snprintf(y->refusal, sizeof y->refusal, "not allowed in room %s", room);
        verdict->reason = y->refusal;
        rc = ROOM_EFORBIDDEN;
    }
    json_decref(id);
    return rc;
}

static void on_message(room_hub *hub, room_conn *conn, int kind, const void *bytes, size_t len,
                       void *ud)
{
    roomd_yjs *y = ud;
    if (kind != ROOM_FRAME_BINARY)
        room_conn_kick(hub, conn, 1003, "y-websocket messages are binary");
    else
        room_yjs_recv(y->yjs, conn, bytes, len);
}

static void on_drained(room_hub *hub, room_conn *conn, void *ud)
{
    (void)hub;
    room_yjs_drained(((roomd_yjs *)ud)->yjs, conn);
}

/* Documents churn the heap: every compaction allocates a snapshot a little
 * bigger than the one it frees, so the freed ones leave holes that no later
 * snapshot fits in, and glibc returns only the heap's top to the system by
 * itself. Once a second at most, the free pages in the middle go back too
 * (malloc_trim(0): a walk of the free lists and an madvise per run of free
 * pages; about a quarter of the resident memory of documents under
 * constant edits, docs/bench/yjs-results.md). */
static int64_t on_tick(room_hub *hub, uint64_t now_ms, void *ud)
{
    roomd_yjs *y = ud;
    (void)hub;
#ifdef __GLIBC__
    if (now_ms - y->trimmed_at >= ROOMD_YJS_TRIM_MS) {
        malloc_trim(0);
        y->trimmed_at = now_ms;
    }
#endif
    return room_yjs_tick(y->yjs, now_ms);
}

int roomd_yjs_mount(room_ws *ws, const options *o, const roomd_auth *auth, roomd_yjs **out)
{
    room_config hcfg;
    room_yjs_config ycfg;
    room_storage_config scfg;
    room_ws_mount_config mcfg;
    room_ws_prefix_hooks hooks;
    roomd_yjs *y;
    int rc;

    *out = NULL;
    if (o->yjs_path && strcmp(o->yjs_path, "off") == 0)
        return 0;
    if (!(y = calloc(1, sizeof *y)))
        return ROOM_ENOMEM;
    y->auth = auth;
    room_config_init(&hcfg);
    room_ws_hub_config(ws, &hcfg);
    hcfg.log = log_line;
    hcfg.max_message_bytes = ROOMD_YJS_MAX_MESSAGE;
    /* The same per-connection limits as the other mounts (--msg-rate,
     * --byte-rate, off with --no-rate-limit); the byte burst is a whole
     * document (the hub's default: its max_message_bytes). */
    hcfg.rate_messages = o->msg_rate;
    hcfg.rate_messages_burst = 2 * o->msg_rate;
    hcfg.rate_bytes = o->byte_rate;
    /* --redis: documents and awareness span the nodes (docs/cluster.md
     * "Room storage"), the hub named by the mount's path. */
    hcfg.adapter = roomd_cluster_adapter(o->yjs_path ? o->yjs_path : "/yjs/");
    room_yjs_config_init(&ycfg);
    ycfg.connect = on_connect;
    ycfg.authorize = authorize;
    ycfg.user_data = y;
    room_storage_config_init(&scfg);
    scfg.compact_bytes = o->yjs_compact_bytes;
    scfg.compact_growth_percent = o->yjs_compact_growth;
    /* --data: the documents survive a restart, kept apart from the other
     * hubs' rooms by the mount's path. */
    scfg.store = roomd_storage_store();
    scfg.store_scope = o->yjs_path ? o->yjs_path : "/yjs/";
    ycfg.storage = &scfg;
    room_ws_mount_config_init(&mcfg);
    mcfg.path = o->yjs_path ? o->yjs_path : "/yjs/";
    mcfg.origins = o->origins[0] ? o->origins : NULL;
    mcfg.credentials = o->credentials;
    room_ws_prefix_hooks_init(&hooks);
    hooks.message = on_message;
    hooks.drained = on_drained;
    hooks.tick = on_tick;
    hooks.max_queued_bytes = ROOMD_YJS_MAX_QUEUED;
    hooks.user_data = y;
    if ((rc = room_hub_new(&y->hub, &hcfg)) != 0 || (rc = room_yjs_new(&y->yjs, y->hub, &ycfg)) != 0 ||
        (rc = roomd_cluster_bind(mcfg.path, y->hub)) != 0 ||
        (rc = room_ws_mount_prefix(ws, y->hub, &mcfg, &hooks)) != 0) {
        fprintf(stderr, "roomd: cannot mount y-websocket at %s: %s\n", mcfg.path, room_strerror(rc));
        roomd_yjs_free(y);
        return rc;
    }
    *out = y;
    return 0;
}

void roomd_yjs_free(roomd_yjs *y)
{
    if (!y)
        return;
    room_yjs_free(y->yjs);
    room_hub_free(y->hub);
    free(y);
}
