/* The store's life: room_store_sqlite_open() (config, the file lock, the
 * schema, the checkpoint thread), destroy, and what a host may ask of it
 * (its last error, its counts). */
#include <string.h>
#include <unistd.h>

#include "sqlite_internal.h"

#define SQ_DEFAULT_SYNC_MS 1000
#define SQ_DEFAULT_CHECKPOINT_PAGES 1000
#define SQ_DEFAULT_BUSY_MS 100

static const char sq_name[] = "sqlite";

void *sq_malloc(const sq_store *s, size_t size)
{
    return s->alloc.malloc(size, s->alloc.ud);
}

void sq_free(const sq_store *s, void *p)
{
    if (p)
        s->alloc.free(p, s->alloc.ud);
}

int sq_fail(sq_store *s, sqlite3 *db, int rc)
{
    sq_errmsg(db, s->error, sizeof s->error);
    return (rc & 0xff) == SQLITE_NOMEM ? ROOM_ENOMEM : ROOM_ESTORAGE;
}

static void destroy(room_store *store)
{
    sq_store *s = (sq_store *)store;
    /* The thread's connection first: closing the last connection runs the
     * final checkpoint and removes the write-ahead log. */
    sq_checkpoint_stop(s);
    sq_schema_close(s);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    sq_free(s, s->parts);
    sq_free(s, s->bytes);
    sq_free(s, s);
}

int room_store_sqlite_open(room_store **store_out, const char *path,
                           const room_store_sqlite_config *config, char *error, size_t error_size)
{
    room_store_sqlite_config cfg;
    const room_allocator *alloc;
    size_t path_len;
    sq_store *s;
    int rc;

    if (error_size)
        error[0] = '\0';
    if (store_out)
        *store_out = NULL;
    if (!store_out || !path) {
        sq_say(error, error_size, "no store pointer or path", NULL);
        return ROOM_EINVAL;
    }
    if (config) {
        if (room_config_copy(&cfg, sizeof cfg, config, ROOM_STORE_SQLITE_CONFIG_MIN_SIZE) != 0) {
            sq_say(error, error_size, "config size below the minimum", NULL);
            return ROOM_EINVAL;
        }
    } else {
        room_store_sqlite_config_init(&cfg);
    }
    if (!cfg.sync_ms)
        cfg.sync_ms = SQ_DEFAULT_SYNC_MS;
    if (!cfg.checkpoint_pages)
        cfg.checkpoint_pages = SQ_DEFAULT_CHECKPOINT_PAGES;
    if (!cfg.busy_ms)
        cfg.busy_ms = SQ_DEFAULT_BUSY_MS;
    /* The checkpoint thread has a connection of its own. */
    if (!sqlite3_threadsafe()) {
        sq_say(error, error_size, "this SQLite library was built without thread support", NULL);
        return ROOM_ESTORAGE;
    }

    alloc = cfg.allocator.malloc && cfg.allocator.free ? &cfg.allocator : room_allocator_libc();
    path_len = strlen(path);
    if (!(s = alloc->malloc(sizeof *s + path_len + 1, alloc->ud))) {
        sq_say(error, error_size, "out of memory", NULL);
        return ROOM_ENOMEM;
    }
    memset(s, 0, sizeof *s);
    memcpy(s->path, path, path_len + 1);
    s->alloc = *alloc;
    s->cfg = cfg;
    s->lock_fd = -1;
    s->base.size = sizeof s->base;
    s->base.name = sq_name;
    s->base.state = s;
    s->base.load = sq_load;
    s->base.write = sq_write;
    s->base.destroy = destroy;

    if ((rc = sq_schema_open(s, error, error_size)) != 0 ||
        (rc = sq_checkpoint_start(s, error, error_size)) != 0) {
        destroy(&s->base);
        return rc;
    }
    *store_out = &s->base;
    return 0;
}

static const sq_store *of(const room_store *store)
{
    return store && store->name == sq_name ? (const sq_store *)store : NULL;
}

const char *room_store_sqlite_error(const room_store *store)
{
    const sq_store *s = of(store);
    return s ? s->error : NULL;
}

int room_store_sqlite_stats_copy(const room_store *store, room_store_sqlite_stats *stats, size_t size)
{
    sq_store *s = (sq_store *)(uintptr_t)of(store);
    room_store_sqlite_stats now;
    if (!s || !stats)
        return ROOM_EINVAL;
    now = s->stats;
    pthread_mutex_lock(&s->ckpt.lock);
    now.checkpoints = s->ckpt.done;
    pthread_mutex_unlock(&s->ckpt.lock);
    memset(stats, 0, size);
    memcpy(stats, &now, size < sizeof now ? size : sizeof now);
    return 0;
}
