/* Connection-state recovery across nodes (docs/recovery.md, "Across
 * nodes"): an open whose private id is not known here waits while the
 * adapter asks the cluster; the node holding the detached connection hands
 * it over (room_hub_resume_take()), and this node rebuilds it as a
 * detached connection of its own (room_hub_resume_complete()), which the
 * waiting open then resumes like a local one. */
#include <string.h>

#include "internal.h"

/* ---- the asking side ------------------------------------------------------- */

static rm_resuming *by_transport(room_hub *hub, const void *transport)
{
    rm_resuming *r;
    if (!transport)
        return NULL; /* cancelled ones have none */
    for (r = hub->resuming; r; r = r->next) {
        if (r->transport == transport)
            return r;
    }
    return NULL;
}

static void unlink_resuming(room_hub *hub, rm_resuming *gone)
{
    rm_resuming **link;
    for (link = &hub->resuming; *link != gone; link = &(*link)->next)
        ;
    *link = gone->next;
}

static void release(room_hub *hub, rm_resuming *r)
{
    json_decref(r->auth);
    json_decref(r->query);
    json_decref(r->handshake);
    rm_free(&hub->alloc, r, sizeof *r);
}

int rm_resume_ask(room_hub *hub, void *transport, const room_open_args *args, const char *pid,
                  const char *offset)
{
    rm_resuming *r;
    uint64_t parsed;
    int rc;

    if (by_transport(hub, transport))
        return ROOM_EALREADY;
    if (!hub->adapter.resume || !rm_offset_parse(offset, &parsed))
        return 0;
    if (!(r = rm_calloc(&hub->alloc, sizeof *r)))
        return ROOM_ENOMEM;
    r->transport = transport;
    r->wait = args->resume_wait;
    r->wait_ud = args->resume_wait_ud;
    r->auth = json_incref(args->auth);
    r->query = json_incref(args->query);
    r->handshake = json_incref(args->handshake);
    r->ticket = ++hub->tickets;
    r->status = 1;
    memcpy(r->pid, pid, ROOM_CONN_ID_LEN + 1);
    rm_offset_text(parsed, r->offset);
    r->next = hub->resuming;
    hub->resuming = r;
    rc = hub->adapter.resume(hub->cfg.adapter, hub, r->ticket, pid, offset);
    if (rc < 0) {
        /* Nobody else can hold it: a fresh connection now. */
        unlink_resuming(hub, r);
        release(hub, r);
        return 0;
    }
    return ROOM_OPEN_PENDING;
}

/* The characters room_id_generate() writes. */
static bool id_valid(const char *id)
{
    size_t i;
    for (i = 0; i < ROOM_CONN_ID_LEN; i++) {
        if (!rm_id_char(id[i]))
            return false;
    }
    return id[i] == '\0';
}

/* Logs the missed events as direct emits of `conn` (detached, so nothing
 * is sent now): its resume replays them with this hub's offsets, and a
 * break during that replay resumes from any of them. */
static int log_events(room_hub *hub, room_conn *conn, const room_resume_session *s)
{
    size_t i;
    for (i = 0; i < s->nevents; i++) {
        const room_resume_event *ev = &s->events[i];
        room_frame *frame;
        uint64_t offset;
        int rc;
        if (!ev->event || rm_check_args(ev->argv, ev->argc, ev->attachments, ev->attachment_count))
            return ROOM_EINVAL;
        rc = rm_frame_encode_logged(hub, ev->event, ev->argv, ev->argc, ev->attachments,
                                    ev->attachment_count, &offset, &frame);
        if (rc)
            return rc;
        rm_log_add(hub, &hub->log, frame, offset, NULL, conn);
        room_frame_unref(frame);
    }
    return 0;
}

/* The handed-over session becomes a detached connection of this hub;
 * *from is the offset its replay starts after. */
