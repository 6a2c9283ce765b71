/* Connection-state recovery (docs/recovery.md): offsets on logged events,
 * detaching a connection whose transport is lost, taking it back with its
 * private id and last offset, and freeing it when its window has passed.
 * Everything here runs only in hubs with recovery_ms > 0. */
#include <string.h>

#include "internal.h"

/* The longest uint64 in decimal, and its NUL. */
#define OFFSET_TEXT 21

void rm_recovery_start(room_hub *hub)
{
    if (!hub->cfg.recovery_ms)
        return;
    hub->ext_off = (uint16_t)(sizeof(room_conn) + (hub->limited ? sizeof(rm_limit) : 0));
    rm_table_init(&hub->detached, offsetof(rm_detached, pid), offsetof(rm_detached, hash));
}

/* Milliseconds from `then` to `now`; 0 if a host's clock went back. */
static uint64_t since(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

void rm_recovery_clock(room_hub *hub)
{
    uint64_t now = hub->now_ms, ms = hub->cfg.recovery_ms;
    rm_detached *d;
    uint32_t i;

    /* Detached since the hub last knew the time: their window starts now,
     * so that a stale clock never shortens it. */
    for (d = hub->newest; d && d->at == RM_AT_UNKNOWN; d = d->prev)
        d->at = now;
    /* A mark each eighth of the window, at most RM_MARKS kept. */
    if (!hub->nmarks || since(now, hub->marks[hub->nmarks - 1].at) >= (ms + 7) / 8) {
        if (hub->nmarks == RM_MARKS)
            memmove(hub->marks, hub->marks + 1, --hub->nmarks * sizeof *hub->marks);
        hub->marks[hub->nmarks++] = (rm_mark){now, hub->offset};
    }
    /* The newest mark at least a window old ages everything up to it. */
    for (i = 0; i < hub->nmarks && since(now, hub->marks[i].at) >= ms; i++)
        hub->aged = hub->marks[i].offset;
    if (i > 1) {
        hub->nmarks -= i - 1;
        memmove(hub->marks, hub->marks + i - 1, hub->nmarks * sizeof *hub->marks);
    }
}

rm_conn_ext *rm_conn_ext_of(const room_hub *hub, const room_conn *conn)
{
    return (rm_conn_ext *)(void *)((char *)(uintptr_t)conn + hub->ext_off);
}

int rm_recovery_conn_init(room_hub *hub, room_conn *conn)
{
    rm_conn_ext *ext = rm_conn_ext_of(hub, conn);
    ext->created = hub->offset;
    ext->direct_floor = 0;
    return room_id_generate(ext->pid, hub->cfg.random, hub->cfg.user_data);
}

/* Decimal, as on every logged send: without snprintf's cost. */
void rm_offset_text(uint64_t offset, char out[OFFSET_TEXT])
{
    char tmp[OFFSET_TEXT];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + offset % 10);
        offset /= 10;
    } while (offset);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
}

