/* In-process core benchmark with a null transport: what the library itself
 * costs, with no sockets. Prints figures; asserts nothing.
 *   fan-out: ns per delivery for rooms of 10, 1 000 and 100 000 members
 *   join+leave pairs per second
 *   library bytes per idle connection and per room membership
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    printf("libroom %s core benchmark (null transport, 100-byte payload, %.2fs per case)\n",
           room_version(), seconds);
    fanout(10, seconds);
    fanout(1000, seconds);
    fanout(100000, seconds);
    join_leave(seconds);
    memory();
    return 0;
}