static int adopt(room_hub *hub, const char *pid, const room_resume_session *s, uint64_t *from)
{
    room_conn *conn;
    rm_conn_ext *ext;
    uint32_t hash;
    size_t i;
    int rc;

    if (!s->conn_id || !id_valid(s->conn_id) || (!s->rooms && s->nrooms) ||
        (!s->events && s->nevents))
        return ROOM_EINVAL;
    hash = rm_hash(hub->seed, s->conn_id, ROOM_CONN_ID_LEN);
    if (rm_table_get(&hub->conns_by_id, hash, s->conn_id) ||
        rm_table_get(&hub->detached, rm_hash(hub->seed, pid, ROOM_CONN_ID_LEN), pid))
        return ROOM_EALREADY;
    if (!(conn = rm_calloc(&hub->alloc, rm_conn_size(hub))))
        return ROOM_ENOMEM;
    conn->rooms = &conn->first;
    memcpy(conn->id, s->conn_id, ROOM_CONN_ID_LEN + 1);
    conn->id_hash = hash;
    ext = rm_conn_ext_of(hub, conn);
    ext->created = *from = hub->offset;
    memcpy(ext->pid, pid, ROOM_CONN_ID_LEN + 1);
    hub->nconns++;
    rm_limit_init(hub, conn);
    /* Its places first, so that the node hears these rooms' traffic from
     * now on; a room this node refuses (a limit) is left out. */
    for (i = 0; i < s->nrooms; i++) {
        rc = room_join(hub, conn, s->rooms[i]);
        if (rc == ROOM_ENOMEM)
            goto fail;
        if (rc && rc != ROOM_EALREADY)
            rm_log(hub, ROOM_LOG_WARN, "a connection resumed from another node left out of %s: %s",
                   s->rooms[i], room_strerror(rc));
    }
    /* As room_conn_close() leaves a connection it detaches. */
    conn->flags |= RM_CONN_CLOSING | RM_CONN_KICKED | RM_CONN_ADOPTED;
    if ((rc = rm_recovery_detach(hub, conn)) != 0)
        goto fail;
    if ((rc = log_events(hub, conn, s)) != 0)
        goto fail;
    return 0;
fail:
    conn->flags |= RM_CONN_CLOSING | RM_CONN_KICKED;
    rm_conn_free(hub, conn);
    return rc;
}

int room_hub_resume_complete(room_hub *hub, uint64_t ticket, int status,
                             const room_resume_session *session)
{
    rm_resuming *r;
    uint64_t from;
    int rc = 0;

    if (!hub || status > 0 || (status == 0 && !session))
        return ROOM_EINVAL;
    for (r = hub->resuming; r && r->ticket != ticket; r = r->next)
        ;
    if (!r || r->status != 1)
        return ROOM_ENOTFOUND;
    if (status == 0 && (rc = adopt(hub, r->pid, session, &from)) == 0)
        rm_offset_text(from, r->offset);
    r->status = status < 0 ? status : rc;
    if (!r->transport) {
        /* Cancelled: the session (if any) waits here for the client. */
        unlink_resuming(hub, r);
        release(hub, r);
        return rc;
    }
    r->wait(hub, r->transport, r->wait_ud);
    return rc;
}

int room_conn_open_pending(room_hub *hub, void *transport, room_conn **conn_out,
                           json_t **refusal_out)
{
    room_open_args args;
    rm_resuming *r;
    int rc;

    if (refusal_out)
        *refusal_out = NULL;
    if (!hub || !conn_out)
        return ROOM_EINVAL;
    *conn_out = NULL;
    if (!hub->cfg.recovery_ms || !transport || !(r = by_transport(hub, transport)))
        return ROOM_ENOTFOUND;
    if (r->status == 1)
        return ROOM_OPEN_PENDING;
    unlink_resuming(hub, r);
    room_open_args_init(&args);
    args.auth = r->auth;
    args.query = r->query;
    args.handshake = r->handshake;
    /* Handed over: the detached connection is here now. Refused or no
     * answer: it may be here all the same, handed over to an earlier ask
     * of this client that it left (a second connect while the first
     * waited); else a fresh one. */
    args.resume_pid = r->pid;
    args.resume_offset = r->offset;
    rc = room_conn_open_with(hub, transport, &args, conn_out, refusal_out);
    release(hub, r);
    return rc;
}

