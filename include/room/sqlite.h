/*
 * libroom-sqlite: a room_store (room/storage.h) in one SQLite database
 * file, so that rooms' update logs (with their compaction snapshots),
 * history and epochs survive a restart. docs/storage-sqlite.md has the
 * schema, the durability trade-off and the failure behaviour.
 *
 * How it writes. Each write call of the hub (one per flush, that is, per
 * loop iteration in libroom-ws) is one SQLite transaction, run on the
 * calling thread in WAL mode with synchronous=NORMAL: a commit appends to
 * the write-ahead log and calls no fsync, so it never waits for the disk.
 * The fsyncs happen in checkpoints, which a helper thread of the store runs
 * on its own connection (SQLite's automatic checkpoints, which would run
 * inside a commit, are off). What a commit wrote survives the process
 * being killed at once; a power loss or kernel crash can lose the commits
 * since the last checkpoint, at most sync_ms old (the durability window),
 * and never leaves the file inconsistent.
 *
 * Failures. A write that fails (disk full, I/O error, the file locked by
 * another program past busy_ms) is rolled back whole and answered
 * ROOM_ESTORAGE: the hub keeps the changes, makes the rooms read-only and
 * offers them again at the next flush, so nothing is dropped. The store
 * logs the first failure (with SQLite's message) and the first success
 * after it, once each.
 *
 * Threading: the store's functions, and the hubs using it, on one thread;
 * the store's own checkpoint thread touches nothing of the caller's (its
 * errors are reported by the next write, on the caller's thread).
 */
#ifndef ROOM_SQLITE_H
#define ROOM_SQLITE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "room/room.h"
#include "room/sqlite_export.h"
#include "room/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fields are 0/NULL for their defaults; the library reads only `size`
 * bytes (room_config_copy()); later versions only append fields. */
typedef struct room_store_sqlite_config {
    size_t size; /* sizeof(room_store_sqlite_config), set by room_store_sqlite_config_init() */

    /* For the store's own memory (its struct, the buffer loads copy
     * history parts into); all NULL: the C library's. SQLite's own memory
     * (page cache, statements) is SQLite's allocator's. */
    room_allocator allocator;
    /* Write failures and recoveries, checkpoint failures, once each (see
     * above); on the caller's thread, inside write calls. NULL: silent. */
    room_log_fn log;
    void *user_data;

    /* The durability window: at most this long (ms) after a commit, the
     * checkpoint thread makes it durable. Default 1000. */
    uint32_t sync_ms;
    /* A write-ahead log of this many pages (4 KiB each by default) gets a
     * checkpoint at once. Default 1000. */
    uint32_t checkpoint_pages;
    /* How long a write waits for a lock held by another connection to the
     * file before failing (the loop thread waits that long). Default 100. */
    uint32_t busy_ms;
    /* 1: run PRAGMA quick_check at open (reads the whole file: a corrupt
     * page is found at start rather than by the room it belongs to). */
    int quick_check;
} room_store_sqlite_config;

#define ROOM_STORE_SQLITE_CONFIG_MIN_SIZE (offsetof(room_store_sqlite_config, quick_check) + sizeof(int))

static inline void room_store_sqlite_config_init(room_store_sqlite_config *config)
{
    memset(config, 0, sizeof *config);
    config->size = sizeof *config;
}

/*
 * Opens (creating it when missing) the database at `path` and returns the
 * store in *store_out, to give to room_storage_config.store and free with
 * room_store_free() after every hub using it (the last checkpoint runs
 * then, on the caller's thread). `config` NULL: the defaults. The file is
 * locked (flock) against a second store, in this process or another, for
 * the store's life.
 *
 * On failure *store_out is NULL and, when error_size > 0, `error` gets a
 * NUL-terminated line saying why, with SQLite's own message where there is
 * one ("file is not a database", "unable to open database file", "attempt
 * to write a readonly database", "database is locked by another store",
 * "not a libroom store: ..."); the caller adds the path. Errors:
 * ROOM_EINVAL (NULL store_out or path, config size below the minimum),
 * ROOM_ESTORAGE (the file cannot be opened, read, written or locked, is not
 * SQLite, is another application's database, is corrupt, or is of a newer
 * schema), ROOM_ENOMEM.
 */
ROOM_SQLITE_API int room_store_sqlite_open(room_store **store_out, const char *path,
                                           const room_store_sqlite_config *config, char *error,
                                           size_t error_size);

/* SQLite's message for the store's last failed write, load or checkpoint,
 * "" when none failed since the last success; NULL for NULL or another
 * kind of store. Borrowed until the next call on the store. */
ROOM_SQLITE_API const char *room_store_sqlite_error(const room_store *store);

typedef struct room_store_sqlite_stats {
    uint64_t commits;      /* write calls committed */
    uint64_t updates;      /* log entries written (snapshots included) */
    uint64_t messages;     /* history messages written */
    uint64_t failed;       /* write calls rolled back */
    uint64_t checkpoints;  /* checkpoints the thread completed */
} room_store_sqlite_stats;

/* Copies the first `size` bytes of the store's counters into `stats`
 * (zeroing what the library does not have), as room_ws_stats_copy() does,
 * so that a host built against a header with fewer counters, or more,
 * reads only what both know; use room_store_sqlite_stats_get(). The
 * checkpoint count is read under the thread's lock. ROOM_EINVAL (nothing
 * copied) for NULL or another kind of store. */
ROOM_SQLITE_API int room_store_sqlite_stats_copy(const room_store *store,
                                                 room_store_sqlite_stats *stats, size_t size);
static inline int room_store_sqlite_stats_get(const room_store *store,
                                              room_store_sqlite_stats *stats)
{
    return room_store_sqlite_stats_copy(store, stats, sizeof *stats);
}

#ifdef __cplusplus
}
#endif

#endif
