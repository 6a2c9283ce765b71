/* Engine.IO v4 sessions carrying Socket.IO v5 over WebSocket
 * (docs/protocol-socketio.md).
 *
 * Each namespace is a hub with its own codec. A session CONNECTed to a
 * namespace is a connection of that hub whose transport is the session; the
 * hub's callbacks land in the trampolines below, which route frames to the
 * host's WebSocket.
 *
 * Timers: every session shares the same intervals, so a deadline appended
 * at the tail of a list is never earlier than the ones before it. Each list
 * stays sorted by construction and room_eio_tick() only looks at heads:
 * O(1) per session and event. */
#include <stdio.h>
#include <string.h>

#include "../core/internal.h"
#include "room/eio.h"
#include "socketio.h"

/* Lists are circular around a sentinel, so unlinking needs no list. */
typedef struct eio_link {
    struct eio_link *prev, *next;
} eio_link;

typedef struct eio_nsp {
    room_eio *eio;
    room_hub *hub;
    room_codec *codec;
    /* The host's random callback and user data, which the hub's config no
     * longer carries (its user_data points here). */
    int (*random)(void *buf, size_t len, void *user_data);
    void *random_ud;
    uint16_t index;
    size_t name_len;
    char name[];
} eio_nsp;

/* A BINARY_EVENT/BINARY_ACK waiting for its attachments. The text packet
 * and the attachments share one buffer: end[0] is the packet's length,
 * end[i + 1] the end of attachment i. */
typedef struct eio_binary {
    room_conn *conn;
    uint8_t *buf;
    size_t len;
    size_t end[RM_SIO_MAX_ATTACHMENTS + 1];
    uint16_t nsp;
    uint8_t need;
    uint8_t have;
} eio_binary;

struct room_eio_session {
    eio_link hb;            /* in the ping, pong or closing list */
    eio_link cn;            /* in the connect list until a CONNECT succeeds */
    uint64_t hb_deadline;   /* next ping, or the pong's deadline */
    uint64_t cn_deadline;
    void *transport;
    room_conn *root;        /* connection in namespace "/" */
    room_conn **extra;      /* connection in namespace i >= 1 at extra[i - 1] */
    json_t *query;          /* the host's query parameters, NULL when none */
    eio_binary *binary;
    uint16_t nextra;
    uint16_t connecting;    /* namespace index + 1 while its CONNECT reply is due */
    bool awaiting_pong;
    bool closing;           /* the host was asked to close; nothing more is sent */
    char sid[ROOM_CONN_ID_LEN + 1];
};

struct room_eio {
    room_eio_config cfg;
    rm_alloc alloc;
    eio_nsp **nsps; /* nsps[0] is "/" */
    uint32_t nnsp;
    uint32_t capnsp;
    eio_link ping, pong, closing, connect;
    size_t nsessions;
    room_frame *ping_frame; /* "2", shared by every session */
    room_buf scratch;       /* reused to build the room_eio's own packets */
};

/* ---- lists -------------------------------------------------------------- */

static void list_init(eio_link *head)
{
    head->prev = head->next = head;
}

