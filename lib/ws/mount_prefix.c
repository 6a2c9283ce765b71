/* Prefix mounts: a hub whose connections speak a protocol of their own
 * (y-websocket) at /prefix/<name>, the name taken from the path. The
 * engine's JSON mount does the rest (upgrade, open, close, keepalive); this
 * file holds what differs: the match, the name, and the hooks that get the
 * messages, the drained output and the clock. */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

#define RM_WS_PREFIX_NAME_MAX 1024

struct rm_ws_prefix {
    room_ws_prefix_hooks hooks;
};

bool rm_ws_prefix_match(const rm_ws_mount *m, const char *path, size_t len)
{
    size_t n;
    if (!m->prefix)
        return false;
    n = strlen(m->path);
    return len >= n && memcmp(m->path, path, n) == 0;
}

static int hex(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

const char *rm_ws_prefix_handshake(const room_ws_conn *c, const rm_ws_request *r, json_t *handshake)
{
    const rm_ws_mount *m = c->ws->mounts[r->mount];
    size_t skip = strlen(m->path), i, n = 0, units;
    const char *p = r->path.p + skip;
    size_t len = r->path.len - skip;
    char name[RM_WS_PREFIX_NAME_MAX];
    json_t *s;

    if (!len)
        return "a name is required after the path\n";
    for (i = 0; i < len; i++) {
        int hi, lo;
        char ch = p[i];
        if (ch == '%') {
            if (i + 2 >= len || (hi = hex(p[i + 1])) < 0 || (lo = hex(p[i + 2])) < 0)
                return "malformed name\n";
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if ((unsigned char)ch < 0x20 || ch == 0x7f)
            return "malformed name\n";
        if (n == sizeof name)
            return "name too long\n";
        name[n++] = ch;
    }
    if (room_utf8_walk(name, n, SIZE_MAX, &i, &units) != 0 || i != n)
        return "malformed name\n";
    if (!(s = json_stringn(name, n)) || json_object_set_new(handshake, "name", s) != 0)
        return "out of memory\n";
    return NULL;
}

void rm_ws_prefix_recv(room_ws_conn *c, int kind, const uint8_t *bytes, size_t len)
{
    const rm_ws_mount *m = rm_ws_conn_mount(c);
    const room_ws_prefix_hooks *h = &m->prefix->hooks;
    room_hub_set_time(m->hub, c->ws->now);
    h->message(m->hub, c->core.conn, kind, bytes, len, h->user_data);
}

void rm_ws_prefix_drained(room_ws_conn *c)
{
    const rm_ws_mount *m;
    if (c->state != RM_WS_OPEN || !(c->flags & RM_WS_CORE) || (c->flags & RM_WS_PROBE))
        return;
    m = rm_ws_conn_mount(c);
    if (m->prefix && m->prefix->hooks.drained)
        m->prefix->hooks.drained(m->hub, c->core.conn, m->prefix->hooks.user_data);
}

int64_t rm_ws_prefix_tick(const rm_ws_mount *m, uint64_t now)
{
    const room_ws_prefix_hooks *h = &m->prefix->hooks;
    return h->tick ? h->tick(m->hub, now, h->user_data) : room_hub_tick(m->hub, now);
}

size_t rm_ws_prefix_max_queued(const room_ws_conn *c)
{
    const rm_ws_mount *m = rm_ws_conn_mount(c);
    if (m->prefix && m->prefix->hooks.max_queued_bytes)
        return m->prefix->hooks.max_queued_bytes;
    return c->ws->cfg.max_queued_bytes;
}

void rm_ws_prefix_free(rm_ws_mount *m)
{
    free(m->prefix);
    m->prefix = NULL;
}

int room_ws_mount_prefix(room_ws *ws, room_hub *hub, const room_ws_mount_config *config,
                         const room_ws_prefix_hooks *hooks)
{
    struct rm_ws_prefix *px;
    size_t len;
    int rc;

    if (!ws || !hub || !config || !hooks || config->size < ROOM_WS_MOUNT_CONFIG_MIN_SIZE || !config->path)
        return ROOM_EINVAL;
    len = strlen(config->path);
    if (!len || config->path[len - 1] != '/')
        return ROOM_EINVAL;
    if (!(px = calloc(1, sizeof *px)))
        return ROOM_ENOMEM;
    if (room_config_copy(&px->hooks, sizeof px->hooks, hooks, ROOM_WS_PREFIX_HOOKS_SIZE_MIN) != 0 ||
        !px->hooks.message) {
        free(px);
        return ROOM_EINVAL;
    }
    if ((rc = room_ws_mount_json_with(ws, hub, config)) != 0) {
        free(px);
        return rc;
    }
    ws->mounts[ws->nmounts - 1]->prefix = px;
    return 0;
}
