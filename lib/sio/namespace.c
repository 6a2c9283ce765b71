/* Socket.IO namespaces, each a hub of its own: CONNECT (with the connect
 * handler's answer as CONNECT or CONNECT_ERROR), DISCONNECT, routing the
 * other packets to the namespace's hub, and the hub callbacks that bring
 * the hub's frames back to the session's WebSocket. */
#include <string.h>

#include "sio_internal.h"

room_conn **sio_conn_slot(room_eio_session *s, size_t index)
{
    if (index == 0)
        return &s->root;
    return s->rare && index <= s->rare->nextra ? &s->rare->extra[index - 1] : NULL;
}

/* ---- the room_eio's own packets ------------------------------------------- */

/* CONNECT: {"sid": the connection's id in this namespace}; nothing for a
 * Socket.IO v2 client, which names its sockets itself. */
static int send_connected(room_eio *eio, room_eio_session *s, const eio_nsp *ns, room_conn *conn)
{
    room_buf *b = eio->scratch;
    int rc;
    room_buf_reset(b);
    rc = sio_header_write(b, SIO_CONNECT, 0, ns->name, ns->name_len, -1);
    if (!rc && s->eio3)
        return sio_send_scratch(eio, s, rc);
    if (!rc)
        rc = room_buf_append(b, "{\"sid\":\"", 8);
    if (!rc)
        rc = room_buf_append(b, room_conn_id(conn), ROOM_CONN_ID_LEN);
    if (!rc)
        rc = sio_recovery_connected(b, ns->hub, conn);
    if (!rc)
        rc = room_buf_append(b, "\"}", 2);
    return sio_send_scratch(eio, s, rc);
}

/* CONNECT_ERROR: {"message": message[, "data": data]}. A refusal to a
 * Socket.IO v2 client (`refused`) is its data, or else its message, alone
 * (socket.io's `socket._error(err.data || err.message)`). */
static int send_connect_error(room_eio *eio, room_eio_session *s, const char *nsp, size_t nsp_len,
                              const char *message, json_t *data, bool refused)
{
    room_buf *b = eio->scratch;
    bool has_data = data && !json_is_null(data);
    int rc;
    room_buf_reset(b);
    rc = sio_header_write(b, SIO_CONNECT_ERROR, 0, nsp, nsp_len, -1);
    if (!rc && s->eio3 && refused) {
        rc = has_data ? room_buf_append_json(b, data) : room_buf_append_json_string(b, message);
        return sio_send_scratch(eio, s, rc);
    }
    if (!rc)
        rc = room_buf_append(b, "{\"message\":", 11);
    if (!rc)
        rc = room_buf_append_json_string(b, message);
    if (!rc && has_data) {
        rc = room_buf_append(b, ",\"data\":", 8);
        if (!rc)
            rc = room_buf_append_json(b, data);
    }
    if (!rc)
        rc = room_buf_append(b, "}", 1);
    return sio_send_scratch(eio, s, rc);
}

/* ---- frames a connect handler sends ---------------------------------------- */

static int hold(room_eio *eio, room_frame *frame)
{
    if (eio->nheld == eio->capheld) {
        size_t cap = eio->capheld ? eio->capheld * 2 : 4;
        room_frame **held = sio_realloc(&eio->alloc, eio->held, eio->capheld * sizeof *held,
                                        cap * sizeof *held);
        if (!held)
            return ROOM_ENOMEM;
        eio->held = held;
        eio->capheld = cap;
    }
    eio->held[eio->nheld++] = room_frame_ref(frame);
    return 0;
}

/* Sends the held frames (`send`) or drops them. */
static void release_held(room_eio *eio, room_eio_session *s, bool send)
{
    size_t i;
    for (i = 0; i < eio->nheld; i++) {
        if (send)
            sio_send(eio, s, eio->held[i]);
        room_frame_unref(eio->held[i]);
    }
    eio->nheld = 0;
}

/* ---- hub callbacks ----------------------------------------------------------- */

