/* The checkpoint thread: commits on the loop thread write the write-ahead
 * log without fsync (synchronous=NORMAL); this thread, on a connection of
 * its own, checkpoints it (fsync of the log, copy into the database, fsync
 * of the database) at most sync_ms after a commit, and at once when the log
 * passes checkpoint_pages. PASSIVE checkpoints never wait for the writer,
 * and the writer never waits for them. */
#include <stdio.h>
#include <time.h>

#include "sqlite_internal.h"

static struct timespec after_ms(uint32_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static bool reached(const struct timespec *due)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > due->tv_sec || (now.tv_sec == due->tv_sec && now.tv_nsec >= due->tv_nsec);
}

int sq_checkpoint_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sq_store *s = arg;
    sq_checkpointer *c = &s->ckpt;
    (void)db, (void)name;
    pthread_mutex_lock(&c->lock);
    if (!c->dirty) {
        c->dirty = true;
        c->due = after_ms(s->cfg.sync_ms);
        pthread_cond_signal(&c->wake);
    }
    /* Pages written since the last checkpoint: a log that could not be
     * restarted (a reader was in it) stays long, and is not urgent again
     * for what the checkpoint already copied. */
    if (pages >= 0 && (uint32_t)pages >= c->copied)
        pages -= (int)c->copied;
    if (pages >= 0 && (uint32_t)pages >= s->cfg.checkpoint_pages && !c->urgent) {
        c->urgent = true;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}

static void *run(void *arg)
{
    sq_store *s = arg;
    sq_checkpointer *c = &s->ckpt;
    int rc, log_frames, backfilled;

    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        if (!c->dirty) {
            pthread_cond_wait(&c->wake, &c->lock);
            continue;
        }
        if (!c->urgent && !reached(&c->due)) {
            pthread_cond_timedwait(&c->wake, &c->lock, &c->due);
            continue;
        }
        c->dirty = c->urgent = false;
        pthread_mutex_unlock(&c->lock);
        rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log_frames,
                                       &backfilled);
        pthread_mutex_lock(&c->lock);
        if (rc == SQLITE_OK || rc == SQLITE_BUSY) {
            if (rc == SQLITE_OK) {
                c->done++;
                c->copied = backfilled > 0 ? (uint32_t)backfilled : 0;
            }
            c->failed = 0;
            /* A reader held some frames back: again later. The log itself
             * was synced whole. */
            if (rc == SQLITE_BUSY || backfilled < log_frames) {
                c->dirty = true;
                c->due = after_ms(s->cfg.sync_ms);
            }
        } else {
            c->failed = rc;
            snprintf(c->error, sizeof c->error, "checkpoint: %s", sqlite3_errmsg(c->db));
            c->dirty = true;
            c->due = after_ms(s->cfg.sync_ms);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int sq_checkpoint_start(sq_store *s, char *error, size_t error_size)
{
    sq_checkpointer *c = &s->ckpt;
    pthread_condattr_t attr;
    int rc;

    if (pthread_condattr_init(&attr) != 0)
        return ROOM_ENOMEM;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&c->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return ROOM_ENOMEM;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        pthread_cond_destroy(&c->wake);
        return ROOM_ENOMEM;
    }
    c->ready = true;
    rc = sqlite3_open_v2(s->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sq_say(error, error_size, "checkpoint connection",
               c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        return (rc & 0xff) == SQLITE_NOMEM ? ROOM_ENOMEM : ROOM_ESTORAGE;
    }
    sqlite3_busy_timeout(c->db, (int)(s->cfg.busy_ms > INT32_MAX ? INT32_MAX : s->cfg.busy_ms));
    if (pthread_create(&c->thread, NULL, run, s) != 0) {
        sq_say(error, error_size, "cannot start the checkpoint thread", NULL);
        return ROOM_ENOMEM;
    }
    c->started = true;
    return 0;
}

void sq_checkpoint_stop(sq_store *s)
{
    sq_checkpointer *c = &s->ckpt;
    if (!c->ready)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_signal(&c->wake);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->wake);
}

void sq_checkpoint_report(sq_store *s)
{
    sq_checkpointer *c = &s->ckpt;
    int failed;
    char error[SQ_ERROR_MAX];

    pthread_mutex_lock(&c->lock);
    failed = c->failed;
    if (failed)
        snprintf(error, sizeof error, "%s", c->error);
    pthread_mutex_unlock(&c->lock);
    if (failed && !s->ckpt_reported) {
        snprintf(s->error, sizeof s->error, "%s", error);
        room_logf(s->cfg.log, s->cfg.user_data, ROOM_LOG_ERROR,
                  "sqlite store %s: %s; commits are not made durable until a checkpoint succeeds",
                  s->path, error);
    } else if (!failed && s->ckpt_reported) {
        room_logf(s->cfg.log, s->cfg.user_data, ROOM_LOG_INFO, "sqlite store %s: checkpoints succeed again",
                  s->path);
    }
    s->ckpt_reported = failed != 0;
}
