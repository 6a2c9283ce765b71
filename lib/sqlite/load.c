/* The store's load: a room's row (epoch and last offsets), then its log
 * entries, then its history messages, each in offset order, fed to the
 * hub's sink as they are read. */
#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

/* Makes `*buf` hold at least `need` items of `item` bytes (doubling). */
static int reserve(sq_store *s, void **buf, size_t *cap, size_t need, size_t item)
{
    size_t n = *cap ? *cap : 4;
    void *p;
    if (need <= *cap)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2 / item)
            return ROOM_ENOMEM;
        n *= 2;
    }
    if (!(p = sq_malloc(s, n * item)))
        return ROOM_ENOMEM;
    if (*cap)
        memcpy(p, *buf, *cap * item);
    sq_free(s, *buf);
    *buf = p;
    *cap = n;
    return 0;
}

static int bad_rows(sq_store *s, const char *what)
{
    snprintf(s->error, sizeof s->error, "malformed %s rows", what);
    return ROOM_ESTORAGE;
}

static int load_updates(sq_store *s, sqlite3_int64 room, room_store_sink *sink)
{
    sqlite3_stmt *st = s->stmt[SQ_UPDATES_LOAD];
    int rc;
    sqlite3_bind_int64(st, 1, room);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *data = sqlite3_column_blob(st, 1);
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        if ((rc = room_store_sink_update(sink, (uint64_t)sqlite3_column_int64(st, 0),
                                         data ? data : "", len)) != 0) {
            sqlite3_reset(st);
            return rc;
        }
    }
    if (rc != SQLITE_DONE)
        rc = sq_fail(s, s->db, rc);
    else
        rc = 0;
    sqlite3_reset(st);
    return rc;
}

/* One message's parts were copied one after another into s->bytes (which
 * may move as it grows): their pointers are set here, once all are in. */
static int emit(sq_store *s, room_store_sink *sink, uint64_t offset, int kind, size_t nparts)
{
    size_t i, at = 0;
    for (i = 0; i < nparts; i++) {
        s->parts[i].data = s->bytes + at;
        at += s->parts[i].len;
    }
    return room_store_sink_message(sink, offset, kind, s->parts, nparts);
}

static int load_messages(sq_store *s, sqlite3_int64 room, room_store_sink *sink)
{
    sqlite3_stmt *st = s->stmt[SQ_MESSAGES_LOAD];
    uint64_t offset = 0;
    size_t nparts = 0, used = 0;
    int kind = 0, rc;

    sqlite3_bind_int64(st, 1, room);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t pos = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_int64 part = sqlite3_column_int64(st, 1);
        const void *data = sqlite3_column_blob(st, 3);
        size_t len = (size_t)sqlite3_column_bytes(st, 3);

        if (nparts && pos != offset) {
            if ((rc = emit(s, sink, offset, kind, nparts)) != 0)
                goto out;
            nparts = used = 0;
        }
        /* Parts 0, 1, 2... of each message, as written. */
        if (part != (sqlite3_int64)nparts) {
            rc = bad_rows(s, "history");
            goto out;
        }
        if (!nparts) {
            offset = pos;
            kind = sqlite3_column_int(st, 2);
        }
        if ((rc = reserve(s, (void **)&s->parts, &s->parts_cap, nparts + 1, sizeof *s->parts)) != 0 ||
            (used + len < used ||
             (rc = reserve(s, (void **)&s->bytes, &s->bytes_cap, used + len, 1)) != 0)) {
            rc = ROOM_ENOMEM;
            goto out;
        }
        if (len)
            memcpy(s->bytes + used, data, len);
        s->parts[nparts++].len = len;
        used += len;
    }
    if (rc != SQLITE_DONE) {
        rc = sq_fail(s, s->db, rc);
        goto out;
    }
    rc = nparts ? emit(s, sink, offset, kind, nparts) : 0;
out:
    sqlite3_reset(st);
    return rc;
}

int sq_load(room_store *store, const char *scope, const char *room, room_store_sink *sink)
{
    sq_store *s = store->state;
    sqlite3_stmt *st = s->stmt[SQ_ROOM_FIND];
    sqlite3_int64 id;
    const unsigned char *epoch;
    int rc;

    if (!scope || !room || !sink)
        return ROOM_EINVAL;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, room, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        rc = rc == SQLITE_DONE ? ROOM_ENOTFOUND : sq_fail(s, s->db, rc);
        sqlite3_reset(st);
        return rc;
    }
    id = sqlite3_column_int64(st, 0);
    epoch = sqlite3_column_text(st, 1);
    rc = epoch ? room_store_sink_meta(sink, (const char *)epoch, (uint64_t)sqlite3_column_int64(st, 2),
                                      (uint64_t)sqlite3_column_int64(st, 3),
                                      (uint64_t)sqlite3_column_int64(st, 4))
               : bad_rows(s, "room");
    sqlite3_reset(st);
    if (rc != 0 || (rc = load_updates(s, id, sink)) != 0 || (rc = load_messages(s, id, sink)) != 0)
        return rc;
    return 0;
}