int room_conn_open_cancel(room_hub *hub, void *transport)
{
    rm_resuming *r;
    if (!hub || !hub->resuming || !transport || !(r = by_transport(hub, transport)))
        return ROOM_ENOTFOUND;
    if (r->status != 1) {
        unlink_resuming(hub, r);
        release(hub, r);
        return 0;
    }
    /* The adapter still owes its answer: the record waits for it. */
    r->transport = NULL;
    r->wait = NULL;
    json_decref(r->auth);
    json_decref(r->query);
    json_decref(r->handshake);
    r->auth = r->query = r->handshake = NULL;
    return 0;
}

void rm_resume_free(room_hub *hub)
{
    while (hub->resuming) {
        rm_resuming *r = hub->resuming;
        hub->resuming = r->next;
        release(hub, r);
    }
}

/* ---- the holding side --------------------------------------------------------- */

typedef struct take {
    room_frame **frames;
    size_t n, cap;
    int rc;
} take;

static void collect(room_hub *hub, room_conn *conn, room_frame *frame, void *ud)
{
    take *t = ud;
    (void)conn;
    if (t->rc)
        return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        room_frame **grown = rm_realloc(&hub->alloc, t->frames, t->cap * sizeof *grown,
                                        cap * sizeof *grown);
        if (!grown) {
            t->rc = ROOM_ENOMEM;
            return;
        }
        t->frames = grown;
        t->cap = cap;
    }
    t->frames[t->n++] = frame;
}

/* One logged frame back into its event: the codec's decode_logged, else
 * its decode and, without encode_logged, the offset argument dropped. */
static int decode_frame(room_hub *hub, const room_frame *frame, room_message *msg)
{
    size_t len;
    const uint8_t *bytes = room_frame_payload(frame, &len);
    int rc;
    memset(msg, 0, sizeof *msg);
    rc = hub->codec.decode_logged ? hub->codec.decode_logged(hub->cfg.codec, bytes, len, msg)
                                  : hub->codec.decode(hub->cfg.codec, bytes, len, msg);
    if (rc)
        return rc == ROOM_ENOMEM ? rc : ROOM_EPROTO;
    if (msg->type != ROOM_MSG_EVENT || !json_is_array(msg->args) ||
        (!hub->codec.decode_logged && !hub->codec.encode_logged &&
         json_array_remove(msg->args, json_array_size(msg->args) - 1) != 0)) {
        json_decref(msg->args);
        json_decref(msg->owner);
        return ROOM_EPROTO;
    }
    return 0;
}