static void list_append(eio_link *head, eio_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static void list_unlink(eio_link *l)
{
    if (!l->next)
        return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

static room_eio_session *hb_session(eio_link *l)
{
    return (room_eio_session *)((char *)l - offsetof(room_eio_session, hb));
}

static room_eio_session *cn_session(eio_link *l)
{
    return (room_eio_session *)((char *)l - offsetof(room_eio_session, cn));
}

/* ---- sessions ----------------------------------------------------------- */

static void drop_binary(room_eio *eio, room_eio_session *s)
{
    eio_binary *b = s->binary;
    if (!b)
        return;
    s->binary = NULL;
    rm_free(&eio->alloc, b->buf, b->len);
    rm_free(&eio->alloc, b, sizeof *b);
}

/* Asks the host, once, to close the session's WebSocket. The session stays
 * (in the closing list) until the host calls room_eio_close(). */
static void shut(room_eio *eio, room_eio_session *s, int code, const char *reason)
{
    if (s->closing)
        return;
    s->closing = true;
    drop_binary(eio, s);
    list_unlink(&s->hb);
    list_unlink(&s->cn);
    list_append(&eio->closing, &s->hb);
    rm_log(eio->nsps[0]->hub, ROOM_LOG_DEBUG, "closing session %s: %s", s->sid, reason);
    eio->cfg.close(s->transport, code, reason, eio->cfg.user_data);
}

static int violation(room_eio *eio, room_eio_session *s, const char *reason)
{
    shut(eio, s, ROOM_CLOSE_PROTOCOL_ERROR, reason);
    return ROOM_EPROTO;
}

static room_conn **conn_slot(room_eio_session *s, size_t index)
{
    if (index == 0)
        return &s->root;
    return index <= s->nextra ? &s->extra[index - 1] : NULL;
}

/* Sends one packet of the room_eio's own. */
static int send_text(room_eio *eio, room_eio_session *s, const void *bytes, size_t len)
{
    room_frame *frame;
    int rc;
    if (s->closing)
        return 0;
    frame = room_frame_new(eio->nsps[0]->hub, ROOM_FRAME_TEXT, bytes, len);
    if (!frame) {
        shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "out of memory");
        return ROOM_ENOMEM;
    }
    rc = eio->cfg.send(s->transport, frame, eio->cfg.user_data);
    room_frame_unref(frame);
    if (rc < 0) {
        shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "send failed");
        return ROOM_ETRANSPORT;
    }
    return 0;
}

/* "4" type [nsp ","]: the start of a packet of the room_eio's own. */
static int begin_packet(room_eio *eio, char type, const char *nsp, size_t nsp_len)
{
    room_buf *b = &eio->scratch;
    char head[2] = {'4', type};
    int rc;
    b->len = 0;
    rc = room_buf_append(b, head, 2);
    if (!rc && nsp_len > 1) {
        rc = room_buf_append(b, nsp, nsp_len);
        if (!rc)
            rc = room_buf_append(b, ",", 1);
    }
    return rc;
}

static int finish_packet(room_eio *eio, room_eio_session *s, int rc)
{
    if (rc) {
        shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "out of memory");
        return rc;
    }
    return send_text(eio, s, eio->scratch.data, eio->scratch.len);
}

static int send_connected(room_eio *eio, room_eio_session *s, const eio_nsp *ns, room_conn *conn)
{
    int rc = begin_packet(eio, '0', ns->name, ns->name_len);
    if (!rc)
        rc = room_buf_append(&eio->scratch, "{\"sid\":\"", 8);
    if (!rc)
        rc = room_buf_append(&eio->scratch, room_conn_id(conn), ROOM_CONN_ID_LEN);
    if (!rc)
        rc = room_buf_append(&eio->scratch, "\"}", 2);
    return finish_packet(eio, s, rc);
}

/* CONNECT_ERROR: {"message": message[, "data": data]} */
static int send_connect_error(room_eio *eio, room_eio_session *s, const char *nsp, size_t nsp_len,
                              const char *message, json_t *data)
{
    int rc = begin_packet(eio, '4', nsp, nsp_len);
    if (!rc)
        rc = room_buf_append(&eio->scratch, "{\"message\":", 11);
    if (!rc)
        rc = room_buf_append_json_string(&eio->scratch, message);
    if (!rc && data && !json_is_null(data)) {
        rc = room_buf_append(&eio->scratch, ",\"data\":", 8);
        if (!rc)
            rc = room_buf_append_json(&eio->scratch, data);
    }
    if (!rc)
        rc = room_buf_append(&eio->scratch, "}", 1);
    return finish_packet(eio, s, rc);
}

/* ---- hub callbacks ------------------------------------------------------- */

