/* Whether the last store on the file ended cleanly, and what it means if
 * not. Commits are synced by checkpoints (checkpoint.c), so a machine that
 * lost power may come back with the last second of commits gone, while
 * clients were told those messages' offsets; the same epoch would then
 * name two different runs, and a client asking since such an offset would
 * silently miss the messages that got it the second time. So the file
 * records, durably, that a store has it open and on which boot of the
 * machine: a store that finds it left open by another boot (the process
 * cannot have outlived a reboot, only the kernel's unsynced pages could
 * be lost) starts every room's history over with a new epoch (clients
 * are answered wrong_epoch and start from the current position), and
 * keeps the update logs, whose clients (y-websocket) resynchronise their
 * documents by content. A store killed on the same boot lost nothing: the
 * kernel still had its writes. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_internal.h"

#define BOOT_ID_MAX 64

/* Linux's id of this boot; "" elsewhere (every unclean end then counts as
 * a lost boot). */
static void boot_id(char *out, size_t size)
{
    ssize_t n = 0;
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, out, size - 1);
        close(fd);
    }
    if (n < 0)
        n = 0;
    out[n] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

static int exec(sq_store *s, const char *sql, char *error, size_t error_size)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    if (error_size)
        sq_errmsg(s->db, error, error_size);
    return (rc & 0xff) == SQLITE_NOMEM ? ROOM_ENOMEM : ROOM_ESTORAGE;
}

/* The value of `key` in the store table into `out` ("" when absent). */
static int get(sq_store *s, const char *key, char *out, size_t size, char *error, size_t error_size)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM store WHERE key = ?1", -1, &st, NULL);
    out[0] = '\0';
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (error_size)
        sq_errmsg(s->db, error, error_size);
    return (rc & 0xff) == SQLITE_NOMEM ? ROOM_ENOMEM : ROOM_ESTORAGE;
}

int sq_session_begin(sq_store *s, char *error, size_t error_size)
{
    char boot[BOOT_ID_MAX], was_open[8], was_boot[BOOT_ID_MAX], sql[256];
    bool lost;
    int rc;

    boot_id(boot, sizeof boot);
    if ((rc = get(s, "open", was_open, sizeof was_open, error, error_size)) != 0 ||
        (rc = get(s, "boot", was_boot, sizeof was_boot, error, error_size)) != 0)
        return rc;
    lost = strcmp(was_open, "1") == 0 && (!boot[0] || strcmp(boot, was_boot) != 0);
    /* `boot` is hex and dashes: no quoting needed. */
    if (strspn(boot, "0123456789abcdef-") != strlen(boot))
        boot[0] = '\0';
    snprintf(sql, sizeof sql,
             "INSERT OR REPLACE INTO store(key, value) VALUES('open', '1'), ('boot', '%s')", boot);
    /* This one commit is synced before any other is made: a later power
     * loss cannot take the mark away while keeping what came after it. */
    if ((rc = exec(s, "PRAGMA synchronous = FULL; BEGIN IMMEDIATE", error, error_size)) != 0)
        return rc;
    if ((lost && ((rc = exec(s,
                             "UPDATE rooms SET epoch = lower(hex(randomblob(12))), "
                             "history_floor = history_last; DELETE FROM messages",
                             error, error_size)) != 0)) ||
        (rc = exec(s, sql, error, error_size)) != 0 || (rc = exec(s, "COMMIT", error, error_size)) != 0 ||
        (rc = exec(s, "PRAGMA synchronous = NORMAL", error, error_size)) != 0) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    s->session = true;
    if (lost)
        room_logf(s->cfg.log, s->cfg.user_data, ROOM_LOG_WARN,
                  "sqlite store %s: the last store on it did not close and the machine has "
                  "restarted since, so its last commits may be lost: every room's history starts "
                  "over with a new epoch (update logs are kept)",
                  s->path);
    return 0;
}

void sq_session_end(sq_store *s)
{
    /* Made durable by the last checkpoint, when the connection closes. If
     * it fails, the next store sees an unclean end on this boot, which
     * loses nothing. */
    sqlite3_exec(s->db, "DELETE FROM store WHERE key = 'open'", NULL, NULL, NULL);
}
