/* Opening the file: the loop thread's connection, the file lock, the check
 * that the file is ours (or new), write-ahead logging, the schema and the
 * prepared statements. The schema is documented in docs/storage-sqlite.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "sqlite_internal.h"

/* PRAGMA application_id of a libroom store: "Room" in ASCII. */
#define SQ_APPLICATION_ID 0x526f6f6d
#define SQ_SCHEMA_VERSION 1

static const char schema_sql[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE rooms("
    "  id INTEGER PRIMARY KEY,"
    "  scope TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  epoch TEXT NOT NULL,"
    "  history_last INTEGER NOT NULL,"
    "  history_floor INTEGER NOT NULL,"
    "  log_last INTEGER NOT NULL,"
    "  UNIQUE(scope, name));"
    "CREATE TABLE updates("
    "  room INTEGER NOT NULL,"
    "  pos INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY(room, pos));"
    "CREATE TABLE messages("
    "  room INTEGER NOT NULL,"
    "  pos INTEGER NOT NULL,"
    "  part INTEGER NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  PRIMARY KEY(room, pos, part));"
    "CREATE TABLE store(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "PRAGMA application_id = 1383034733;"
    "PRAGMA user_version = 1;"
    "COMMIT;";

static const char *const stmt_sql[SQ_STMT_COUNT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_ROOM_FIND] = "SELECT id, epoch, history_last, history_floor, log_last FROM rooms "
                     "WHERE scope = ?1 AND name = ?2",
    [SQ_ROOM_PUT] = "INSERT INTO rooms(scope, name, epoch, history_last, history_floor, log_last) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(scope, name) DO UPDATE SET "
                    "epoch = excluded.epoch, history_last = excluded.history_last, "
                    "history_floor = excluded.history_floor, log_last = excluded.log_last "
                    "RETURNING id",
    [SQ_UPDATES_LOAD] = "SELECT pos, data FROM updates WHERE room = ?1 ORDER BY pos",
    [SQ_UPDATES_DROP] = "DELETE FROM updates WHERE room = ?1 AND pos <= ?2",
    [SQ_UPDATE_PUT] = "INSERT OR REPLACE INTO updates(room, pos, data) VALUES(?1, ?2, ?3)",
    [SQ_MESSAGES_LOAD] = "SELECT pos, part, kind, data FROM messages WHERE room = ?1 "
                         "ORDER BY pos, part",
    [SQ_MESSAGES_DROP] = "DELETE FROM messages WHERE room = ?1 AND pos <= ?2",
    [SQ_MESSAGE_PUT] = "INSERT OR REPLACE INTO messages(room, pos, part, kind, data) "
                       "VALUES(?1, ?2, ?3, ?4, ?5)",
};

void sq_say(char *error, size_t error_size, const char *what, const char *detail)
{
    if (error_size)
        snprintf(error, error_size, "%s%s%s", what, detail ? ": " : "", detail ? detail : "");
}

void sq_errmsg(sqlite3 *db, char *out, size_t size)
{
    /* SQLite's words alone do not say which file it could not write. */
    sq_say(out, size, sqlite3_errmsg(db),
           sqlite3_extended_errcode(db) == SQLITE_READONLY_DIRECTORY
               ? "the directory is not writable (the write-ahead log is made beside the file)"
               : NULL);
}

/* SQLite's message for the connection's last failure. */
static int sqlite_failed(sq_store *s, int rc, char *error, size_t error_size)
{
    if (error_size)
        sq_errmsg(s->db, error, error_size);
    return (rc & 0xff) == SQLITE_NOMEM ? ROOM_ENOMEM : ROOM_ESTORAGE;
}

/* One store per file: two would interleave their rooms' offsets. flock()
 * locks apart from SQLite's own (POSIX) locks, and the descriptor stays
 * open until SQLite's connections are closed, so closing it releases none
 * of theirs. */
static int lock_file(sq_store *s, char *error, size_t error_size)
{
    if ((s->lock_fd = open(s->path, O_RDONLY | O_CLOEXEC)) < 0) {
        sq_say(error, error_size, "cannot open the file to lock it", strerror(errno));
        return ROOM_ESTORAGE;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            sq_say(error, error_size, "database is locked by another store (another roomd?)",
                   NULL);
        else
            sq_say(error, error_size, "cannot lock the file", strerror(errno));
        return ROOM_ESTORAGE;
    }
    return 0;
}

/* The single value of a one-row PRAGMA or query: an integer, or the text
 * of the first row into `text`. */
static int query(sq_store *s, const char *sql, sqlite3_int64 *number, char *text, size_t text_size,
                 char *error, size_t error_size)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlite_failed(s, rc, error, error_size);
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sqlite_failed(s, rc == SQLITE_DONE ? SQLITE_ERROR : rc, error, error_size);
    }
    if (number)
        *number = sqlite3_column_int64(st, 0);
    if (text) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(text, text_size, "%s", t ? (const char *)t : "");
    }
    sqlite3_finalize(st);
    return 0;
}

