/* In-process core benchmark with a null transport: what the library itself
 * costs, with no sockets. Prints figures; asserts nothing.
 *   fan-out: ns per delivery for rooms of 10, 1 000 and 100 000 members
 *   join+leave pairs per second
 *   library bytes per idle connection and per room membership
 *   presence: 10 000 users entering one room and leaving, diffs flushed
 *   once per simulated loop tick
 */
#define _GNU_SOURCE /* mallinfo2(): jansson's objects are not in room_hub_memory() */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "room/frame.h"
#include "room/presence.h"
#include "room/room.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The cheapest honest sink: count the frame. */
static int null_send(void *t, room_frame *f, void *ud)
{
    (void)t, (void)f;
    ++*(unsigned long *)ud;
    return 0;
}

static room_hub *make_hub(unsigned long *sink, size_t max_rooms_per_conn)
{
    room_config cfg;
    room_hub *hub;
    room_config_init(&cfg);
    cfg.send = null_send;
    cfg.user_data = sink;
    cfg.max_rooms_per_conn = max_rooms_per_conn;
    if (room_hub_new(&hub, &cfg) != 0) {
        fprintf(stderr, "room_hub_new failed\n");
        exit(1);
    }
    return hub;
}

static room_conn **open_conns(room_hub *hub, size_t n)
{
    room_conn **c = malloc(n * sizeof *c);
    for (size_t i = 0; i < n; i++) {
        if (room_conn_open(hub, NULL, &c[i]) != 0) {
            fprintf(stderr, "room_conn_open failed\n");
            exit(1);
        }
    }
    return c;
}

static void fanout(size_t members, double seconds)
{
    unsigned long sink = 0;
    room_hub *hub = make_hub(&sink, 128);
    room_conn **c = open_conns(hub, members);
    char text[101];
    json_t *payload;
    double t0, dt;
    unsigned long sends = 0;

    memset(text, 'x', 100);
    text[100] = '\0';
    payload = json_string(text);
    for (size_t i = 0; i < members; i++)
        room_join(hub, c[i], "room");
    t0 = now_s();
    do {
        for (int k = 0; k < 16; k++)
            room_send(hub, "room", "msg", payload, NULL);
        sends += 16;
        dt = now_s() - t0;
    } while (dt < seconds);
    printf("fanout members=%-7zu sends=%-8lu deliveries=%-10lu ns/delivery=%6.2f deliveries/s=%.3g\n",
           members, sends, sink, dt * 1e9 / (double)sink, (double)sink / dt);
    json_decref(payload);
    for (size_t i = 0; i < members; i++)
        room_conn_close(hub, c[i], NULL);
    free(c);
    room_hub_free(hub);
}

/* Connections join and leave rooms that already have members, the common
 * case (a user entering a busy room). */
static void join_leave(double seconds)
{
    enum { CONNS = 10000, ROOMS = 1000 };
    unsigned long sink = 0, pairs = 0;
    room_hub *hub = make_hub(&sink, 128);
    room_conn **c = open_conns(hub, CONNS);
    char names[ROOMS][16];
    double t0, dt;

    for (int r = 0; r < ROOMS; r++)
        snprintf(names[r], sizeof names[r], "room-%d", r);
    for (int i = 0; i < CONNS; i++)
        room_join(hub, c[i], names[i % ROOMS]);
    t0 = now_s();
    do {
        for (int i = 0; i < CONNS; i++) {
            const char *name = names[(i * 7 + 1) % ROOMS];
            if (room_join(hub, c[i], name) == 0)
                room_leave(hub, c[i], name);
        }
        pairs += CONNS;
        dt = now_s() - t0;
    } while (dt < seconds);
    printf("join+leave pairs=%lu pairs/s=%.3g ns/pair=%.1f\n", pairs, (double)pairs / dt,
           dt * 1e9 / (double)pairs);
    for (int i = 0; i < CONNS; i++)
        room_conn_close(hub, c[i], NULL);
    free(c);
    room_hub_free(hub);
}

static void memory(void)
{
    enum { N = 100000 };
    unsigned long sink = 0;
    room_hub *hub = make_hub(&sink, 128);
    size_t base = room_hub_memory(hub), conns, members;
    room_conn **c = open_conns(hub, N);
    conns = room_hub_memory(hub) - base;
    for (int i = 0; i < N; i++)
        room_join(hub, c[i], (i % 10) ? "big" : "other"); /* two rooms */
    members = room_hub_memory(hub) - base - conns;
    printf("memory connections=%d bytes/connection=%.1f bytes/membership=%.1f\n", N,
           (double)conns / N, (double)members / N);
    for (int i = 0; i < N; i++)
        room_conn_close(hub, c[i], NULL);
    free(c);
    room_hub_free(hub);
}

