/* Mounts (what each path serves) and the send and close callbacks that
 * route a hub's or eio's frames to the connection, its transport. */
#include <stdlib.h>
#include <string.h>

#include "ws_internal.h"

static int mount(room_ws *ws, room_eio *eio, room_hub *hub, const room_ws_mount_config *config,
                 const char *default_path)
{
    room_ws_mount_config cfg;
    rm_ws_mount *m;
    const char *path;
    size_t len, limit, norigins = 0, text = 0, i;
    char *at;

    room_ws_mount_config_init(&cfg);
    if (config && room_config_copy(&cfg, sizeof cfg, config, ROOM_WS_MOUNT_CONFIG_MIN_SIZE) != 0)
        return ROOM_EINVAL;
    path = cfg.path ? cfg.path : default_path;
    if (!cfg.transports)
        cfg.transports = eio ? ROOM_WS_TRANSPORT_WEBSOCKET | ROOM_WS_TRANSPORT_POLLING : ROOM_WS_TRANSPORT_WEBSOCKET;
    if (!path || path[0] != '/' || (cfg.transports & ~(unsigned)(ROOM_WS_TRANSPORT_WEBSOCKET | ROOM_WS_TRANSPORT_POLLING)) ||
        (!eio && cfg.transports != ROOM_WS_TRANSPORT_WEBSOCKET))
        return ROOM_EINVAL;
    len = strlen(path);
    if (rm_ws_mount_find(ws, path, len) >= 0 || ws->nmounts == RM_WS_MAX_MOUNTS)
        return ROOM_EINVAL;
    for (i = 0; cfg.origins && cfg.origins[i]; i++) {
        norigins++;
        text += strlen(cfg.origins[i]) + 1;
    }
    /* The mount, its path, then the origins' pointers and text. */
    if (!(m = malloc(sizeof *m + len + 1 + sizeof(char *) * (norigins + 1) + text + sizeof(char *))))
        return ROOM_ENOMEM;
    memcpy(m->path, path, len + 1);
    m->eio = eio;
    m->hub = hub;
    m->transports = cfg.transports;
    m->credentials = cfg.credentials;
    m->origin_allowed = cfg.origin_allowed;
    m->user_data = cfg.user_data;
    m->cors = cfg.origins || cfg.origin_allowed;
    m->any_origin = false;
    m->origins = NULL;
    m->prefix = NULL;
    if (cfg.origins) {
        /* Aligned for the pointers: past the path, rounded up. */
        size_t off = (size_t)(m->path + len + 1 - (char *)m);
        off = (off + sizeof(char *) - 1) / sizeof(char *) * sizeof(char *);
        m->origins = (char **)(void *)((char *)m + off);
        at = (char *)(m->origins + norigins + 1);
        for (i = 0; i < norigins; i++) {
            size_t n = strlen(cfg.origins[i]) + 1;
            m->origins[i] = memcpy(at, cfg.origins[i], n);
            m->any_origin |= strcmp(at, "*") == 0;
            at += n;
        }
        m->origins[norigins] = NULL;
    }
    /* One limit: the hub's, which Engine.IO also announces as maxPayload. */
    limit = room_hub_max_message_bytes(eio ? room_eio_hub(eio, "/") : hub);
    m->max_message = limit < UINT32_MAX ? (uint32_t)limit : UINT32_MAX;
    ws->mounts[ws->nmounts++] = m;
    /* Its clock starts with the next room_ws_run(). */
    ws->tick_due = true;
    return 0;
}

int room_ws_mount_socketio(room_ws *ws, room_eio *eio)
{
    return room_ws_mount_socketio_with(ws, eio, NULL);
}

int room_ws_mount_socketio_with(room_ws *ws, room_eio *eio, const room_ws_mount_config *config)
{
    if (!ws || !eio)
        return ROOM_EINVAL;
    return mount(ws, eio, NULL, config, "/socket.io/");
}

int room_ws_mount_engineio(room_ws *ws, room_eio *eio, const room_ws_mount_config *config)
{
    if (!ws || !eio)
        return ROOM_EINVAL;
    return mount(ws, eio, NULL, config, "/engine.io/");
}

int room_ws_mount_json(room_ws *ws, const char *path, room_hub *hub)
{
    room_ws_mount_config cfg;
    room_ws_mount_config_init(&cfg);
    cfg.path = path;
    return room_ws_mount_json_with(ws, hub, &cfg);
}

int room_ws_mount_json_with(room_ws *ws, room_hub *hub, const room_ws_mount_config *config)
{
    if (!ws || !hub || !config)
        return ROOM_EINVAL;
    return mount(ws, NULL, hub, config, NULL);
}

int rm_ws_mount_find(const room_ws *ws, const char *path, size_t len)
{
    unsigned i;
    for (i = 0; i < ws->nmounts; i++) {
        if ((strlen(ws->mounts[i]->path) == len && memcmp(ws->mounts[i]->path, path, len) == 0) ||
            rm_ws_prefix_match(ws->mounts[i], path, len))
            return (int)i;
    }
    return -1;
}

void rm_ws_mounts_free(room_ws *ws)
{
    while (ws->nmounts) {
        rm_ws_prefix_free(ws->mounts[--ws->nmounts]);
        free(ws->mounts[ws->nmounts]);
    }
}

/* ---- hub and eio callbacks ------------------------------------------------ */

/* One pair for hubs and the Engine.IO layer alike: both hand over the
 * transport pointer, which is a connection, or a polling session's
 * transport (its first byte tells). */
static int transport_send(void *transport, room_frame *frame, void *user_data)
{
    (void)user_data;
    if (*(const uint8_t *)transport == RM_WS_TAG_POLL)
        return rm_ws_poll_send(transport, frame);
    return rm_ws_send(transport, frame);
}

static void transport_close(void *transport, int code, const char *reason, void *user_data)
{
    (void)user_data;
    room_ws_conn *c = transport;
    if (*(const uint8_t *)transport == RM_WS_TAG_POLL) {
        /* As engine.io: a session its client has left (ping timeout, the
         * client's close packet) or broke (a protocol error, a message too
         * big) is gone at once; one the server closes (a kick, a refusal,
         * shutdown) delivers what it holds, a DISCONNECT say, and the close
         * packet to the next poll. */
        bool left = (reason && (strcmp(reason, "ping timeout") == 0 || strcmp(reason, "client close") == 0)) ||
                    code == ROOM_CLOSE_PROTOCOL_ERROR || code == ROOM_CLOSE_MESSAGE_TOO_BIG ||
                    code == ROOM_CLOSE_INTERNAL_ERROR;
        rm_ws_poll_close(transport, reason, !left);
        return;
    }
    /* The eio ends a probe itself (upgrade timeout, session closing). */
    if (c->state == RM_WS_OPEN && (c->flags & RM_WS_PROBE))
        rm_ws_probe_detach(c);
    rm_ws_close(c, code, reason);
}

void room_ws_eio_config(const room_ws *ws, room_eio_config *config)
{
    if (!ws || !config)
        return;
    config->send = transport_send;
    config->close = transport_close;
    config->seal = rm_ws_seal;
    config->seal_headroom = RM_WS_HEADROOM;
}

void room_ws_hub_config(const room_ws *ws, room_config *config)
{
    if (!ws || !config)
        return;
    config->send = transport_send;
    config->close = transport_close;
    config->seal = rm_ws_seal;
    config->seal_headroom = RM_WS_HEADROOM;
}
