/* Per-connection rate limits: a token bucket for messages and one for
 * bytes, refilled by the hub's time (the host's, from room_hub_tick() or
 * room_hub_set_time()), checked before a message is decoded so that a
 * flood costs no parsing. */
#include "internal.h"

static rm_limit *limit_of(room_conn *conn)
{
    return (rm_limit *)(void *)(conn + 1);
}

/* Message tokens are thousandths of a message, so that every millisecond
 * gives whole ones. Byte tokens are the finest fraction of a byte that
 * still holds the burst in 32 bits: a thousandth for bursts up to 4 MB. */
#define MSG_SCALE 1000u

void rm_limit_start(room_hub *hub)
{
    uint32_t burst = hub->cfg.rate_bytes_burst;
    hub->limited = hub->cfg.rate_messages || hub->cfg.rate_bytes;
    /* 0 without a byte limit: messages then need no byte tokens. */
    hub->byte_scale = hub->cfg.rate_bytes ? (UINT32_MAX / burst < 1000 ? UINT32_MAX / burst : 1000) : 0;
}

void rm_limit_init(room_hub *hub, room_conn *conn)
{
    rm_limit *l;
    if (!hub->limited)
        return;
    l = limit_of(conn);
    l->at = (uint32_t)hub->now_ms;
    l->msgs = hub->cfg.rate_messages_burst * MSG_SCALE;
    l->bytes = hub->cfg.rate_bytes_burst * hub->byte_scale;
    l->strikes = 0;
}

/* `tokens` (1/scale each) plus what `rate` per second gives in `ms`, at
 * most `cap`. ms * rate fits 64 bits; it is split at 1000 so that the
 * scale does not overflow it. */
static uint32_t refill(uint32_t tokens, uint32_t ms, uint32_t rate, uint32_t scale, uint32_t cap)
{
    uint64_t r = (uint64_t)ms * rate;
    uint64_t t = tokens + r / 1000 * scale + r % 1000 * scale / 1000;
    return t < cap ? (uint32_t)t : cap;
}

/* Charges one message of `len` bytes: 0, or ROOM_ERATELIMIT (counted, the
 * buckets unchanged: a client that slows down gets through). */
static int take(room_hub *hub, room_conn *conn, size_t len)
{
    const room_config *cfg = &hub->cfg;
    uint32_t now, msgs, bytes, need;
    rm_limit *l;

    if (!hub->limited)
        return 0;
    l = limit_of(conn);
    /* Differences of the low 32 bits are right for 49 days between two
     * messages; a longer silence fills the buckets anyway. */
    now = (uint32_t)hub->now_ms;
    msgs = refill(l->msgs, now - l->at, cfg->rate_messages, MSG_SCALE, cfg->rate_messages_burst * MSG_SCALE);
    bytes = refill(l->bytes, now - l->at, cfg->rate_bytes, hub->byte_scale,
                   cfg->rate_bytes_burst * hub->byte_scale);
    l->at = now;
    l->msgs = msgs;
    l->bytes = bytes;
    /* Attachments may make a message larger than the burst: it passes on a
     * full bucket and empties it. */
    need = (len < cfg->rate_bytes_burst ? (uint32_t)len : cfg->rate_bytes_burst) * hub->byte_scale;
    if ((!cfg->rate_messages || msgs >= MSG_SCALE) && (!cfg->rate_bytes || bytes >= need)) {
        if (cfg->rate_messages)
            l->msgs -= MSG_SCALE;
        l->bytes -= need;
        l->strikes = 0;
        return 0;
    }
    hub->stats.rate_limited++;
    return ROOM_ERATELIMIT;
}

int rm_limit_take(room_hub *hub, room_conn *conn, size_t len)
{
    rm_limit *l;
    if (take(hub, conn, len) == 0)
        return 0;
    /* Dropped, and costs nothing: a client that slows down gets through. */
    l = limit_of(conn);
    room_fail(hub, conn, NULL, ROOM_ERATELIMIT, NULL);
    if (++l->strikes >= hub->cfg.rate_kick_after)
        room_conn_kick(hub, conn, ROOM_CLOSE_POLICY_VIOLATION, "rate limit exceeded");
    return ROOM_ERATELIMIT;
}

int room_conn_rate_take(room_hub *hub, room_conn *conn, size_t len)
{
    if (!hub || !conn)
        return ROOM_EINVAL;
    return take(hub, conn, len);
}
