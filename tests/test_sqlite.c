/* libroom-sqlite (lib/sqlite) under real hubs through the fake transport:
 * update logs, compaction snapshots, history (attachments included) and
 * epochs through a close and reopen of the file; the refusals at open (not
 * SQLite, corrupt, another application's, a newer schema, read-only file,
 * unwritable directory, a second store); a write failing later (the file
 * locked by another connection): rooms read-only, logged once, nothing
 * dropped, written at the next flush that succeeds; the checkpoint thread;
 * and every allocation of the store failing in turn. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "room/history.h"
#include "room/sqlite.h"
#include "room/storage.h"
#include "test_util.h"

/* A scratch directory per test, removed with what is in it. */
typedef struct scratch {
    char dir[64];
    char db[96];
} scratch;

static void scratch_make(scratch *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/test_sqlite.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->db, sizeof s->db, "%s/rooms.db", s->dir);
}

static void scratch_remove(scratch *s)
{
    char cmd[128];
    chmod(s->dir, 0700);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
    assert_int_equal(system(cmd), 0);
}

/* What the store logged. */
typedef struct logbook {
    int lines, errors;
    char last[256];
} logbook;

static void log_line(int level, const char *message, void *ud)
{
    logbook *b = ud;
    b->lines++;
    b->errors += level == ROOM_LOG_ERROR;
    snprintf(b->last, sizeof b->last, "%s", message);
}

static room_store *open_store(const char *path, logbook *book)
{
    room_store_sqlite_config cfg;
    room_store *store;
    char why[256];
    room_store_sqlite_config_init(&cfg);
    cfg.log = book ? log_line : NULL;
    cfg.user_data = book;
    cfg.busy_ms = 1;
    if (room_store_sqlite_open(&store, path, &cfg, why, sizeof why) != 0)
        fail_msg("open %s: %s", path, why);
    return store;
}

/* Update frames carry a prefix (a y-websocket header, say) that the store
 * never sees: the hub puts it back on what it loads. */
static size_t prefix_fn(const uint8_t *update, size_t len, uint8_t *prefix, void *ud)
{
    (void)update, (void)len, (void)ud;
    memcpy(prefix, "Y:", 2);
    return 2;
}

/* A hub whose rooms named chat* keep history, on `store` under `scope`.
 * `seed` moves the hub's random sequence, so that a room that were not
 * loaded would get another epoch than the last run's. */
static room_hub *hub_on(fake_net *net, room_store *store, const char *scope, uint64_t seed)
{
    room_storage_config sc;
    assert_non_null(fake_hub(net, 0));
    net->random_state = seed;
    room_storage_config_init(&sc);
    sc.store = store;
    sc.store_scope = scope;
    sc.history_rooms = "chat*";
    sc.update_prefix = prefix_fn;
    assert_int_equal(room_storage_enable(net->hub, &sc), 0);
    return net->hub;
}

static void hub_done(fake_net *net)
{
    room_hub_free(net->hub);
    net->hub = NULL;
}

static void append(room_hub *hub, const char *room, const char *update)
{
    assert_true(room_storage_append(hub, NULL, room, update, strlen(update), NULL) >= 0);
}

static void say(room_hub *hub, const char *room, const char *text)
{
    json_t *arg = json_pack("{s:s}", "text", text);
    room_history_pos pos;
    assert_true(room_history_send_args(hub, room, "message", &arg, 1, NULL, 0, NULL, arg, &pos) >= 0);
    assert_true(pos.offset > 0);
    json_decref(arg);
}

/* The log as "offset:update," pairs. */
typedef struct text {
    char s[1024];
    size_t n;
} text;

static int log_visit(const room_storage_entry *e, void *ud)
{
    text *t = ud;
    size_t len;
    const uint8_t *payload = room_frame_payload(e->frame, &len);
    assert_memory_equal(payload, "Y:", 2);
    assert_ptr_equal(e->update.data, payload + 2);
    assert_int_equal(e->update.len, len - 2);
    t->n += (size_t)snprintf(t->s + t->n, sizeof t->s - t->n, "%llu:%.*s,",
                             (unsigned long long)e->offset, (int)e->update.len,
                             (const char *)e->update.data);
    return 0;
}