static int hub_send(void *transport, room_frame *frame, void *user_data)
{
    eio_nsp *ns = user_data;
    room_eio *eio = ns->eio;
    room_eio_session *s = transport;
    if (s->closing)
        return 0;
    if (eio->connecting == s && eio->connecting_nsp == ns->index)
        return hold(eio, frame);
    return sio_send(eio, s, frame);
}

/* One WebSocket carries every namespace of the session: closing any of its
 * connections closes all of them. A DISCONNECT goes first, so that the
 * client does not reconnect the namespace the server closed. */
static void hub_close(void *transport, int code, const char *reason, void *user_data)
{
    eio_nsp *ns = user_data;
    room_eio_session *s = transport;
    if (!s->closing) {
        room_buf_reset(ns->eio->scratch);
        sio_send_scratch(ns->eio, s,
                         sio_header_write(ns->eio->scratch, SIO_DISCONNECT, 0, ns->name,
                                          ns->name_len, -1));
    }
    sio_shut(ns->eio, s, code, reason);
}

static void hub_log(int level, const char *message, void *user_data)
{
    eio_nsp *ns = user_data;
    ns->eio->cfg.log(level, message, ns->eio->cfg.user_data);
}

/* The raw bytes room_id_generate() made `id` from. */
static void id_bytes(const char *id, uint8_t *out)
{
    size_t i, o = 0;
    for (i = 0; i < ROOM_CONN_ID_LEN; i += 4) {
        uint32_t v = 0;
        size_t k;
        for (k = 0; k < 4; k++) {
            char c = id[i + k];
            unsigned d = c >= 'A' && c <= 'Z'   ? (unsigned)(c - 'A')
                         : c >= 'a' && c <= 'z' ? (unsigned)(c - 'a' + 26)
                         : c >= '0' && c <= '9' ? (unsigned)(c - '0' + 52)
                         : c == '-'             ? 62u
                                                : 63u;
            v = v << 6 | d;
        }
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
}

/* The hub's random bytes: the host's, else the library's own (drawn
 * through room_id_generate(), the one place that reads them). A Socket.IO
 * v2 client's socket in "/" is named after its Engine.IO sid, as Socket.IO
 * 4 names it (and as the client believes): while "/" connects one, the
 * hub's next draw of an id's worth, the new connection's id, is the sid's
 * own bytes, so that the hub writes the sid again. */
static int hub_random(void *buf, size_t len, void *user_data)
{
    eio_nsp *ns = user_data;
    uint8_t raw[ROOM_CONN_ID_LEN / 4 * 3], *out = buf;
    char id[ROOM_CONN_ID_LEN + 1];

    if (ns->eio->id_from_sid && len == sizeof raw) {
        id_bytes(ns->eio->id_from_sid, out);
        ns->eio->id_from_sid = NULL;
        return 0;
    }
    if (ns->random)
        return ns->random(buf, len, ns->random_ud);
    while (len) {
        size_t n = len < sizeof raw ? len : sizeof raw;
        if (room_id_generate(id, NULL, NULL) != 0)
            return ROOM_EINVAL;
        id_bytes(id, raw);
        memcpy(out, raw, n);
        out += n;
        len -= n;
    }
    return 0;
}

static size_t hub_seal(const room_frame *frame, uint8_t *header, void *user_data)
{
    eio_nsp *ns = user_data;
    return ns->eio->cfg.seal(frame, header, ns->eio->cfg.user_data);
}

/* ---- the namespace table ------------------------------------------------------ */

int sio_namespace_find(const room_eio *eio, const char *name, size_t len)
{
    uint32_t i;
    for (i = 0; i < eio->nnsp; i++) {
        if (eio->nsps[i]->name_len == len && memcmp(eio->nsps[i]->name, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/* The hub is created last: until room_hub_new() succeeds, the host keeps
 * the adapter its config names. */
int sio_namespace_add(room_eio *eio, const char *name, const room_config *config,
                      room_hub **hub_out)
{
    size_t len = strlen(name);
    room_config cfg;
    eio_nsp **nsps, *ns;
    int rc;

    if (config && config->size < ROOM_CONFIG_SIZE_MIN)
        return ROOM_EINVAL;
    /* Session slots index namespaces with 16 bits. */
    if (eio->nnsp >= UINT16_MAX - 1)
        return ROOM_ELIMIT;
    /* Namespaces are few and added at startup: grown one at a time. */
    nsps = sio_realloc(&eio->alloc, eio->nsps, eio->nnsp * sizeof *nsps,
                       (eio->nnsp + 1) * sizeof *nsps);
    if (!nsps)
        return ROOM_ENOMEM;
    eio->nsps = nsps;
    ns = sio_malloc(&eio->alloc, sizeof *ns + len + 1);
    if (!ns)
        return ROOM_ENOMEM;
    rc = room_codec_socketio_new(&ns->codec, name);
    if (rc) {
        sio_free(&eio->alloc, ns);
        return rc;
    }
    ns->eio = eio;
    ns->index = (uint16_t)eio->nnsp;
    ns->name_len = len;
    memcpy(ns->name, name, len + 1);

    /* As room_hub_new() does: no more than the host's `size` bytes (checked
     * above). */
    room_config_init(&cfg);
    if (config)
        room_config_copy(&cfg, sizeof cfg, config, ROOM_CONFIG_SIZE_MIN);
    ns->random = cfg.random;
    ns->random_ud = cfg.user_data;
    cfg.send = hub_send;
    cfg.close = hub_close;
    cfg.log = eio->cfg.log ? hub_log : NULL;
    cfg.random = hub_random;
    cfg.seal = eio->cfg.seal ? hub_seal : NULL;
    cfg.seal_headroom = eio->cfg.seal_headroom;
    cfg.allocator = eio->cfg.allocator;
    cfg.codec = ns->codec;
    cfg.user_data = ns;
    rc = room_hub_new(&ns->hub, &cfg);
    if (rc) {
        room_codec_socketio_free(ns->codec);
        sio_free(&eio->alloc, ns);
        return rc;
    }
    eio->nsps[eio->nnsp++] = ns;
    if (hub_out)
        *hub_out = ns->hub;
    return 0;
}

void sio_namespace_free(room_eio *eio, eio_nsp *ns)
{
    room_hub_free(ns->hub);
    room_codec_socketio_free(ns->codec);
    sio_free(&eio->alloc, ns);
}

int room_eio_namespace(room_eio *eio, const char *nsp, const room_config *config,
                       room_hub **hub_out)
{
    if (hub_out)
        *hub_out = NULL;
    if (!eio || !nsp || nsp[0] != '/')
        return ROOM_EINVAL;
    if (sio_namespace_find(eio, nsp, strlen(nsp)) >= 0)
        return ROOM_EALREADY;
    return sio_namespace_add(eio, nsp, config, hub_out);
}

room_hub *room_eio_hub(room_eio *eio, const char *nsp)
{
    int i;
    if (!eio || !nsp)
        return NULL;
    i = sio_namespace_find(eio, nsp, strlen(nsp));
    return i < 0 ? NULL : eio->nsps[i]->hub;
}

/* ---- inbound ------------------------------------------------------------------ */

int sio_deliver(room_eio *eio, room_eio_session *s, size_t index, room_conn *conn,
                const sio_header *h, const uint8_t *p, size_t len, const room_bytes *att,
                size_t natt)
{
    const eio_nsp *ns = eio->nsps[index];
    int rc;
    /* The hub's rate limits refill by the time of this message. */
    room_hub_set_time(ns->hub, eio->now);
    sio_codec_known_header(ns->codec, p, h);
    rc = room_conn_recv_binary(ns->hub, conn, p, len, att, natt);
    sio_codec_known_header(ns->codec, NULL, NULL);
    /* From the hub these mean exactly "the codec could not decode it"; a
     * handler's own result never comes back as them. */
    if (rc == ROOM_EJSON || rc == ROOM_EPROTO)
        return sio_violation(eio, s, "invalid Socket.IO packet");
    return rc;
}

/* The client's auth: v5 sends it as the CONNECT payload (Socket.IO hands
 * the server {} when there is none); v2 as a query in the namespace
 * ("/admin?token=x"), which Socket.IO 4 reads the same way. Sets *nsp_len
 * to the namespace's length without that query. Returns 0, ROOM_ENOMEM, or
 * ROOM_EPROTO for a payload that is not an object. */
static int connect_auth(const room_eio_session *s, const sio_header *h, const uint8_t *p,
                        size_t len, size_t *nsp_len, json_t **auth)
{
    const char *q = s->eio3 ? memchr(h->nsp, '?', h->nsp_len) : NULL;
    int rc;

    *auth = NULL;
    *nsp_len = q ? (size_t)(q - h->nsp) : h->nsp_len;
    if (h->body < len) {
        rc = room_json_load(p + h->body, len - h->body, JSON_REJECT_DUPLICATES, auth);
        if (rc == ROOM_ENOMEM)
            return rc;
        if (rc || !json_is_object(*auth)) {
            json_decref(*auth);
            *auth = NULL;
            return ROOM_EPROTO;
        }
        /* v2 clients send none; Socket.IO 4 ignores one from them. */
        if (!s->eio3)
            return 0;
        json_decref(*auth);
        *auth = NULL;
    }
    if (q) {
        size_t qlen = h->nsp_len - *nsp_len - 1;
        rc = room_query_parse(q + 1, qlen, auth);
        return rc == ROOM_ENOMEM ? rc : rc ? ROOM_EPROTO : 0;
    }
    *auth = json_object();
    return *auth ? 0 : ROOM_ENOMEM;
}

/* The CONNECT reply (or CONNECT_ERROR) for what the open gave. */
static int connect_done(room_eio *eio, room_eio_session *s, int index, int rc, room_conn *conn,
                        json_t *refusal)
{
    room_conn **slot = sio_conn_slot(s, (size_t)index);
    const char *message;
    eio_nsp *ns = eio->nsps[index];
    int sent;

    if (rc == 0) {
        *slot = conn;
        sio_connect_wait_end(eio, s);
        sent = send_connected(eio, s, ns, conn);
        release_held(eio, s, sent == 0);
        return sent;
    }
    /* Refused: what the handler sent is not for a client that is not
     * connected, and the CONNECT_ERROR carries the refusal's {"msg",
     * "data"}. */
    release_held(eio, s, false);
    sio_rare_trim(eio, s);
    message = json_string_value(json_object_get(refusal, "msg"));
    sent = send_connect_error(eio, s, ns->name, ns->name_len, message ? message : room_strerror(rc),
                              json_object_get(refusal, "data"), true);
    json_decref(refusal);
    return rc == ROOM_EDENIED ? sent : rc;
}

/* Recovery across nodes: the cluster answered for the session's CONNECT
 * that waited (room_open_args.resume_wait); it opens now, and its reply
 * goes out as a local one would. */
static void resume_ready(room_hub *hub, void *transport, void *ud)
{
    eio_nsp *ns = ud;
    room_eio *eio = ns->eio;
    room_eio_session *s = transport;
    json_t *refusal = NULL;
    room_conn *conn = NULL;
    /* The rare part may have gone meanwhile (a binary packet ended). */
    int rc = ns->index ? sio_rare_grow(eio, s, ns->index) : 0;
    if (rc) {
        room_conn_open_cancel(hub, s);
    } else {
        eio->connecting = s;
        eio->connecting_nsp = ns->index;
        rc = room_conn_open_pending(hub, s, &conn, &refusal);
        eio->connecting = NULL;
    }
    connect_done(eio, s, ns->index, rc, conn, refusal);
}

/* Connects the session to namespace `index` (its slot free) with `auth`. */
static int connect_to(room_eio *eio, room_eio_session *s, int index, json_t *auth)
{
    room_open_args args;
    json_t *refusal = NULL;
    room_conn *conn = NULL;
    eio_nsp *ns = eio->nsps[index];
    int rc;

    room_open_args_init(&args);
    args.auth = auth;
    args.query = s->query;
    args.handshake = sio_handshake(s);
    sio_recovery_args(ns->hub, auth, eio->now, &args);
    /* A session another node holds: the reply waits for the cluster. */
    args.resume_wait = resume_ready;
    args.resume_wait_ud = ns;
    eio->connecting = s;
    eio->connecting_nsp = (uint16_t)index;
    rc = room_conn_open_with(ns->hub, s, &args, &conn, &refusal);
    eio->connecting = NULL;
    if (rc == ROOM_OPEN_PENDING) {
        s->resuming = true;
        return 0;
    }
    if (rc == ROOM_EALREADY)
        return sio_violation(eio, s, "already connecting to that namespace");
    return connect_done(eio, s, index, rc, conn, refusal);
}

int sio_connect_root_v2(room_eio *eio, room_eio_session *s)
{
    json_t *auth = json_object();
    int rc;
    if (!auth)
        return ROOM_ENOMEM;
    eio->id_from_sid = s->sid;
    rc = connect_to(eio, s, 0, auth);
    eio->id_from_sid = NULL;
    json_decref(auth);
    return rc;
}

static int recv_connect(room_eio *eio, room_eio_session *s, const sio_header *h,
                        const uint8_t *p, size_t len)
{
    json_t *auth;
    size_t nsp_len;
    int index, rc;

    rc = connect_auth(s, h, p, len, &nsp_len, &auth);
    if (rc == ROOM_EPROTO)
        return sio_violation(eio, s, "invalid CONNECT payload");
    if (rc)
        return rc;
    index = sio_namespace_find(eio, h->nsp, nsp_len);
    if (index < 0) {
        json_decref(auth);
        return send_connect_error(eio, s, h->nsp, nsp_len, "Invalid namespace", NULL, false);
    }
    rc = index ? sio_rare_grow(eio, s, (size_t)index) : 0;
    if (!rc && *sio_conn_slot(s, (size_t)index))
        rc = sio_violation(eio, s, "already connected to that namespace");
    if (!rc)
        rc = connect_to(eio, s, index, auth);
    json_decref(auth);
    return rc;
}

int sio_recv_packet(room_eio *eio, room_eio_session *s, const uint8_t *p, size_t len)
{
    sio_header h;
    room_conn **slot, *conn;
    int index;

    if (sio_header_parse(p, len, &h) != 0)
        return sio_violation(eio, s, "invalid Socket.IO packet");
    if (h.type == SIO_CONNECT)
        return recv_connect(eio, s, &h, p, len);
    index = sio_namespace_find(eio, h.nsp, h.nsp_len);
    slot = index < 0 ? NULL : sio_conn_slot(s, (size_t)index);
    /* Socket.IO closes a client that talks to a namespace it has not
     * joined, including before any CONNECT. */
    if (!slot || !*slot)
        return sio_violation(eio, s, s->resuming ? "not connected to that namespace (its CONNECT is waiting for the cluster)"
                                                 : "not connected to that namespace");
    switch (h.type) {
    case SIO_DISCONNECT:
        if (h.body != len)
            return sio_violation(eio, s, "invalid DISCONNECT packet");
        conn = *slot;
        *slot = NULL;
        room_conn_close_final(eio->nsps[index]->hub, conn, "client namespace disconnect");
        sio_rare_trim(eio, s);
        return 0;
    case SIO_EVENT:
    case SIO_ACK:
        return sio_deliver(eio, s, (size_t)index, *slot, &h, p, len, NULL, 0);
    case SIO_BINARY_EVENT:
    case SIO_BINARY_ACK:
        return sio_binary_start(eio, s, (size_t)index, *slot, &h, p, len);
    default:
        return sio_violation(eio, s, "unexpected Socket.IO packet type");
    }
}