/* Frames and payload bytes, for the presence case. */
typedef struct psink {
    unsigned long frames;
    unsigned long long bytes;
} psink;

static int count_send(void *t, room_frame *f, void *ud)
{
    psink *s = ud;
    size_t len;
    (void)t;
    room_frame_payload(f, &len);
    s->frames++;
    s->bytes += len;
    return 0;
}

static size_t heap_bytes(void)
{
    return mallinfo2().uordblks;
}

/* 10 000 users enter one presence room as fast as a server would let them
 * (`per_tick` joins handled per loop iteration, then the flush the
 * transport makes), then leave the same way. Each joiner gets the full
 * state at once, so the snapshots alone are n^2/2 entries: the run
 * without them (`snapshots` false) shows what the batched diffs cost. */
static void presence(int n, int per_tick, bool snapshots)
{
    psink sink = {0, 0};
    room_config cfg;
    room_presence_config pc;
    room_hub *hub;
    room_conn **c;
    char id[32], name[32];
    double t0, t_join, t_leave;
    unsigned long join_frames, ticks = 0;
    unsigned long long join_bytes;
    size_t heap0, heap1, lib0, lib1, users;

    room_config_init(&cfg);
    cfg.send = count_send;
    cfg.user_data = &sink;
    room_presence_config_init(&pc);
    pc.state_event = snapshots ? "presence" : NULL;
    pc.diff_event = "presence-diff";
    if (room_hub_new(&hub, &cfg) != 0 || room_presence_enable(hub, &pc) != 0) {
        fprintf(stderr, "presence hub setup failed\n");
        exit(1);
    }
    c = open_conns(hub, (size_t)n);
    for (int i = 0; i < n; i++) {
        room_user u;
        room_user_init(&u);
        snprintf(id, sizeof id, "u%d", i);
        snprintf(name, sizeof name, "user %d", i);
        u.id = id;
        u.name = name;
        if (room_conn_set_user(hub, c[i], &u) != 0) {
            fprintf(stderr, "room_conn_set_user failed\n");
            exit(1);
        }
    }
    heap0 = heap_bytes();
    lib0 = room_hub_memory(hub);
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (room_presence_join(hub, c[i], "lobby", NULL, NULL) != 0) {
            fprintf(stderr, "room_presence_join failed at %d\n", i);
            exit(1);
        }
        if ((i + 1) % per_tick == 0 || i + 1 == n) {
            room_presence_flush(hub);
            ticks++;
        }
    }
    t_join = now_s() - t0;
    join_frames = sink.frames;
    join_bytes = sink.bytes;
    heap1 = heap_bytes();
    lib1 = room_hub_memory(hub);
    users = room_presence_user_count(hub, "lobby");
    t0 = now_s();
    for (int i = 0; i < n; i++) {
        room_leave(hub, c[i], "lobby");
        if ((i + 1) % per_tick == 0 || i + 1 == n)
            room_presence_flush(hub);
    }
    t_leave = now_s() - t0;
    printf("presence users=%d joins/tick=%-5d snapshots=%d join=%.3fs (%.0f ns/join) users_seen=%zu frames=%lu "
           "(%.1f/client, %lu ticks) bytes=%.1fMB leave=%.3fs leave_frames=%lu "
           "bytes/member=%.0f (library %.0f)\n",
           n, per_tick, snapshots, t_join, t_join * 1e9 / n, users, join_frames, (double)join_frames / n, ticks,
           (double)join_bytes / 1e6, t_leave, sink.frames - join_frames,
           (double)(heap1 - heap0) / n, (double)(lib1 - lib0) / n);
    for (int i = 0; i < n; i++)
        room_conn_close(hub, c[i], NULL);
    free(c);
    room_hub_free(hub);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int users = argc > 2 ? atoi(argv[2]) : 10000; /* presence case; the smoke test's is small */
    printf("libroom %s core benchmark (null transport, 100-byte payload, %.2fs per case)\n",
           room_version(), seconds);
    fanout(10, seconds);
    fanout(1000, seconds);
    fanout(100000, seconds);
    join_leave(seconds);
    memory();
    if (users < 1)
        users = 1;
    presence(users, 1, true);
    presence(users, 1000, true);
    presence(users, 1000, false);
    return 0;
}