static const char *log_of(room_hub *hub, const char *room, text *t)
{
    t->n = 0;
    t->s[0] = '\0';
    assert_int_equal(room_storage_foreach(hub, room, log_visit, t), 0);
    return t->s;
}

/* History as "offset:payload|attachment|...," entries. */
static int history_visit(uint64_t offset, room_frame *frame, void *ud)
{
    text *t = ud;
    const room_frame *f;
    t->n += (size_t)snprintf(t->s + t->n, sizeof t->s - t->n, "%llu:", (unsigned long long)offset);
    for (f = frame; f; f = room_frame_next(f)) {
        size_t len;
        const uint8_t *p = room_frame_payload(f, &len);
        t->n += (size_t)snprintf(t->s + t->n, sizeof t->s - t->n, "%s%d=%.*s", f == frame ? "" : "|",
                                 room_frame_kind(f), (int)len, (const char *)p);
    }
    t->n += (size_t)snprintf(t->s + t->n, sizeof t->s - t->n, ",");
    return 0;
}

static const char *history_of(room_hub *hub, const char *room, text *t)
{
    t->n = 0;
    t->s[0] = '\0';
    assert_int_equal(room_history_foreach(hub, room, 0, history_visit, t), 0);
    return t->s;
}

static void epoch_of(room_hub *hub, const char *room, char *epoch)
{
    room_storage_info info;
    assert_int_equal(room_storage_get_info(hub, room, &info), 0);
    strcpy(epoch, info.epoch);
}

/* Logs, history and epochs come back whole from the file, per scope. */
static void round_trip(void **state)
{
    scratch sc;
    fake_net net = {0};
    room_store *store;
    char doc_epoch[ROOM_EPOCH_MAX + 1], chat_epoch[ROOM_EPOCH_MAX + 1], other[ROOM_EPOCH_MAX + 1];
    char history[1024];
    room_history_pos pos;
    text t;
    (void)state;

    scratch_make(&sc);
    store = open_store(sc.db, NULL);
    hub_on(&net, store, "a", 1);
    append(net.hub, "doc", "one");
    append(net.hub, "doc", "two");
    append(net.hub, "doc", "");
    say(net.hub, "chat:1", "hello");
    say(net.hub, "chat:1", "world");
    epoch_of(net.hub, "doc", doc_epoch);
    epoch_of(net.hub, "chat:1", chat_epoch);
    snprintf(history, sizeof history, "%s", history_of(net.hub, "chat:1", &t));
    assert_int_equal(room_storage_flush(net.hub), 0);
    /* Appended after the last flush: the hub writes it when it is freed. */
    append(net.hub, "doc", "three");
    hub_done(&net);
    room_store_free(store);

    store = open_store(sc.db, NULL);
    hub_on(&net, store, "a", 99);
    assert_string_equal(log_of(net.hub, "doc", &t), "1:one,2:two,3:,4:three,");
    assert_string_equal(history_of(net.hub, "chat:1", &t), history);
    assert_non_null(strstr(history, "hello"));
    epoch_of(net.hub, "doc", other);
    assert_string_equal(other, doc_epoch);
    assert_int_equal(room_history_position(net.hub, "chat:1", &pos), 0);
    assert_string_equal(pos.epoch, chat_epoch);
    assert_int_equal(pos.offset, 2);
    /* Offsets go on from where they were. */
    append(net.hub, "doc", "five");
    assert_string_equal(log_of(net.hub, "doc", &t), "1:one,2:two,3:,4:three,5:five,");
    hub_done(&net);

    /* Another scope on the same file: the room is new there. */
    hub_on(&net, store, "b", 99);
    assert_string_equal(log_of(net.hub, "doc", &t), "");
    epoch_of(net.hub, "doc", other);
    assert_string_not_equal(other, doc_epoch);
    hub_done(&net);
    room_store_free(store);
    scratch_remove(&sc);
}

/* A compaction replaces the entries up to its token by the snapshot, in
 * the file too; the entries that came after it stay. */
