/* The store's write: every batch of one flush in one transaction (BEGIN
 * IMMEDIATE ... COMMIT on the loop thread's connection), applied in the
 * order room/storage.h gives, rolled back whole on any failure so that the
 * hub's retry at the next flush starts from what is committed. */
#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

#define BATCH_SIZE_MIN (offsetof(room_store_batch, update_count) + sizeof(size_t))

/* Offsets are SQLite integers: signed 64 bits. */
static bool fits(uint64_t offset)
{
    return offset <= (uint64_t)INT64_MAX;
}

/* Steps a statement that returns no row and resets it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* SQLite binds a NULL pointer as NULL, which the NOT NULL columns refuse:
 * an empty blob is an empty blob. */
static int bind_bytes(sqlite3_stmt *st, int i, const void *data, size_t len)
{
    return sqlite3_bind_blob64(st, i, data ? data : "", len, SQLITE_STATIC);
}

static int put_room(sq_store *s, const char *scope, const room_store_batch *b, sqlite3_int64 *id)
{
    sqlite3_stmt *st = s->stmt[SQ_ROOM_PUT];
    int rc;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, b->room, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, b->epoch, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)b->history_last);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)b->history_floor);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)b->log_last);
    /* RETURNING: the change is made whole by the first step. */
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    return rc;
}

static int drop(sq_store *s, int which, sqlite3_int64 room, uint64_t upto)
{
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_bind_int64(st, 1, room);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)upto);
    return run(st);
}

static int put_update(sq_store *s, sqlite3_int64 room, uint64_t offset, const void *data, size_t len)
{
    sqlite3_stmt *st = s->stmt[SQ_UPDATE_PUT];
    int rc;
    sqlite3_bind_int64(st, 1, room);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)offset);
    if ((rc = bind_bytes(st, 3, data, len)) != SQLITE_OK)
        return rc;
    return run(st);
}

static int put_message(sq_store *s, sqlite3_int64 room, const room_store_message *m)
{
    sqlite3_stmt *st = s->stmt[SQ_MESSAGE_PUT];
    size_t i;
    int rc;
    for (i = 0; i < m->part_count; i++) {
        sqlite3_bind_int64(st, 1, room);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)m->offset);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        sqlite3_bind_int(st, 4, m->kind);
        if ((rc = bind_bytes(st, 5, m->parts[i].data, m->parts[i].len)) != SQLITE_OK ||
            (rc = run(st)) != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* What the schema cannot hold is the caller's mistake, refused before any
 * SQL runs. */
static bool valid(const room_store_batch *b)
{
    size_t i;
    if (b->size < BATCH_SIZE_MIN || !b->room || !b->epoch || !fits(b->history_last) ||
        !fits(b->history_floor) || !fits(b->log_last) || !fits(b->replace_upto) ||
        (b->message_count && !b->messages) || (b->update_count && !b->updates))
        return false;
    for (i = 0; i < b->message_count; i++) {
        if (!fits(b->messages[i].offset) || !b->messages[i].part_count || !b->messages[i].parts)
            return false;
    }
    for (i = 0; i < b->update_count; i++) {
        if (!fits(b->updates[i].offset))
            return false;
    }
    return true;
}

static int apply(sq_store *s, const char *scope, const room_store_batch *b, uint64_t *updates,
                 uint64_t *messages)
{
    sqlite3_int64 room = 0;
    size_t i;
    int rc;

    if ((rc = put_room(s, scope, b, &room)) != SQLITE_OK ||
        (b->history_floor && (rc = drop(s, SQ_MESSAGES_DROP, room, b->history_floor)) != SQLITE_OK))
        return rc;
    for (i = 0; i < b->message_count; i++) {
        if ((rc = put_message(s, room, &b->messages[i])) != SQLITE_OK)
            return rc;
    }
    if (b->replace_upto) {
        if ((rc = drop(s, SQ_UPDATES_DROP, room, b->replace_upto)) != SQLITE_OK ||
            (rc = put_update(s, room, b->replace_upto, b->snapshot.data, b->snapshot.len)) !=
                SQLITE_OK)
            return rc;
        ++*updates;
    }
    for (i = 0; i < b->update_count; i++) {
        const room_store_update *u = &b->updates[i];
        if ((rc = put_update(s, room, u->offset, u->data, u->len)) != SQLITE_OK)
            return rc;
    }
    *updates += b->update_count;
    *messages += b->message_count;
    return SQLITE_OK;
}

int sq_write(room_store *store, const char *scope, const room_store_batch *batches, size_t count)
{
    sq_store *s = store->state;
    uint64_t updates = 0, messages = 0;
    size_t i;
    int rc, code;

    sq_checkpoint_report(s);
    if (!scope || (count && !batches))
        return ROOM_EINVAL;
    for (i = 0; i < count; i++) {
        if (!valid(&batches[i])) {
            snprintf(s->error, sizeof s->error, "malformed batch for room %s",
                     batches[i].size >= BATCH_SIZE_MIN && batches[i].room ? batches[i].room : "?");
            return ROOM_EINVAL;
        }
    }
    if ((rc = run(s->stmt[SQ_BEGIN])) != SQLITE_OK)
        goto failed;
    for (i = 0; i < count; i++) {
        if ((rc = apply(s, scope, &batches[i], &updates, &messages)) != SQLITE_OK)
            goto failed;
    }
    if ((rc = run(s->stmt[SQ_COMMIT])) != SQLITE_OK)
        goto failed;
    s->stats.commits++;
    s->stats.updates += updates;
    s->stats.messages += messages;
    if (s->failing)
        room_logf(s->cfg.log, s->cfg.user_data, ROOM_LOG_INFO,
                  "sqlite store %s: writes succeed again; the rooms are writable", s->path);
    s->failing = false;
    if (!s->ckpt_reported)
        s->error[0] = '\0';
    return 0;

failed:
    code = sq_fail(s, s->db, rc);
    /* SQLite rolls some failures back by itself; the rest is undone here. */
    if (!sqlite3_get_autocommit(s->db))
        run(s->stmt[SQ_ROLLBACK]);
    s->stats.failed++;
    if (!s->failing)
        room_logf(s->cfg.log, s->cfg.user_data, ROOM_LOG_ERROR,
                  "sqlite store %s: write failed: %s; the %zu room(s) of this flush are read-only "
                  "until a write succeeds (retried at each flush, nothing is dropped)",
                  s->path, s->error, count);
    s->failing = true;
    return code;
}