/* Decodes the frames into events and hands the session to fn. */
static int hand_over(room_hub *hub, room_conn *conn, take *t, room_resume_take_fn fn, void *ud)
{
    room_resume_session s = {.conn_id = conn->id, .nrooms = conn->nrooms, .nevents = t->n};
    room_resume_event *evs = NULL;
    room_message *msgs = NULL;
    const char **rooms = NULL;
    json_t **argv = NULL;
    room_bytes *att = NULL;
    size_t i, nargs = 0, natt = 0, ai = 0, bi = 0, ndecoded = 0;
    const room_frame *f;
    int rc = ROOM_ENOMEM;

    if (t->n && (!(evs = rm_calloc(&hub->alloc, t->n * sizeof *evs)) ||
                 !(msgs = rm_calloc(&hub->alloc, t->n * sizeof *msgs))))
        goto out;
    if (conn->nrooms && !(rooms = rm_malloc(&hub->alloc, conn->nrooms * sizeof *rooms)))
        goto out;
    for (i = 0; i < conn->nrooms; i++)
        rooms[i] = conn->rooms[i].room->name;
    for (i = 0; i < t->n; i++, ndecoded++) {
        if ((rc = decode_frame(hub, t->frames[i], &msgs[i])) != 0)
            goto out;
        nargs += json_array_size(msgs[i].args);
        for (f = room_frame_next(t->frames[i]); f; f = room_frame_next(f))
            natt++;
    }
    rc = ROOM_ENOMEM;
    if ((nargs && !(argv = rm_malloc(&hub->alloc, nargs * sizeof *argv))) ||
        (natt && !(att = rm_malloc(&hub->alloc, natt * sizeof *att))))
        goto out;
    for (i = 0; i < t->n; i++) {
        size_t k;
        evs[i].event = msgs[i].event;
        evs[i].argv = argv ? argv + ai : NULL;
        evs[i].argc = json_array_size(msgs[i].args);
        for (k = 0; k < evs[i].argc; k++)
            argv[ai++] = json_array_get(msgs[i].args, k);
        evs[i].attachments = att ? att + bi : NULL;
        for (f = room_frame_next(t->frames[i]); f; f = room_frame_next(f)) {
            att[bi].data = room_frame_payload(f, &att[bi].len);
            bi++;
            evs[i].attachment_count++;
        }
    }
    s.rooms = rooms;
    s.events = evs;
    rc = fn(hub, &s, ud);
out:
    for (i = 0; i < ndecoded; i++) {
        json_decref(msgs[i].args);
        json_decref(msgs[i].owner);
    }
    rm_free(&hub->alloc, evs, t->n * sizeof *evs);
    rm_free(&hub->alloc, msgs, t->n * sizeof *msgs);
    rm_free(&hub->alloc, rooms, conn->nrooms * sizeof *rooms);
    rm_free(&hub->alloc, argv, nargs * sizeof *argv);
    rm_free(&hub->alloc, att, natt * sizeof *att);
    return rc;
}

int room_hub_resume_take(room_hub *hub, const char *pid, const char *text,
                         room_resume_take_fn fn, void *ud)
{
    rm_detached *d;
    room_conn *conn;
    uint64_t offset;
    uint32_t *pos;
    size_t pos_size;
    take t = {0};
    int rc;

    if (!hub || !pid || !text || !fn)
        return ROOM_EINVAL;
    if (!hub->cfg.recovery_ms || strlen(pid) != ROOM_CONN_ID_LEN ||
        !(d = rm_table_get(&hub->detached, rm_hash(hub->seed, pid, ROOM_CONN_ID_LEN), pid)))
        return ROOM_ENOTFOUND;
    conn = d->conn;
    if (!rm_offset_parse(text, &offset))
        return ROOM_EDENIED;
    /* The conditions of a local resume (recovery.c). */
    if (offset < rm_conn_ext_of(hub, conn)->created)
        offset = rm_conn_ext_of(hub, conn)->created;
    if ((d->at != RM_AT_UNKNOWN && hub->now_ms > d->at &&
         hub->now_ms - d->at >= hub->cfg.recovery_ms) ||
        !rm_log_complete(hub, conn, offset)) {
        rm_conn_free(hub, conn);
        return ROOM_EDENIED;
    }
    pos_size = ((size_t)conn->nrooms + 1) * sizeof *pos;
    if (!(pos = rm_malloc(&hub->alloc, pos_size)))
        return ROOM_ENOMEM;
    rm_log_walk(hub, conn, offset, pos, collect, &t);
    rm_free(&hub->alloc, pos, pos_size);
    rc = t.rc ? t.rc : hand_over(hub, conn, &t, fn, ud);
    rm_free(&hub->alloc, t.frames, t.cap * sizeof *t.frames);
    /* Handed over: it lives on the other node now. */
    if (rc == 0)
        rm_conn_free(hub, conn);
    return rc;
}