static void compaction_replaces(void **state)
{
    scratch sc;
    fake_net net = {0};
    room_store *store;
    fake_peer *member;
    uint64_t token;
    sqlite3 *db;
    sqlite3_stmt *st;
    text t;
    (void)state;

    scratch_make(&sc);
    store = open_store(sc.db, NULL);
    hub_on(&net, store, "", 1);
    member = fake_open(&net);
    assert_int_equal(room_join(net.hub, member->conn, "doc"), 0);
    /* A compaction asks a member that has the whole log. */
    assert_int_equal(room_storage_sync_begin(net.hub, member->conn, "doc"), 0);
    assert_int_equal(room_storage_sync_send(net.hub, member->conn, "doc", 0), 1);
    append(net.hub, "doc", "a");
    append(net.hub, "doc", "b");
    append(net.hub, "doc", "c");
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(room_storage_compaction_begin(net.hub, "doc", member->conn, &token), 0);
    assert_int_equal(token, 3);
    append(net.hub, "doc", "d"); /* raced the compaction */
    assert_int_equal(room_storage_compaction_commit(net.hub, "doc", token, "abc", 3), 0);
    assert_int_equal(room_storage_flush(net.hub), 0);
    fake_close(&net, member);
    hub_done(&net);
    room_store_free(store);

    /* The rows themselves: the snapshot at 3, then 4. */
    assert_int_equal(sqlite3_open(sc.db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(pos || '=' || data, ',') FROM "
                                            "(SELECT pos, CAST(data AS TEXT) AS data FROM updates ORDER BY pos)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "3=abc,4=d");
    sqlite3_finalize(st);
    sqlite3_close(db);

    store = open_store(sc.db, NULL);
    hub_on(&net, store, "", 1);
    assert_string_equal(log_of(net.hub, "doc", &t), "3:abc,4:d,");
    hub_done(&net);
    room_store_free(store);
    scratch_remove(&sc);
}

/* Messages with binary attachments (the JSON codec has none: written
 * through the store's own table here), and history that drops its oldest. */
static void history_parts_and_floor(void **state)
{
    scratch sc;
    fake_net net = {0};
    room_store *store;
    room_bytes parts[3] = {{(const uint8_t *)"msg", 3}, {(const uint8_t *)"", 0},
                           {(const uint8_t *)"bin", 3}};
    room_store_message m[2] = {{1, ROOM_FRAME_TEXT, parts, 3}, {2, ROOM_FRAME_TEXT, parts, 1}};
    room_store_batch b;
    room_history_limits lim;
    text t;
    int i;
    (void)state;

    scratch_make(&sc);
    store = open_store(sc.db, NULL);
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.room = "chat:x";
    b.epoch = "e1";
    b.history_last = 2;
    b.messages = m;
    b.message_count = 2;
    assert_int_equal(store->write(store, "", &b, 1), 0);
    hub_on(&net, store, "", 1);
    assert_string_equal(history_of(net.hub, "chat:x", &t), "1:1=msg|2=|2=bin,2:1=msg,");
    /* Two messages at most: the oldest leave, and the file follows. */
    room_history_limits_init(&lim);
    lim.max_messages = 2;
    assert_int_equal(room_history_set(net.hub, "chat:x", &lim), 0);
    for (i = 0; i < 3; i++)
        say(net.hub, "chat:x", i == 2 ? "last" : "more");
    hub_done(&net);
    room_store_free(store);

    store = open_store(sc.db, NULL);
    hub_on(&net, store, "", 1);
    assert_int_equal(room_history_set(net.hub, "chat:x", &lim), 0);
    history_of(net.hub, "chat:x", &t);
    assert_non_null(strstr(t.s, "4:"));
    assert_non_null(strstr(t.s, "last"));
    assert_null(strstr(t.s, "3:"));
    hub_done(&net);
    room_store_free(store);
    scratch_remove(&sc);
}

static int open_error(const char *path, int quick_check, char *why, size_t size)
{
    room_store_sqlite_config cfg;
    room_store *store;
    int rc;
    room_store_sqlite_config_init(&cfg);
    cfg.quick_check = quick_check;
    rc = room_store_sqlite_open(&store, path, &cfg, why, size);
    if (rc == 0)
        room_store_free(store);
    else
        assert_null(store);
    return rc;
}

static void write_file(const char *path, const char *bytes, size_t len, off_t at)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, len, at), (ssize_t)len);
    close(fd);
}