/* Ours, or new (no tables, no application id): then `fresh`. Anything else
 * is left untouched, before write-ahead logging would convert it. */
static int check_owner(sq_store *s, bool *fresh, char *error, size_t error_size)
{
    sqlite3_int64 app, version, tables;
    char detail[SQ_ERROR_MAX];
    int rc;

    /* The first read: a file that is not SQLite fails here. */
    if ((rc = query(s, "PRAGMA application_id", &app, NULL, 0, error, error_size)) != 0 ||
        (rc = query(s, "PRAGMA user_version", &version, NULL, 0, error, error_size)) != 0 ||
        (rc = query(s, "SELECT count(*) FROM sqlite_schema", &tables, NULL, 0, error,
                    error_size)) != 0)
        return rc;
    *fresh = app == 0 && tables == 0;
    if (*fresh)
        return 0;
    if (app != SQ_APPLICATION_ID) {
        snprintf(detail, sizeof detail, "a SQLite database of another application (application_id %lld)",
                 (long long)app);
        sq_say(error, error_size, "not a libroom store", detail);
        return ROOM_ESTORAGE;
    }
    if (version != SQ_SCHEMA_VERSION) {
        snprintf(detail, sizeof detail, "schema version %lld, this library reads %d",
                 (long long)version, SQ_SCHEMA_VERSION);
        sq_say(error, error_size, "unknown libroom store schema", detail);
        return ROOM_ESTORAGE;
    }
    return 0;
}

static int quick_check(sq_store *s, char *error, size_t error_size)
{
    char result[SQ_ERROR_MAX];
    int rc = query(s, "PRAGMA quick_check(1)", NULL, result, sizeof result, error, error_size);
    if (rc != 0)
        return rc;
    if (strcmp(result, "ok") != 0) {
        sq_say(error, error_size, "database disk image is malformed", result);
        return ROOM_ESTORAGE;
    }
    return 0;
}

int sq_schema_open(sq_store *s, char *error, size_t error_size)
{
    char mode[16];
    bool fresh;
    int rc, i;

    rc = sqlite3_open_v2(s->path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!s->db) {
            sq_say(error, error_size, sqlite3_errstr(rc), NULL);
            return ROOM_ENOMEM;
        }
        return sqlite_failed(s, rc, error, error_size);
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((rc = lock_file(s, error, error_size)) != 0)
        return rc;
    /* SQLite falls back to reading a file it may not write. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        sq_say(error, error_size, sqlite3_errstr(SQLITE_READONLY), NULL);
        return ROOM_ESTORAGE;
    }
    sqlite3_busy_timeout(s->db, (int)(s->cfg.busy_ms > INT32_MAX ? INT32_MAX : s->cfg.busy_ms));
    if ((rc = check_owner(s, &fresh, error, error_size)) != 0 ||
        (s->cfg.quick_check && (rc = quick_check(s, error, error_size)) != 0))
        return rc;
    /* Write-ahead logging with commits that do not fsync (the header's
     * "How it writes"); the checkpoint thread does the syncing. */
    if ((rc = query(s, "PRAGMA journal_mode = WAL", NULL, mode, sizeof mode, error, error_size)) != 0)
        return rc;
    if (strcmp(mode, "wal") != 0) {
        sq_say(error, error_size, "cannot use write-ahead logging here; journal mode", mode);
        return ROOM_ESTORAGE;
    }
    /* The log restarts from its start after a complete checkpoint; past a
     * burst it is cut back to 64 MiB then. */
    if ((rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 67108864",
                           NULL, NULL, NULL)) != SQLITE_OK ||
        (fresh && (rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL)) != SQLITE_OK)) {
        int code = sqlite_failed(s, rc, error, error_size);
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return code;
    }
    for (i = 0; i < SQ_STMT_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                                NULL);
        if (rc != SQLITE_OK)
            return sqlite_failed(s, rc, error, error_size);
    }
    if ((rc = sq_session_begin(s, error, error_size)) != 0)
        return rc;
    /* Replaces SQLite's automatic checkpoint, which would fsync inside a
     * commit on this thread. */
    sqlite3_wal_autocheckpoint(s->db, 0);
    sqlite3_wal_hook(s->db, sq_checkpoint_hook, s);
    return 0;
}

void sq_schema_close(sq_store *s)
{
    int i;
    if (s->session)
        sq_session_end(s);
    for (i = 0; i < SQ_STMT_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
}