static int hub_send(room_conn *conn, void *transport, room_frame *frame, void *user_data)
{
    eio_nsp *ns = user_data;
    room_eio *eio = ns->eio;
    room_eio_session *s = transport;
    int rc;

    /* The host is closing it already: nothing more to say. */
    if (s->closing)
        return 0;
    /* A connect handler is sending before room_conn_open_auth() returned;
     * the client must see the CONNECT reply first. */
    if (s->connecting == ns->index + 1) {
        s->connecting = 0;
        rc = send_connected(eio, s, ns, conn);
        if (rc)
            return rc;
    }
    rc = eio->cfg.send(s->transport, frame, eio->cfg.user_data);
    if (rc < 0)
        shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "send failed");
    return rc;
}

/* One WebSocket carries every namespace of the session: closing any of its
 * connections closes all of them. A DISCONNECT goes first, so that the
 * client does not reconnect the namespace the server closed. */
static void hub_close(room_conn *conn, void *transport, int code, const char *reason,
                      void *user_data)
{
    eio_nsp *ns = user_data;
    room_eio_session *s = transport;
    (void)conn;
    if (!s->closing && begin_packet(ns->eio, '1', ns->name, ns->name_len) == 0)
        send_text(ns->eio, s, ns->eio->scratch.data, ns->eio->scratch.len);
    shut(ns->eio, s, code, reason);
}

static void hub_log(int level, const char *message, void *user_data)
{
    eio_nsp *ns = user_data;
    ns->eio->cfg.log(level, message, ns->eio->cfg.user_data);
}

static int hub_random(void *buf, size_t len, void *user_data)
{
    eio_nsp *ns = user_data;
    return ns->random(buf, len, ns->random_ud);
}

static size_t hub_seal(const room_frame *frame, uint8_t *header, void *user_data)
{
    eio_nsp *ns = user_data;
    return ns->eio->cfg.seal(frame, header, ns->eio->cfg.user_data);
}

/* ---- namespaces ---------------------------------------------------------- */