/* Files that are not ours are refused with SQLite's words, untouched. */
static void refuses_what_is_not_a_store(void **state)
{
    scratch sc;
    char why[256], junk[4096];
    sqlite3 *db;
    room_store *store;
    fake_net net = {0};
    struct stat before, after;
    (void)state;

    scratch_make(&sc);
    write_file(sc.db, "this is no database, just text that is long enough to have a header", 68, 0);
    assert_int_equal(open_error(sc.db, 0, why, sizeof why), ROOM_ESTORAGE);
    assert_string_equal(why, "file is not a database");

    /* Another application's SQLite file: not converted to WAL, not changed. */
    unlink(sc.db);
    assert_int_equal(sqlite3_open(sc.db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(stat(sc.db, &before), 0);
    assert_int_equal(open_error(sc.db, 0, why, sizeof why), ROOM_ESTORAGE);
    assert_non_null(strstr(why, "not a libroom store"));
    assert_int_equal(stat(sc.db, &after), 0);
    assert_int_equal(before.st_size, after.st_size);
    assert_int_equal(before.st_mtime, after.st_mtime);

    /* A store of a later schema. */
    unlink(sc.db);
    assert_int_equal(open_error(sc.db, 0, why, sizeof why), 0);
    assert_int_equal(sqlite3_open(sc.db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(open_error(sc.db, 0, why, sizeof why), ROOM_ESTORAGE);
    assert_non_null(strstr(why, "schema version 2"));

    /* A store whose pages were overwritten: quick_check finds it at open. */
    unlink(sc.db);
    store = open_store(sc.db, NULL);
    hub_on(&net, store, "", 1);
    for (int i = 0; i < 200; i++)
        append(net.hub, "doc", "an update long enough to fill a few pages of the file, many times");
    hub_done(&net);
    room_store_free(store);
    memset(junk, 0x5a, sizeof junk);
    write_file(sc.db, junk, sizeof junk, 2 * 4096);
    assert_int_equal(open_error(sc.db, 1, why, sizeof why), ROOM_ESTORAGE);
    assert_non_null(strstr(why, "malformed"));

    /* No path, no pointer, a config from before the first release. */
    assert_int_equal(room_store_sqlite_open(NULL, sc.db, NULL, why, sizeof why), ROOM_EINVAL);
    assert_int_equal(room_store_sqlite_open(&store, NULL, NULL, why, sizeof why), ROOM_EINVAL);
    {
        room_store_sqlite_config small;
        room_store_sqlite_config_init(&small);
        small.size = sizeof(size_t);
        assert_int_equal(room_store_sqlite_open(&store, sc.db, &small, why, sizeof why), ROOM_EINVAL);
    }
    scratch_remove(&sc);
}

/* Runs `check` in a child process without root's right to write anything
 * (root ignores file modes), and returns its exit status. */
static int as_unprivileged(void (*check)(const scratch *), const scratch *sc)
{
    int status;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        check(sc);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void refused_as(const char *path, const char *words)
{
    char why[256];
    if (open_error(path, 0, why, sizeof why) != ROOM_ESTORAGE)
        _exit(1);
    if (!strstr(why, words)) {
        fprintf(stderr, "expected \"%s\", got \"%s\"\n", words, why);
        _exit(2);
    }
}

static void read_only_check(const scratch *sc)
{
    refused_as(sc->db, "readonly database");
}

static void unwritable_dir_check(const scratch *sc)
{
    char path[128];
    snprintf(path, sizeof path, "%s/new.db", sc->dir);
    refused_as(path, "unable to open database file");
    refused_as(sc->db, "the directory is not writable");
}

static void writable_check(const scratch *sc)
{
    char why[256];
    if (open_error(sc->db, 0, why, sizeof why) != 0) {
        fprintf(stderr, "%s\n", why);
        _exit(1);
    }
}

static void read_only_file_and_directory(void **state)
{
    scratch sc;
    char why[256];
    (void)state;
    scratch_make(&sc);
    assert_int_equal(open_error(sc.db, 0, why, sizeof why), 0);
    assert_int_equal(chmod(sc.dir, 0755), 0);
    assert_int_equal(chmod(sc.db, 0444), 0);
    assert_int_equal(as_unprivileged(read_only_check, &sc), 0);
    /* The process's own file and directory: fine. */
    if (geteuid() == 0)
        assert_int_equal(chown(sc.db, 65534, 65534) | chown(sc.dir, 65534, 65534), 0);
    assert_int_equal(chmod(sc.db, 0644), 0);
    assert_int_equal(as_unprivileged(writable_check, &sc), 0);
    /* A directory where neither a new file nor the write-ahead log of the
     * existing one can be made. */
    assert_int_equal(chmod(sc.dir, 0555), 0);
    assert_int_equal(as_unprivileged(unwritable_dir_check, &sc), 0);
    scratch_remove(&sc);
}

/* A second store on the same file would interleave offsets. */
static void one_store_per_file(void **state)
{
    scratch sc;
    char why[256];
    room_store *store;
    (void)state;
    scratch_make(&sc);
    store = open_store(sc.db, NULL);
    assert_int_equal(open_error(sc.db, 0, why, sizeof why), ROOM_ESTORAGE);
    assert_non_null(strstr(why, "locked by another store"));
    room_store_free(store);
    assert_int_equal(open_error(sc.db, 0, why, sizeof why), 0);
    scratch_remove(&sc);
}

/* The file locked by another program: the flush fails, the room turns
 * read-only (appends refused, nothing dropped), one log line; once the
 * lock is gone the next flush writes everything. */
static void write_failure_keeps_everything(void **state)
{
    scratch sc;
    fake_net net = {0};
    logbook book = {0};
    room_store *store;
    room_storage_info info;
    room_store_sqlite_stats stats;
    sqlite3 *other;
    int hub_logs;
    text t;
    (void)state;

    scratch_make(&sc);
    store = open_store(sc.db, &book);
    hub_on(&net, store, "", 1);
    append(net.hub, "doc", "before");
    assert_int_equal(room_storage_flush(net.hub), 0);
    append(net.hub, "doc", "during");

    assert_int_equal(sqlite3_open(sc.db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    hub_logs = net.logs;
    assert_int_equal(room_storage_flush(net.hub), ROOM_ESTORAGE);
    assert_int_equal(room_storage_get_info(net.hub, "doc", &info), 0);
    assert_int_equal(info.status, ROOM_ESTORAGE);
    assert_int_equal(room_storage_append(net.hub, NULL, "doc", "refused", 7, NULL), ROOM_ESTORAGE);
    assert_int_equal(book.errors, 1);
    assert_non_null(strstr(book.last, "database is locked"));
    assert_non_null(strstr(book.last, sc.db));
    assert_string_equal(room_store_sqlite_error(store), "database is locked");
    /* Retried at each flush, logged once, by the store and by the hub. */
    assert_int_equal(room_storage_flush(net.hub), ROOM_ESTORAGE);
    assert_int_equal(book.errors, 1);
    assert_int_equal(net.logs - hub_logs, 1);

    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(room_storage_flush(net.hub), 0);
    assert_int_equal(book.lines, 2);
    assert_non_null(strstr(book.last, "succeed again"));
    assert_string_equal(room_store_sqlite_error(store), "");
    append(net.hub, "doc", "after");
    assert_int_equal(room_store_sqlite_stats_get(store, &stats), 0);
    assert_int_equal(stats.failed, 2);
    hub_done(&net);
    room_store_free(store);

    store = open_store(sc.db, NULL);
    hub_on(&net, store, "", 1);
    assert_string_equal(log_of(net.hub, "doc", &t), "1:before,2:during,3:after,");
    hub_done(&net);
    room_store_free(store);
    scratch_remove(&sc);
}

/* A store that never closed (its process died: a child that exits without
 * freeing it) on this boot lost nothing; on another boot (a power loss)
 * its last commits may be gone, so history starts over with a new epoch
 * while the update log stays. */
static void crashed_child(const char *path)
{
    fake_net net = {0};
    room_store *store;
    room_store_sqlite_config cfg;
    room_storage_config sc;
    json_t *arg = json_string("said");
    pid_t pid = fork();
    int status;
    assert_true(pid >= 0);
    if (pid == 0) {
        room_store_sqlite_config_init(&cfg);
        if (room_store_sqlite_open(&store, path, &cfg, NULL, 0) != 0 || !fake_hub(&net, 0))
            _exit(1);
        room_storage_config_init(&sc);
        sc.store = store;
        sc.history_rooms = "chat*";
        if (room_storage_enable(net.hub, &sc) != 0 ||
            room_storage_append(net.hub, NULL, "doc", "u", 1, NULL) < 0 ||
            room_history_send_args(net.hub, "chat:1", "message", &arg, 1, NULL, 0, NULL, NULL, NULL) < 0 ||
            room_storage_flush(net.hub) != 0)
            _exit(2);
        _exit(0); /* no free, no close: as if killed */
    }
    json_decref(arg);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void unclean_end(void **state)
{
    scratch sc;
    fake_net net = {0};
    logbook book = {0};
    room_store *store;
    sqlite3 *db;
    room_history_pos pos;
    char epoch[ROOM_EPOCH_MAX + 1];
    text t;
    (void)state;

    scratch_make(&sc);
    crashed_child(sc.db);
    store = open_store(sc.db, &book);
    hub_on(&net, store, "", 7);
    assert_int_equal(room_history_position(net.hub, "chat:1", &pos), 0);
    assert_int_equal(pos.offset, 1);
    assert_non_null(strstr(history_of(net.hub, "chat:1", &t), "said"));
    strcpy(epoch, pos.epoch);
    assert_int_equal(book.lines, 0);
    hub_done(&net);
    room_store_free(store);

    /* Again, and this time the machine restarted before the next open. */
    crashed_child(sc.db);
    assert_int_equal(sqlite3_open(sc.db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE store SET value = 'another-boot' WHERE key = 'boot'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
    store = open_store(sc.db, &book);
    assert_int_equal(book.lines, 1);
    assert_non_null(strstr(book.last, "new epoch"));
    hub_on(&net, store, "", 7);
    assert_int_equal(room_history_position(net.hub, "chat:1", &pos), 0);
    assert_string_not_equal(pos.epoch, epoch);
    assert_string_equal(history_of(net.hub, "chat:1", &t), "");
    assert_string_equal(log_of(net.hub, "doc", &t), "1:u,2:u,");
    hub_done(&net);
    room_store_free(store);

    /* Closed cleanly this time: nothing changes at the next open. */
    store = open_store(sc.db, &book);
    assert_int_equal(book.lines, 1);
    room_store_free(store);
    scratch_remove(&sc);
}

/* Batches the schema cannot hold are refused before any SQL runs. */
static void malformed_batches(void **state)
{
    scratch sc;
    room_store *store;
    room_store_batch b;
    room_store_update u = {(uint64_t)INT64_MAX + 1, (const uint8_t *)"x", 1};
    room_store_sqlite_stats stats;
    (void)state;
    scratch_make(&sc);
    store = open_store(sc.db, NULL);
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.room = "r";
    b.epoch = "e";
    b.log_last = u.offset;
    b.updates = &u;
    b.update_count = 1;
    assert_int_equal(store->write(store, "", &b, 1), ROOM_EINVAL);
    b.log_last = u.offset = 1;
    b.size = offsetof(room_store_batch, updates);
    assert_int_equal(store->write(store, "", &b, 1), ROOM_EINVAL);
    b.size = sizeof b;
    assert_int_equal(store->write(store, "", &b, 1), 0);
    assert_int_equal(room_store_sqlite_stats_get(store, &stats), 0);
    assert_int_equal(stats.commits, 1);
    assert_int_equal(stats.updates, 1);
    /* A host built with fewer counters gets those, nothing written past. */
    memset(&stats, 0xff, sizeof stats);
    assert_int_equal(room_store_sqlite_stats_copy(store, &stats, offsetof(room_store_sqlite_stats, updates)), 0);
    assert_int_equal(stats.commits, 1);
    assert_int_equal(stats.updates, UINT64_MAX);
    assert_null(room_store_sqlite_error(NULL));
    assert_int_equal(room_store_sqlite_stats_get(NULL, &stats), ROOM_EINVAL);
    room_store_free(store);
    scratch_remove(&sc);
}

/* Commits are made durable by the thread within sync_ms. */
static void checkpoint_thread_syncs(void **state)
{
    scratch sc;
    room_store_sqlite_config cfg;
    room_store *store;
    room_store_sqlite_stats stats;
    room_store_batch b;
    room_store_update u = {1, (const uint8_t *)"x", 1};
    char why[256];
    int tries;
    (void)state;
    scratch_make(&sc);
    room_store_sqlite_config_init(&cfg);
    cfg.sync_ms = 20;
    assert_int_equal(room_store_sqlite_open(&store, sc.db, &cfg, why, sizeof why), 0);
    assert_int_equal(room_store_sqlite_stats_get(store, &stats), 0);
    assert_int_equal(stats.checkpoints, 0);
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.room = "r";
    b.epoch = "e";
    b.log_last = 1;
    b.updates = &u;
    b.update_count = 1;
    assert_int_equal(store->write(store, "", &b, 1), 0);
    for (tries = 0; tries < 500; tries++) {
        struct timespec ms10 = {0, 10000000};
        assert_int_equal(room_store_sqlite_stats_get(store, &stats), 0);
        if (stats.checkpoints)
            break;
        nanosleep(&ms10, NULL);
    }
    assert_true(stats.checkpoints >= 1);
    room_store_free(store);
    scratch_remove(&sc);
}

/* Every allocation of the store fails in turn: at open, and in a load of
 * messages with several parts (the copies load.c makes). */
static void every_allocation_may_fail(void **state)
{
    scratch sc;
    fake_alloc a;
    room_store_sqlite_config cfg;
    room_store *store;
    fake_net net = {0};
    char why[256];
    size_t n, total = 0;
    room_bytes parts[2] = {{(const uint8_t *)"head", 4}, {(const uint8_t *)"tail", 4}};
    room_store_message m[3] = {{1, ROOM_FRAME_TEXT, parts, 2}, {2, ROOM_FRAME_TEXT, parts, 2},
                               {3, ROOM_FRAME_TEXT, parts, 1}};
    room_store_batch b;
    room_history_pos pos;
    int rc;
    (void)state;

    scratch_make(&sc);
    for (n = 1;; n++) {
        memset(&a, 0, sizeof a);
        a.fail_at = n;
        room_store_sqlite_config_init(&cfg);
        cfg.allocator = fake_allocator(&a);
        rc = room_store_sqlite_open(&store, sc.db, &cfg, why, sizeof why);
        if (rc == 0)
            break;
        assert_int_equal(rc, ROOM_ENOMEM);
        assert_int_equal(a.allocs, a.frees);
    }
    memset(&b, 0, sizeof b);
    b.size = sizeof b;
    b.room = "chat:x";
    b.epoch = "e1";
    b.history_last = 3;
    b.messages = m;
    b.message_count = 3;
    assert_int_equal(store->write(store, "", &b, 1), 0);
    room_store_free(store);
    assert_int_equal(a.allocs, a.frees);

    for (n = 1;; n++) {
        memset(&a, 0, sizeof a);
        room_store_sqlite_config_init(&cfg);
        cfg.allocator = fake_allocator(&a);
        assert_int_equal(room_store_sqlite_open(&store, sc.db, &cfg, why, sizeof why), 0);
        a.fail_at = a.allocs + n;
        hub_on(&net, store, "", 1);
        rc = room_history_position(net.hub, "chat:x", &pos);
        hub_done(&net);
        room_store_free(store);
        assert_int_equal(a.allocs, a.frees);
        if (rc == 0) {
            assert_int_equal(pos.offset, 3);
            total = n;
            break;
        }
        assert_int_equal(rc, ROOM_ENOMEM);
    }
    /* The parts array and the bytes buffer, at least. */
    assert_true(total >= 3);
    scratch_remove(&sc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(compaction_replaces),
        cmocka_unit_test(history_parts_and_floor),
        cmocka_unit_test(refuses_what_is_not_a_store),
        cmocka_unit_test(read_only_file_and_directory),
        cmocka_unit_test(one_store_per_file),
        cmocka_unit_test(write_failure_keeps_everything),
        cmocka_unit_test(unclean_end),
        cmocka_unit_test(malformed_batches),
        cmocka_unit_test(checkpoint_thread_syncs),
        cmocka_unit_test(every_allocation_may_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