/* Decimal digits only, as rm_offset_text() writes them. */
bool rm_offset_parse(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    for (i = 0; s[i]; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9 || i == OFFSET_TEXT - 1 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return i > 0;
}

int rm_encode_logged(room_hub *hub, room_buf *buf, const char *event, json_t *const *argv,
                     size_t argc, size_t natt)
{
    const room_codec *codec = &hub->codec;
    char text[OFFSET_TEXT];
    size_t size = (argc + 1) * sizeof(json_t *);
    json_t **all, *last;
    int rc;

    rm_offset_text(hub->offset + 1, text);
    if (codec->encode_logged)
        return codec->encode_logged(hub->cfg.codec, buf, event, argv, argc, text, natt);
    /* The offset as one more, last, argument (Socket.IO's way). */
    all = rm_malloc(&hub->alloc, size);
    last = all ? json_string(text) : NULL;
    if (!last) {
        rm_free(&hub->alloc, all, size);
        return ROOM_ENOMEM;
    }
    if (argc)
        memcpy(all, argv, argc * sizeof *all);
    all[argc] = last;
    rc = codec->encode_event(hub->cfg.codec, buf, event, all, argc + 1, -1, natt);
    json_decref(last);
    rm_free(&hub->alloc, all, size);
    return rc;
}

int rm_frame_encode_logged(room_hub *hub, const char *event, json_t *const *argv, size_t argc,
                           const room_bytes *att, size_t natt, uint64_t *offset_out,
                           room_frame **out)
{
    int rc = rm_frame_encode(hub, event, argv, argc, RM_ACK_LOGGED, att, natt, out);
    if (!rc)
        *offset_out = ++hub->offset;
    return rc;
}

/* Apart from send.c's send_to(), so that the path without recovery stays
 * as it was. */
int rm_send_logged(room_hub *hub, const char *name, rm_room *room, const char *event,
                   json_t *const *argv, size_t argc, const room_bytes *att, size_t natt,
                   const room_conn *except)
{
    room_frame *frame;
    uint64_t offset;
    int rc, n;
    rc = rm_frame_encode_logged(hub, event, argv, argc, att, natt, &offset, &frame);
    if (rc)
        return rc;
    n = rm_fan_out(hub, name, room, frame, except);
    /* Once per room, for the members that are detached or will not have
     * got it when their transport breaks; a room that is not here has no
     * log. */
    if (room || !name)
        rm_log_add(hub, room ? rm_room_log(hub, room) : &hub->log, frame, offset, except, NULL);
    room_frame_unref(frame);
    return n;
}

int rm_recovery_open_message(room_hub *hub, room_conn *conn, uint64_t offset)
{
    char text[OFFSET_TEXT];
    room_frame *frame;
    int rc;
    if (!hub->codec.encode_open)
        return 0;
    rm_offset_text(offset, text);
    hub->scratch.len = 0;
    rc = hub->codec.encode_open(hub->cfg.codec, &hub->scratch, conn->id, rm_conn_ext_of(hub, conn)->pid,
                                text, (conn->flags & RM_CONN_RECOVERED) != 0);
    if (rc)
        return rc;
    if (!(frame = rm_frame_make(hub, ROOM_FRAME_TEXT, hub->scratch.data, hub->scratch.len)))
        return ROOM_ENOMEM;
    rc = rm_deliver(hub, conn, frame);
    room_frame_unref(frame);
    return rc;
}

/* Where an except list from another node cannot be told by one
 * connection (rooms of this node, or several of its connections), the
 * event counts as dropped from those logs: a resume past it is refused
 * rather than replaying it to a member it left out. */
void rm_recovery_log_remote(room_hub *hub, rm_room *const *found, size_t nrooms,
                            const char *const *except, size_t nexcept, room_frame *frame,
                            uint64_t offset)
{
    const room_conn *skip = NULL;
    bool exact = true;
    size_t i;
    for (i = 0; i < nexcept && exact; i++) {
        const room_conn *c;
        if (found[nrooms + i])
            exact = false;
        else if ((c = room_conn_find(hub, except[i])) != NULL)
            exact = !skip ? (skip = c, true) : false;
    }
    if (!nrooms) {
        if (exact)
            rm_log_add(hub, &hub->log, frame, offset, skip, NULL);
        else
            hub->log.floor = offset;
        return;
    }
    for (i = 0; i < nrooms; i++) {
        if (!found[i])
            continue;
        if (exact)
            rm_log_add(hub, rm_room_log(hub, found[i]), frame, offset, skip, NULL);
        else
            rm_room_log(hub, found[i])->floor = offset;
    }
}

static void rooms_detached(room_hub *hub, room_conn *conn, int delta)
{
    uint32_t i;
    for (i = 0; i < conn->nrooms; i++)
        rm_room_log(hub, conn->rooms[i].room)->detached += (uint32_t)delta;
}

int rm_recovery_detach(room_hub *hub, room_conn *conn)
{
    rm_conn_ext *ext = rm_conn_ext_of(hub, conn);
    rm_detached *d = rm_malloc(&hub->alloc, sizeof *d);
    if (!d)
        return ROOM_ENOMEM;
    if (rm_table_reserve(&hub->detached, &hub->alloc) != 0) {
        rm_free(&hub->alloc, d, sizeof *d);
        return ROOM_ENOMEM;
    }
    d->conn = conn;
    d->at = RM_AT_UNKNOWN;
    memcpy(d->pid, ext->pid, sizeof d->pid);
    d->hash = rm_hash(hub->seed, d->pid, ROOM_CONN_ID_LEN);
    rm_table_put(&hub->detached, d);
    d->next = NULL;
    d->prev = hub->newest;
    if (hub->newest)
        hub->newest->next = d;
    else
        hub->oldest = d;
    hub->newest = d;
    hub->ndetached++;
    /* Still closing and kicked: nothing is sent to it, nothing joins it. */
    conn->flags |= RM_CONN_DETACHED;
    conn->transport = NULL;
    rooms_detached(hub, conn, 1);
    rm_acks_fail_conn(hub, conn);
    return 0;
}

static rm_detached *record_of(room_hub *hub, const room_conn *conn)
{
    const char *pid = rm_conn_ext_of(hub, conn)->pid;
    return rm_table_get(&hub->detached, rm_hash(hub->seed, pid, ROOM_CONN_ID_LEN), pid);
}

/* Back among the living, or on the way to be freed. */
static void undetach(room_hub *hub, room_conn *conn)
{
    rm_detached *d = record_of(hub, conn);
    rm_table_del(&hub->detached, d);
    if (d->prev)
        d->prev->next = d->next;
    else
        hub->oldest = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        hub->newest = d->prev;
    rm_free(&hub->alloc, d, sizeof *d);
    hub->ndetached--;
    rooms_detached(hub, conn, -1);
    conn->flags &= (uint8_t)~RM_CONN_DETACHED;
}

void rm_recovery_forget(room_hub *hub, room_conn *conn)
{
    if (conn->flags & RM_CONN_DETACHED)
        undetach(hub, conn);
    rm_log_forget(hub, conn);
}

bool rm_recovery_args(const room_hub *hub, const room_open_args *args, const char **pid,
                      const char **text)
{
    *pid = args->resume_pid;
    *text = args->resume_offset;
    /* Only a codec that told the client its private id itself expects it
     * back in the query. */
    if (!*pid && !*text && hub->codec.encode_open && json_is_object(args->query)) {
        *pid = json_string_value(json_object_get(args->query, "pid"));
        *text = json_string_value(json_object_get(args->query, "offset"));
    }
    return *pid && *text && strlen(*pid) == ROOM_CONN_ID_LEN;
}

int rm_recovery_resume(room_hub *hub, void *transport, const room_open_args *args,
                       room_conn **conn_out, bool *known)
{
    const char *pid, *text;
    rm_detached *d;
    room_conn *conn;
    uint64_t offset;
    uint32_t *pos;
    size_t pos_size;

    *known = false;
    if (!rm_recovery_args(hub, args, &pid, &text))
        return 0;
    d = rm_table_get(&hub->detached, rm_hash(hub->seed, pid, ROOM_CONN_ID_LEN), pid);
    if (!d)
        return 0;
    *known = true;
    conn = d->conn;
    if (!rm_offset_parse(text, &offset))
        return 0;
    /* Nothing older than the connection itself was ever its to get; a
     * connection handed over from another node got none of this hub's. */
    if (offset < rm_conn_ext_of(hub, conn)->created || (conn->flags & RM_CONN_ADOPTED))
        offset = rm_conn_ext_of(hub, conn)->created;
    /* Too late, or something it missed has left a log (which never comes
     * back): the connection is over. */
    if ((d->at != RM_AT_UNKNOWN && since(hub->now_ms, d->at) >= hub->cfg.recovery_ms) ||
        !rm_log_complete(hub, conn, offset)) {
        rm_conn_free(hub, conn);
        return 0;
    }
    pos_size = ((size_t)conn->nrooms + 1) * sizeof *pos;
    if (!(pos = rm_malloc(&hub->alloc, pos_size)))
        return ROOM_ENOMEM;
    if (rm_table_reserve(&hub->conns_by_id, &hub->alloc) != 0) {
        rm_free(&hub->alloc, pos, pos_size);
        return ROOM_ENOMEM;
    }
    undetach(hub, conn);
    conn->flags = (uint8_t)((conn->flags & ~(RM_CONN_CLOSING | RM_CONN_KICKED | RM_CONN_ADOPTED)) |
                            RM_CONN_RECOVERED);
    conn->transport = transport;
    rm_table_put(&hub->conns_by_id, conn);
    *conn_out = conn;
    /* Where the replay starts, so that a client taking it as its last
     * offset misses nothing of the replay if it drops again. */
    rm_recovery_open_message(hub, conn, offset);
    rm_log_replay(hub, conn, offset, pos);
    rm_free(&hub->alloc, pos, pos_size);
    return 1;
}

int64_t rm_recovery_expire(room_hub *hub, uint64_t now_ms)
{
    rm_recovery_clock(hub);
    while (hub->oldest && since(now_ms, hub->oldest->at) >= hub->cfg.recovery_ms)
        rm_conn_free(hub, hub->oldest->conn);
    return hub->oldest ? (int64_t)(hub->cfg.recovery_ms - since(now_ms, hub->oldest->at)) : -1;
}

void rm_recovery_free(room_hub *hub)
{
    if (!hub->cfg.recovery_ms)
        return;
    rm_resume_free(hub);
    /* First, so that freeing each connection has no log to look through. */
    rm_log_release(hub, &hub->log);
    while (hub->oldest)
        rm_conn_free(hub, hub->oldest->conn);
    rm_table_release(&hub->detached, &hub->alloc);
}

const char *room_conn_pid(const room_hub *hub, const room_conn *conn)
{
    if (!hub || !conn || !hub->cfg.recovery_ms)
        return "";
    return rm_conn_ext_of(hub, conn)->pid;
}

int room_conn_recovered(const room_conn *conn)
{
    return conn && (conn->flags & RM_CONN_RECOVERED) ? 1 : 0;
}
