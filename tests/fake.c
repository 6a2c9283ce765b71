#include "fake.h"
#include "room/protocol.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static void *counting_malloc(size_t size, void *ud)
{
    fake_alloc *a = ud;
    if (a->fail_at && a->allocs + a->failures + 1 == a->fail_at) {
        a->failures++;
        return NULL;
    }
    a->allocs++;
    return malloc(size);
}

static void *counting_realloc(void *ptr, size_t size, void *ud)
{
    fake_alloc *a = ud;
    void *p;
    if (a->fail_at && a->allocs + a->failures + 1 == a->fail_at) {
        a->failures++;
        return NULL;
    }
    p = realloc(ptr, size);
    if (p && !ptr)
        a->allocs++;
    return p;
}

static void counting_free(void *ptr, void *ud)
{
    fake_alloc *a = ud;
    if (ptr)
        a->frees++;
    free(ptr);
}

room_allocator fake_allocator(fake_alloc *a)
{
    return (room_allocator){counting_malloc, counting_realloc, counting_free, a};
}

static int fake_send(void *transport, room_frame *frame, void *user_data)
{
    fake_net *net = user_data;
    fake_peer *p = transport;
    size_t len;
    const uint8_t *bytes;
    if (p->fail_sends)
        return ROOM_ETRANSPORT;
    for (const room_frame *f = frame; f; f = room_frame_next(f)) {
        char *copy;
        bytes = room_frame_payload(f, &len);
        if (p->nframes == p->capframes) {
            p->capframes = p->capframes ? p->capframes * 2 : 8;
            p->frames = realloc(p->frames, p->capframes * sizeof *p->frames);
            p->kinds = realloc(p->kinds, p->capframes * sizeof *p->kinds);
        }
        copy = malloc(len + 1);
        memcpy(copy, bytes, len);
        copy[len] = '\0';
        p->kinds[p->nframes] = room_frame_kind(f);
        p->frames[p->nframes++] = copy;
    }
    net->sends++;
    return 0;
}

static void fake_close_cb(void *transport, int code, const char *reason, void *ud)
{
    fake_peer *p = transport;
    (void)ud;
    p->kicked++;
    p->close_code = code;
    snprintf(p->close_reason, sizeof p->close_reason, "%s", reason);
}

static void fake_log(int level, const char *message, void *ud)
{
    fake_net *net = ud;
    net->logs++;
    net->log_level = level;
    snprintf(net->last_log, sizeof net->last_log, "%s", message);
}

void fake_config(room_config *cfg, fake_net *net)
{
    cfg->log = fake_log;
    cfg->send = fake_send;
    cfg->close = fake_close_cb;
    cfg->user_data = net;
    cfg->allocator = fake_allocator(&net->alloc);
}

room_hub *fake_hub(fake_net *net, int with_rooms_protocol)
{
    room_config cfg;
    room_config_init(&cfg);
    fake_config(&cfg, net);
    if (room_hub_new(&net->hub, &cfg) != 0)
        return NULL;
    if (with_rooms_protocol && room_protocol_rooms_register(net->hub) != 0) {
        room_hub_free(net->hub);
        return net->hub = NULL;
    }
    return net->hub;
}

fake_peer *fake_open(fake_net *net)
{
    fake_peer *p = calloc(1, sizeof *p);
    if (room_conn_open(net->hub, p, &p->conn) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

void fake_clear(fake_peer *p)
{
    for (size_t i = 0; i < p->nframes; i++)
        free(p->frames[i]);
    p->nframes = 0;
}

void fake_peer_free(fake_peer *p)
{
    if (!p)
        return;
    fake_clear(p);
    free(p->frames);
    free(p->kinds);
    free(p);
}

void fake_close(fake_net *net, fake_peer *p)
{
    room_conn_close(net->hub, p->conn, "test close");
    fake_peer_free(p);
}

int fake_recv(fake_net *net, fake_peer *p, const char *text)
{
    return room_conn_recv(net->hub, p->conn, text, strlen(text));
}

json_t *fake_json(const fake_peer *p, size_t i)
{
    if (i >= p->nframes)
        return NULL;
    return json_loads(p->frames[i], JSON_DECODE_ANY, NULL);
}

long fake_find(const fake_peer *p, const char *event, size_t from)
{
    for (size_t i = from; i < p->nframes; i++) {
        json_t *j = fake_json(p, i);
        const char *name = json_string_value(json_object_get(j, "event"));
        int match = name && strcmp(name, event) == 0;
        json_decref(j);
        if (match)
            return (long)i;
    }
    return -1;
}

json_t *fake_event_data(const fake_peer *p, const char *event)
{
    long i = fake_find(p, event, 0);
    json_t *j, *data;
    if (i < 0)
        return NULL;
    j = fake_json(p, (size_t)i);
    data = json_incref(json_object_get(j, "data"));
    json_decref(j);
    return data;
}

size_t fake_count(const fake_peer *p, const char *event)
{
    size_t n = 0;
    for (long i = fake_find(p, event, 0); i >= 0; i = fake_find(p, event, (size_t)i + 1))
        n++;
    return n;
}