static int find_nsp(const room_eio *eio, const char *name, size_t len)
{
    uint32_t i;
    for (i = 0; i < eio->nnsp; i++) {
        if (eio->nsps[i]->name_len == len && memcmp(eio->nsps[i]->name, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/* The hub is created last, so that on failure the host's adapter has not
 * been taken over. */
static int add_nsp(room_eio *eio, const char *name, const room_config *config, room_hub **hub_out)
{
    size_t len = strlen(name);
    room_config cfg;
    eio_nsp *ns;
    int rc;

    if (config && config->size < sizeof *config)
        return ROOM_EINVAL;
    /* Session slots index namespaces with 16 bits. */
    if (eio->nnsp >= UINT16_MAX - 1)
        return ROOM_ELIMIT;
    rc = rm_grow(&eio->alloc, (void **)&eio->nsps, &eio->capnsp, eio->nnsp + 1, sizeof *eio->nsps);
    if (rc)
        return rc;
    ns = rm_malloc(&eio->alloc, sizeof *ns + len + 1);
    if (!ns)
        return ROOM_ENOMEM;
    rc = room_codec_socketio_new(&ns->codec, name);
    if (rc) {
        rm_free(&eio->alloc, ns, sizeof *ns + len + 1);
        return rc;
    }
    ns->eio = eio;
    ns->index = (uint16_t)eio->nnsp;
    ns->name_len = len;
    memcpy(ns->name, name, len + 1);

    if (config)
        cfg = *config;
    else
        room_config_init(&cfg);
    ns->random = cfg.random;
    ns->random_ud = cfg.user_data;
    cfg.send = hub_send;
    cfg.close = hub_close;
    cfg.log = eio->cfg.log ? hub_log : NULL;
    cfg.random = cfg.random ? hub_random : NULL;
    cfg.seal = eio->cfg.seal ? hub_seal : NULL;
    cfg.seal_headroom = eio->cfg.seal_headroom;
    cfg.allocator = eio->cfg.allocator;
    cfg.codec = ns->codec;
    cfg.user_data = ns;
    rc = room_hub_new(&ns->hub, &cfg);
    if (rc) {
        room_codec_socketio_free(ns->codec);
        rm_free(&eio->alloc, ns, sizeof *ns + len + 1);
        return rc;
    }
    eio->nsps[eio->nnsp++] = ns;
    if (hub_out)
        *hub_out = ns->hub;
    return 0;
}

void room_eio_config_init(room_eio_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
    config->ping_interval_ms = 25000;
    config->ping_timeout_ms = 20000;
    config->max_payload = 1000000;
    config->connect_timeout_ms = 45000;
}

int room_eio_new(room_eio **eio_out, const room_eio_config *config, const room_config *root_config)
{
    rm_alloc alloc;
    room_eio *eio;
    int rc;

    if (!eio_out)
        return ROOM_EINVAL;
    *eio_out = NULL;
    if (!config || config->size < sizeof *config || !config->send || !config->close)
        return ROOM_EINVAL;
    rm_alloc_init(&alloc, &config->allocator);
    eio = rm_calloc(&alloc, sizeof *eio);
    if (!eio)
        return ROOM_ENOMEM;
    eio->cfg = *config;
    if (!eio->cfg.ping_interval_ms)
        eio->cfg.ping_interval_ms = 25000;
    if (!eio->cfg.ping_timeout_ms)
        eio->cfg.ping_timeout_ms = 20000;
    if (!eio->cfg.max_payload)
        eio->cfg.max_payload = 1000000;
    if (!eio->cfg.connect_timeout_ms)
        eio->cfg.connect_timeout_ms = 45000;
    eio->alloc = alloc;
    list_init(&eio->ping);
    list_init(&eio->pong);
    list_init(&eio->closing);
    list_init(&eio->connect);
    rm_buf_init(&eio->scratch, &eio->alloc);

    rc = add_nsp(eio, "/", root_config, NULL);
    if (rc) {
        rm_free(&eio->alloc, eio->nsps, (size_t)eio->capnsp * sizeof *eio->nsps);
        alloc = eio->alloc;
        rm_free(&alloc, eio, sizeof *eio);
        return rc;
    }
    eio->ping_frame = room_frame_new(eio->nsps[0]->hub, ROOM_FRAME_TEXT, "2", 1);
    if (!eio->ping_frame) {
        /* Failed as a whole: the host keeps its adapter. */
        eio->nsps[0]->hub->adapter = room_adapter_local();
        room_eio_free(eio);
        return ROOM_ENOMEM;
    }
    *eio_out = eio;
    return 0;
}

static void free_session(room_eio *eio, room_eio_session *s)
{
    drop_binary(eio, s);
    list_unlink(&s->hb);
    list_unlink(&s->cn);
    rm_free(&eio->alloc, s->extra, (size_t)s->nextra * sizeof *s->extra);
    json_decref(s->query);
    rm_free(&eio->alloc, s, sizeof *s);
    eio->nsessions--;
}

void room_eio_free(room_eio *eio)
{
    eio_link *lists[3], *l;
    rm_alloc alloc;
    size_t i;

    if (!eio)
        return;
    lists[0] = &eio->ping;
    lists[1] = &eio->pong;
    lists[2] = &eio->closing;
    /* Hubs may still call back while they free their connections (pending
     * acks fail); those calls must find their sessions, sending nothing. */
    for (i = 0; i < 3; i++) {
        for (l = lists[i]->next; l != lists[i]; l = l->next)
            hb_session(l)->closing = true;
    }
    room_frame_unref(eio->ping_frame);
    for (i = 0; i < eio->nnsp; i++) {
        room_hub_free(eio->nsps[i]->hub);
        room_codec_socketio_free(eio->nsps[i]->codec);
        rm_free(&eio->alloc, eio->nsps[i], sizeof *eio->nsps[i] + eio->nsps[i]->name_len + 1);
    }
    for (i = 0; i < 3; i++) {
        while (lists[i]->next != lists[i])
            free_session(eio, hb_session(lists[i]->next));
    }
    rm_free(&eio->alloc, eio->nsps, (size_t)eio->capnsp * sizeof *eio->nsps);
    rm_buf_release(&eio->scratch);
    alloc = eio->alloc;
    rm_free(&alloc, eio, sizeof *eio);
}

int room_eio_namespace(room_eio *eio, const char *nsp, const room_config *config,
                       room_hub **hub_out)
{
    if (hub_out)
        *hub_out = NULL;
    if (!eio || !nsp || nsp[0] != '/')
        return ROOM_EINVAL;
    if (find_nsp(eio, nsp, strlen(nsp)) >= 0)
        return ROOM_EALREADY;
    return add_nsp(eio, nsp, config, hub_out);
}

room_hub *room_eio_hub(room_eio *eio, const char *nsp)
{
    int i;
    if (!eio || !nsp)
        return NULL;
    i = find_nsp(eio, nsp, strlen(nsp));
    return i < 0 ? NULL : eio->nsps[i]->hub;
}

/* ---- sessions: open and close ------------------------------------------------ */

/* The application's part of the query: without the Engine.IO transport's
 * own parameters, and NULL when nothing is left. */
static int app_query(json_t *query, json_t **app_out)
{
    static const char *const engine[] = {"EIO", "transport", "sid", "t", "j", "b64"};
    json_t *app;
    size_t i;
    *app_out = NULL;
    if (!query)
        return 0;
    app = json_copy(query);
    if (!app)
        return ROOM_ENOMEM;
    for (i = 0; i < sizeof engine / sizeof engine[0]; i++)
        json_object_del(app, engine[i]);
    if (json_object_size(app))
        *app_out = app;
    else
        json_decref(app);
    return 0;
}

int room_eio_open(room_eio *eio, void *transport, uint64_t now_ms, room_eio_session **session_out)
{
    return room_eio_open_query(eio, transport, NULL, now_ms, session_out);
}

int room_eio_open_query(room_eio *eio, void *transport, json_t *query, uint64_t now_ms,
                        room_eio_session **session_out)
{
    room_eio_session *s;
    room_frame *frame;
    char open[192];
    int n, rc;

    if (!session_out)
        return ROOM_EINVAL;
    *session_out = NULL;
    if (!eio)
        return ROOM_EINVAL;
    s = rm_calloc(&eio->alloc, sizeof *s);
    if (!s)
        return ROOM_ENOMEM;
    rc = room_id_generate(s->sid, eio->nsps[0]->random, eio->nsps[0]->random_ud);
    if (rc) {
        rm_free(&eio->alloc, s, sizeof *s);
        return rc;
    }
    s->transport = transport;
    /* Kept only when the application has parameters of its own, so an idle
     * session of a client without any costs nothing. */
    if (app_query(query, &s->query) != 0) {
        rm_free(&eio->alloc, s, sizeof *s);
        return ROOM_ENOMEM;
    }
    n = snprintf(open, sizeof open,
                 "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":%lu,\"pingTimeout\":%lu,"
                 "\"maxPayload\":%lu}",
                 s->sid, (unsigned long)eio->cfg.ping_interval_ms,
                 (unsigned long)eio->cfg.ping_timeout_ms, (unsigned long)eio->cfg.max_payload);
    frame = room_frame_new(eio->nsps[0]->hub, ROOM_FRAME_TEXT, open, (size_t)n);
    if (!frame) {
        json_decref(s->query);
        rm_free(&eio->alloc, s, sizeof *s);
        return ROOM_ENOMEM;
    }
    rc = eio->cfg.send(transport, frame, eio->cfg.user_data);
    room_frame_unref(frame);
    if (rc < 0) {
        json_decref(s->query);
        rm_free(&eio->alloc, s, sizeof *s);
        return ROOM_ETRANSPORT;
    }
    s->hb_deadline = now_ms + eio->cfg.ping_interval_ms;
    list_append(&eio->ping, &s->hb);
    s->cn_deadline = now_ms + eio->cfg.connect_timeout_ms;
    list_append(&eio->connect, &s->cn);
    eio->nsessions++;
    *session_out = s;
    return 0;
}

void room_eio_close(room_eio *eio, room_eio_session *s, const char *reason)
{
    size_t i;
    if (!eio || !s)
        return;
    /* Disconnect handlers may still send to the other namespaces: drop. */
    s->closing = true;
    drop_binary(eio, s);
    for (i = 0; i <= s->nextra; i++) {
        room_conn **slot = conn_slot(s, i);
        room_conn *conn = *slot;
        if (conn) {
            *slot = NULL;
            room_conn_close(eio->nsps[i]->hub, conn, reason);
        }
    }
    free_session(eio, s);
}

/* ---- inbound ------------------------------------------------------------------ */

/* Whether a message the hub refused with ROOM_EJSON/ROOM_EPROTO was the
 * client's fault (the codec rejects it) rather than a handler's answer.
 * Re-parsing happens on that error path only. */
static bool malformed(const eio_nsp *ns, const uint8_t *p, size_t len)
{
    room_message msg;
    int rc = ns->codec->decode(ns->codec, p, len, &msg);
    if (rc == 0) {
        json_decref(msg.args);
        json_decref(msg.owner);
    }
    return rc == ROOM_EJSON || rc == ROOM_EPROTO;
}

static int deliver(room_eio *eio, room_eio_session *s, size_t index, room_conn *conn,
                   const uint8_t *p, size_t len, const room_bytes *att, size_t natt)
{
    const eio_nsp *ns = eio->nsps[index];
    int rc = room_conn_recv_binary(ns->hub, conn, p, len, att, natt);
    if ((rc == ROOM_EJSON || rc == ROOM_EPROTO) && malformed(ns, p, len))
        return violation(eio, s, "invalid Socket.IO packet");
    return rc;
}

static int recv_connect(room_eio *eio, room_eio_session *s, const rm_sio_header *h,
                        const uint8_t *p, size_t len)
{
    json_t *auth = NULL, *refusal = NULL;
    room_conn **slot, *conn;
    const char *message;
    eio_nsp *ns;
    bool replied;
    int index, rc, sent;

    /* The optional payload is the client's auth object. */
    if (h->body < len) {
        if (room_json_load(p + h->body, len - h->body, JSON_REJECT_DUPLICATES, &auth) == ROOM_ENOMEM)
            return ROOM_ENOMEM;
        if (!json_is_object(auth)) {
            json_decref(auth);
            return violation(eio, s, "invalid CONNECT payload");
        }
    }
    index = find_nsp(eio, h->nsp, h->nsp_len);
    if (index < 0) {
        json_decref(auth);
        return send_connect_error(eio, s, h->nsp, h->nsp_len, "Invalid namespace", NULL);
    }
    ns = eio->nsps[index];
    if ((size_t)index > s->nextra) {
        /* Sized for every namespace known now; namespaces are few. */
        size_t old = s->nextra, want = eio->nnsp - 1;
        room_conn **extra = rm_realloc(&eio->alloc, s->extra, old * sizeof *extra,
                                       want * sizeof *extra);
        if (!extra) {
            json_decref(auth);
            return ROOM_ENOMEM;
        }
        memset(extra + old, 0, (want - old) * sizeof *extra);
        s->extra = extra;
        s->nextra = (uint16_t)want;
    }
    slot = conn_slot(s, (size_t)index);
    if (*slot) {
        json_decref(auth);
        return violation(eio, s, "already connected to that namespace");
    }
    s->connecting = (uint16_t)(index + 1);
    rc = room_conn_open_handshake(ns->hub, s, auth, s->query, &conn, &refusal);
    replied = s->connecting == 0;
    s->connecting = 0;
    json_decref(auth);
    if (rc == 0) {
        *slot = conn;
        list_unlink(&s->cn);
        return replied ? 0 : send_connected(eio, s, ns, conn);
    }
    /* Refused: CONNECT_ERROR with the refusal's {"msg", "data"}. */
    message = json_string_value(json_object_get(refusal, "msg"));
    sent = send_connect_error(eio, s, ns->name, ns->name_len, message ? message : room_strerror(rc),
                              json_object_get(refusal, "data"));
    json_decref(refusal);
    return rc == ROOM_EDENIED ? sent : rc;
}

static int start_binary(room_eio *eio, room_eio_session *s, size_t index, room_conn *conn,
                        const uint8_t *p, size_t len, size_t attachments)
{
    eio_binary *b = rm_malloc(&eio->alloc, sizeof *b);
    if (!b)
        return ROOM_ENOMEM;
    b->buf = rm_malloc(&eio->alloc, len);
    if (!b->buf) {
        rm_free(&eio->alloc, b, sizeof *b);
        return ROOM_ENOMEM;
    }
    memcpy(b->buf, p, len);
    b->conn = conn;
    b->len = b->end[0] = len;
    b->nsp = (uint16_t)index;
    b->need = (uint8_t)attachments;
    b->have = 0;
    s->binary = b;
    return 0;
}

static int recv_attachment(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len)
{
    eio_binary *b = s->binary;
    room_bytes att[RM_SIO_MAX_ATTACHMENTS];
    uint8_t *buf;
    size_t i;
    int rc;

    /* maxPayload bounds the packet and its attachments together. */
    if (len > eio->cfg.max_payload - b->len) {
        shut(eio, s, ROOM_CLOSE_MESSAGE_TOO_BIG, "attachments exceed maxPayload");
        return ROOM_EPROTO;
    }
    buf = rm_realloc(&eio->alloc, b->buf, b->len, b->len + len);
    if (!buf)
        return ROOM_ENOMEM;
    if (len)
        memcpy(buf + b->len, p, len);
    b->buf = buf;
    b->len += len;
    b->end[++b->have] = b->len;
    if (b->have < b->need)
        return 0;
    for (i = 0; i < b->need; i++)
        att[i] = (room_bytes){b->buf + b->end[i], b->end[i + 1] - b->end[i]};
    /* Detached first: handlers may close the session. */
    s->binary = NULL;
    rc = deliver(eio, s, b->nsp, b->conn, b->buf, b->end[0], att, b->need);
    rm_free(&eio->alloc, b->buf, b->len);
    rm_free(&eio->alloc, b, sizeof *b);
    return rc;
}

/* One Socket.IO packet, the Engine.IO "4" stripped. */
static int recv_packet(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len)
{
    rm_sio_header h;
    room_conn **slot, *conn;
    int index;

    if (rm_sio_parse(p, len, &h) != 0)
        return violation(eio, s, "invalid Socket.IO packet");
    if (h.type == RM_SIO_CONNECT)
        return recv_connect(eio, s, &h, p, len);
    index = find_nsp(eio, h.nsp, h.nsp_len);
    slot = index < 0 ? NULL : conn_slot(s, (size_t)index);
    /* Socket.IO closes a client that talks to a namespace it has not
     * joined, including before any CONNECT. */
    if (!slot || !*slot)
        return violation(eio, s, "not connected to that namespace");
    switch (h.type) {
    case RM_SIO_DISCONNECT:
        if (h.body != len)
            return violation(eio, s, "invalid DISCONNECT packet");
        conn = *slot;
        *slot = NULL;
        room_conn_close(eio->nsps[index]->hub, conn, "client namespace disconnect");
        return 0;
    case RM_SIO_EVENT:
    case RM_SIO_ACK:
        return deliver(eio, s, (size_t)index, *slot, p, len, NULL, 0);
    case RM_SIO_BINARY_EVENT:
    case RM_SIO_BINARY_ACK:
        return start_binary(eio, s, (size_t)index, *slot, p, len, h.attachments);
    default:
        return violation(eio, s, "unexpected Socket.IO packet type");
    }
}

int room_eio_recv(room_eio *eio, room_eio_session *s, int kind, const void *bytes, size_t len,
                  uint64_t now_ms)
{
    const uint8_t *p = bytes;

    if (!eio || !s || (!bytes && len) || (kind != ROOM_FRAME_TEXT && kind != ROOM_FRAME_BINARY))
        return ROOM_EINVAL;
    if (s->closing)
        return ROOM_ECLOSED;
    if (len > eio->cfg.max_payload) {
        shut(eio, s, ROOM_CLOSE_MESSAGE_TOO_BIG, "message exceeds maxPayload");
        return ROOM_EPROTO;
    }
    /* Binary messages only ever carry announced attachments, and nothing
     * else may come between those. */
    if (kind == ROOM_FRAME_BINARY)
        return s->binary ? recv_attachment(eio, s, p, len)
                         : violation(eio, s, "unexpected binary message");
    if (s->binary)
        return violation(eio, s, "binary attachment expected");
    if (len == 0)
        return violation(eio, s, "empty message");
    switch (p[0]) {
    case '1': /* close */
        if (len != 1)
            break;
        shut(eio, s, ROOM_CLOSE_NORMAL, "client close");
        return 0;
    case '3': /* pong */
        if (len != 1)
            break;
        /* An unsolicited pong does not postpone the next ping. */
        if (s->awaiting_pong) {
            s->awaiting_pong = false;
            list_unlink(&s->hb);
            s->hb_deadline = now_ms + eio->cfg.ping_interval_ms;
            list_append(&eio->ping, &s->hb);
        }
        return 0;
    case '4': /* message */
        return recv_packet(eio, s, p + 1, len - 1);
    case '6': /* noop */
        if (len != 1)
            break;
        return 0;
    default:
        /* Includes "2": in Engine.IO v4 only the server pings; and "5":
         * there is nothing to upgrade from on a plain WebSocket. */
        break;
    }
    return violation(eio, s, "invalid Engine.IO packet");
}

/* ---- timers ------------------------------------------------------------------- */

static void fold(int64_t *next, int64_t ms)
{
    if (ms >= 0 && (*next < 0 || ms < *next))
        *next = ms;
}

int64_t room_eio_tick(room_eio *eio, uint64_t now_ms)
{
    room_eio_session *s;
    int64_t next = -1;
    uint32_t i;

    if (!eio)
        return -1;
    while (eio->ping.next != &eio->ping && hb_session(eio->ping.next)->hb_deadline <= now_ms) {
        s = hb_session(eio->ping.next);
        list_unlink(&s->hb);
        s->awaiting_pong = true;
        s->hb_deadline = now_ms + eio->cfg.ping_timeout_ms;
        list_append(&eio->pong, &s->hb);
        if (eio->cfg.send(s->transport, eio->ping_frame, eio->cfg.user_data) < 0)
            shut(eio, s, ROOM_CLOSE_INTERNAL_ERROR, "send failed");
    }
    while (eio->pong.next != &eio->pong && hb_session(eio->pong.next)->hb_deadline <= now_ms)
        shut(eio, hb_session(eio->pong.next), ROOM_CLOSE_NORMAL, "ping timeout");
    while (eio->connect.next != &eio->connect &&
           cn_session(eio->connect.next)->cn_deadline <= now_ms)
        shut(eio, cn_session(eio->connect.next), ROOM_CLOSE_NORMAL, "connect timeout");

    if (eio->ping.next != &eio->ping)
        fold(&next, (int64_t)(hb_session(eio->ping.next)->hb_deadline - now_ms));
    if (eio->pong.next != &eio->pong)
        fold(&next, (int64_t)(hb_session(eio->pong.next)->hb_deadline - now_ms));
    if (eio->connect.next != &eio->connect)
        fold(&next, (int64_t)(cn_session(eio->connect.next)->cn_deadline - now_ms));
    /* Last: ack callbacks may close sessions, which only moves them to the
     * closing list. */
    for (i = 0; i < eio->nnsp; i++)
        fold(&next, room_hub_tick(eio->nsps[i]->hub, now_ms));
    return next;
}

/* ---- accessors ---------------------------------------------------------------- */

const char *room_eio_session_id(const room_eio_session *session)
{
    return session ? session->sid : "";
}

void *room_eio_session_transport(const room_eio_session *session)
{
    return session ? session->transport : NULL;
}

size_t room_eio_session_count(const room_eio *eio)
{
    return eio ? eio->nsessions : 0;
}
