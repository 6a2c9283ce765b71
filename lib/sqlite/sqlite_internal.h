/* libroom-sqlite's private header: the store struct its files share. Not
 * installed. */
#ifndef ROOM_SQLITE_INTERNAL_H
#define ROOM_SQLITE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <sqlite3.h>

#include "room/sqlite.h"

#define SQ_ERROR_MAX 256

/* The prepared statements of the loop thread's connection, made once at
 * open (schema.c) and reset after each use. */
enum {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_ROOM_FIND,
    SQ_ROOM_PUT,
    SQ_UPDATES_LOAD,
    SQ_UPDATES_DROP,
    SQ_UPDATE_PUT,
    SQ_MESSAGES_LOAD,
    SQ_MESSAGES_DROP,
    SQ_MESSAGE_PUT,
    SQ_STMT_COUNT
};

/* The checkpoint thread's side (checkpoint.c): everything in it is read and
 * written under `lock`, except the connection, which only the thread uses
 * once started. */
typedef struct sq_checkpointer {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    sqlite3 *db;
    bool ready;   /* lock and wake initialised */
    bool started; /* the thread runs */
    bool stop;
    bool dirty;       /* a commit since the last checkpoint began */
    bool urgent;      /* the log passed checkpoint_pages */
    struct timespec due; /* when a dirty log must be synced (CLOCK_MONOTONIC) */
    uint64_t done;    /* checkpoints completed */
    uint32_t copied;  /* log pages the last checkpoint copied */
    int failed;       /* the last checkpoint's SQLite code, 0 after a success */
    char error[SQ_ERROR_MAX];
} sq_checkpointer;

typedef struct sq_store {
    room_store base; /* first: the room_store pointer is the sq_store pointer */
    room_allocator alloc;
    room_store_sqlite_config cfg;
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_STMT_COUNT];
    int lock_fd; /* flock()ed for the store's life: one store per file */
    bool session; /* the file is marked open by this store (session.c) */
    bool failing; /* the last write failed (logged once) */
    bool ckpt_reported; /* the checkpoint thread's current failure was logged */
    char error[SQ_ERROR_MAX];
    /* load.c's copy of one history message's parts (SQLite's blobs live
     * only until the next row). */
    room_bytes *parts;
    size_t parts_cap;
    uint8_t *bytes;
    size_t bytes_cap;
    room_store_sqlite_stats stats;
    sq_checkpointer ckpt;
    char path[]; /* for log lines */
} sq_store;

void *sq_malloc(const sq_store *s, size_t size);
void sq_free(const sq_store *s, void *p);
/* Keeps SQLite's message for `db` as the store's error and returns the
 * libroom code for `rc` (ROOM_ENOMEM or ROOM_ESTORAGE). */
int sq_fail(sq_store *s, sqlite3 *db, int rc);
/* SQLite's message for db's last failure, with a hint where its words
 * alone mislead. */
void sq_errmsg(sqlite3 *db, char *out, size_t size);
/* "what: detail" into a caller's error buffer (nothing when its size is 0). */
void sq_say(char *error, size_t error_size, const char *what, const char *detail);

/* schema.c: pragmas, the schema check and creation, the statements. */
int sq_schema_open(sq_store *s, char *error, size_t error_size);
void sq_schema_close(sq_store *s);

/* session.c: the durable "open on this boot" mark, and a new epoch for
 * every room's history when the last store's end was lost with its boot. */
int sq_session_begin(sq_store *s, char *error, size_t error_size);
void sq_session_end(sq_store *s);

/* The room_store functions. */
int sq_load(room_store *store, const char *scope, const char *room, room_store_sink *sink);
int sq_write(room_store *store, const char *scope, const room_store_batch *batches, size_t count);

/* checkpoint.c. sq_checkpoint_start() opens the thread's connection and
 * starts it; sq_checkpoint_stop() joins it and closes that connection. */
int sq_checkpoint_start(sq_store *s, char *error, size_t error_size);
void sq_checkpoint_stop(sq_store *s);
/* After each commit (SQLite's WAL hook, on the writer's thread). */
int sq_checkpoint_hook(void *s, sqlite3 *db, const char *name, int pages);
/* Logs a checkpoint failure (or the recovery after one) once, on the
 * caller's thread. */
void sq_checkpoint_report(sq_store *s);

#endif
