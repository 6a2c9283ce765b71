/* libroom-redis on libuv: one uv_poll_t per watched descriptor and a
 * repeating timer for room_redis_tick(). */
#include <string.h>

#include "internal.h"
#include "room/redis_uv.h"

typedef struct rr_uv_poll {
    uv_poll_t handle;
    struct rr_uv *owner;
    int fd;
    struct rr_uv_poll *next;
} rr_uv_poll;

/* The glue lives in one allocation the handles' close callbacks free. */
typedef struct rr_uv {
    room_allocator alloc;
    uv_loop_t *loop;
    uv_timer_t timer;
    room_redis *bus;
    rr_uv_poll *polls;
    int open_handles;
} rr_uv;

static void closed(uv_handle_t *h)
{
    rr_uv *uv = h->data;
    if (h != (uv_handle_t *)&uv->timer)
        rr_free(&uv->alloc, h); /* an rr_uv_poll: its handle is first */
    if (--uv->open_handles == 0)
        rr_free(&uv->alloc, uv);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    rr_uv_poll *p = (rr_uv_poll *)h;
    int ev = 0;
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE; /* let hiredis find the error */
    if (events & UV_READABLE)
        ev |= ROOM_REDIS_READABLE;
    if (events & UV_WRITABLE)
        ev |= ROOM_REDIS_WRITABLE;
    room_redis_io(p->owner->bus, p->fd, ev);
}

static void watch(int fd, int events, void *data)
{
    rr_uv *uv = data;
    rr_uv_poll **link, *p;
    int uvev = (events & ROOM_REDIS_READABLE ? UV_READABLE : 0) |
               (events & ROOM_REDIS_WRITABLE ? UV_WRITABLE : 0);
    for (link = &uv->polls; (p = *link) != NULL && p->fd != fd; link = &p->next)
        ;
    if (!events) {
        if (p) {
            *link = p->next;
            uv_poll_stop(&p->handle);
            uv_close((uv_handle_t *)&p->handle, closed);
        }
        return;
    }
    if (!p) {
        if (!(p = rr_malloc(&uv->alloc, sizeof *p)))
            return;
        memset(p, 0, sizeof *p);
        if (uv_poll_init(uv->loop, &p->handle, fd) != 0) {
            rr_free(&uv->alloc, p);
            return;
        }
        /* The server keeps the loop alive, not the cluster link. */
        uv_unref((uv_handle_t *)&p->handle);
        p->handle.data = uv;
        p->owner = uv;
        p->fd = fd;
        p->next = uv->polls;
        uv->polls = p;
        uv->open_handles++;
    }
    uv_poll_start(&p->handle, uvev, on_poll);
}

static void on_timer(uv_timer_t *t)
{
    rr_uv *uv = t->data;
    room_redis_tick(uv->bus, uv_now(uv->loop));
}

int room_redis_uv_new(room_redis **out, uv_loop_t *loop, const room_redis_config *config)
{
    room_redis_config cfg;
    rr_uv *uv;
    int rc;
    if (!out)
        return ROOM_EINVAL;
    *out = NULL;
    if (!loop || !config || room_config_copy(&cfg, sizeof cfg, config, ROOM_REDIS_CONFIG_MIN_SIZE))
        return ROOM_EINVAL;
    rr_allocator_resolve(&cfg.allocator);
    if (!(uv = rr_malloc(&cfg.allocator, sizeof *uv)))
        return ROOM_ENOMEM;
    memset(uv, 0, sizeof *uv);
    uv->alloc = cfg.allocator;
    uv->loop = loop;
    cfg.watch = watch;
    cfg.watch_data = uv;
    if ((rc = room_redis_new(&uv->bus, &cfg)) != 0) {
        rr_free(&uv->alloc, uv);
        return rc;
    }
    uv_timer_init(loop, &uv->timer);
    uv->timer.data = uv;
    uv->open_handles++;
    room_redis_tick(uv->bus, uv_now(loop));
    uv_timer_start(&uv->timer, on_timer, 100, 100);
    uv_unref((uv_handle_t *)&uv->timer);
    *out = uv->bus;
    return 0;
}

void room_redis_uv_free(room_redis *bus)
{
    rr_uv *uv;
    rr_uv_poll *p;
    if (!bus || bus->cfg.watch != watch)
        return;
    uv = bus->cfg.watch_data;
    /* The bus stops watching its descriptors (closing those polls). */
    room_redis_free(bus);
    while ((p = uv->polls) != NULL) {
        uv->polls = p->next;
        uv_close((uv_handle_t *)&p->handle, closed);
    }
    uv_timer_stop(&uv->timer);
    uv_close((uv_handle_t *)&uv->timer, closed);
    /* Runs the close callbacks, which free the glue. */
    uv_run(uv->loop, UV_RUN_NOWAIT);
}
