/* Presence frames written as text. Each member keeps its wire entry
 * encoded (`"id":{...}` without the id inside and without an empty state,
 * from its jansson entry once per change), a room keeps its
 * members' encodings joined by commas (grown as users join), and a state
 * or a diff is that text put between the bytes the hub's codec writes
 * around an event's argument. A state for 10 000 members is then a copy of
 * their text, not 10 000 jansson inserts and a dump. */
#include "people.h"

/* Two strings the codec writes as arguments: where the first lands is
 * where a payload's text goes; the second, of another length, shows that
 * nothing else in the output depends on the argument. */
static const char mark_a[] = "\"room-presence-splice\"";
static const char mark_b[] = "\"room-presence-splice-length-check\"";

static int encode_mark(room_hub *hub, room_buf *b, const char *event, const char *quoted, size_t qlen)
{
    json_t *arg = json_stringn(quoted + 1, qlen - 2);
    int rc;
    if (!arg)
        return ROOM_ENOMEM;
    rc = hub->codec.encode_event(hub->cfg.codec, b, event, &arg, 1, -1, 0);
    json_decref(arg);
    return rc;
}

/* Where `needle` last occurs in `hay`, or -1: the argument is the last
 * thing the codec writes but for closing bytes. */
static long last_of(const room_buf *hay, const char *needle, size_t n)
{
    for (size_t i = hay->len >= n ? hay->len - n + 1 : 0; i-- > 0;) {
        if (memcmp(hay->data + i, needle, n) == 0)
            return (long)i;
    }
    return -1;
}

void rm_splice_free(room_hub *hub, rm_splice *s)
{
    if (s->bytes)
        rm_free(&hub->alloc, s->bytes, s->pre + s->post);
    *s = (rm_splice){NULL, 0, 0, false};
}

int rm_splice_learn(room_hub *hub, rm_splice *s, const char *event)
{
    const size_t na = sizeof mark_a - 1, nb = sizeof mark_b - 1;
    rm_splice next = {NULL, 0, 0, false};
    room_buf a, b;
    long at = -1;
    int rc = 0;
    if (!event) {
        rm_splice_free(hub, s);
        return 0;
    }
    rm_buf_init(&a, &hub->alloc);
    rm_buf_init(&b, &hub->alloc);
    if ((rc = encode_mark(hub, &a, event, mark_a, na)) == 0 &&
        (rc = encode_mark(hub, &b, event, mark_b, nb)) == 0)
        at = last_of(&a, mark_a, na);
    if (at >= 0) {
        next.pre = (size_t)at;
        next.post = a.len - next.pre - na;
        next.ok = b.len == next.pre + nb + next.post && memcmp(b.data, a.data, next.pre) == 0 &&
                  memcmp(b.data + next.pre, mark_b, nb) == 0 &&
                  memcmp(b.data + next.pre + nb, a.data + next.pre + na, next.post) == 0;
    }
    if (next.ok && next.pre + next.post) {
        if ((next.bytes = rm_malloc(&hub->alloc, next.pre + next.post)) != NULL) {
            memcpy(next.bytes, a.data, next.pre);
            memcpy(next.bytes + next.pre, a.data + next.pre + na, next.post);
        } else {
            rc = ROOM_ENOMEM;
        }
    }
    rm_buf_release(&a);
    rm_buf_release(&b);
    if (rc == ROOM_ENOMEM)
        return rc;
    /* A codec that refuses the event fails its frames later, as before. */
    if (!next.ok)
        next = (rm_splice){NULL, 0, 0, false};
    rm_splice_free(hub, s);
    *s = next;
    return 0;
}

int rm_pmember_encode(room_hub *hub, rm_pmember *m)
{
    room_buf *b = &hub->scratch;
    const char *k;
    json_t *v;
    bool first = true;
    if (m->enc)
        return 0;
    b->len = 0;
    if (rm_buf_append_json_stringn(b, m->id, strlen(m->id)) || rm_buf_put(b, ":{", 2))
        return ROOM_ENOMEM;
    /* The wire entry leaves out what the client has already: the id is its
     * key, and an empty state is the default. Most members in a large room
     * are then `"u1234":{}`, a third of the full entry's bytes. */
    json_object_foreach(m->entry, k, v) {
        if (strcmp(k, "id") == 0 || (strcmp(k, "state") == 0 && json_object_size(v) == 0))
            continue;
        if ((!first && rm_buf_put(b, ",", 1)) || rm_buf_append_json_stringn(b, k, strlen(k)) ||
            rm_buf_put(b, ":", 1) || room_buf_append_json(b, v))
            return ROOM_ENOMEM;
        first = false;
    }
    if (rm_buf_put(b, "}", 1) || !(m->enc = rm_malloc(&hub->alloc, b->len)))
        return ROOM_ENOMEM;
    memcpy(m->enc, b->data, b->len);
    m->enc_len = b->len;
    return 0;
}

void rm_pmember_changed(room_hub *hub, rm_pmember *m)
{
    if (m->enc)
        rm_free(&hub->alloc, m->enc, m->enc_len);
    m->enc = NULL;
    m->enc_len = 0;
    m->room->body_stale = true;
}

/* Appends `m`'s entry to a comma-joined list; on failure `b` is unchanged. */
static int append_entry(room_hub *hub, room_buf *b, rm_pmember *m)
{
    size_t before = b->len;
    if (rm_pmember_encode(hub, m) || (b->len && rm_buf_put(b, ",", 1)) ||
        rm_buf_put(b, m->enc, m->enc_len)) {
        b->len = before;
        return ROOM_ENOMEM;
    }
    return 0;
}

void rm_pwire_add(room_hub *hub, rm_pmember *m)
{
    rm_proom *r = m->room;
    /* Without a state event nothing reads the body: it is rebuilt if one
     * is set later. */
    if (!r->body_stale && (!hub->people->events[0] || append_entry(hub, &r->body, m)))
        r->body_stale = true;
    r->body_count++;
}

void rm_pwire_leave(rm_pmember *m)
{
    room_buf *b = &m->room->leaves;
    size_t before = b->len;
    /* A leave is its id: clients drop the key, whatever the entry was. */
    if ((b->len && rm_buf_put(b, ",", 1)) || rm_buf_append_json_stringn(b, m->id, strlen(m->id)))
        b->len = before;
}

static int rebuild(room_hub *hub, rm_proom *r)
{
    r->body.len = 0;
    for (uint32_t i = 0; i < r->members.cap; i++) {
        rm_pmember *m = r->members.slots[i];
        if (m && append_entry(hub, &r->body, m))
            return ROOM_ENOMEM;
    }
    r->body_count = r->members.count;
    r->body_stale = false;
    return 0;
}

/* The codec's bytes before the argument and `{"room":<name>,` into `b`,
 * sized for `more` bytes after them. */
static int open_payload(room_hub *hub, room_buf *b, const rm_splice *s, const rm_proom *r, size_t more)
{
    /* Escaping makes a byte at most 6 ("\u00XX"). */
    size_t need = s->pre + s->post + 32 + 6 * strlen(r->name) + more;
    rm_buf_init(b, &hub->alloc);
    if (!(b->data = rm_malloc(&hub->alloc, need)))
        return ROOM_ENOMEM;
    b->cap = need;
    if (rm_buf_put(b, s->bytes, s->pre) || rm_buf_put(b, "{\"room\":", 8) ||
        rm_buf_append_json_stringn(b, r->name, strlen(r->name)) || rm_buf_put(b, ",", 1))
        return ROOM_ENOMEM;
    return 0;
}

/* The frame of `b`, released. A codec that does not write the argument as
 * its text gets it parsed back and encoded as any payload. */
static room_frame *close_payload(room_hub *hub, room_buf *b, const rm_splice *s, const char *event)
{
    room_frame *f = NULL;
    json_t *payload;
    if (s->ok) {
        if (rm_buf_put(b, s->bytes + s->pre, s->post) == 0)
            f = rm_frame_make(hub, ROOM_FRAME_TEXT, b->data, b->len);
    } else if (room_json_load(b->data, b->len, 0, &payload) == 0) {
        if (rm_frame_encode(hub, event, &payload, 1, -1, NULL, 0, &f))
            f = NULL;
        json_decref(payload);
    }
    rm_buf_release(b);
    return f;
}

room_frame *rm_pwire_state(room_hub *hub, rm_proom *r)
{
    rm_people *p = hub->people;
    room_buf b;
    if ((r->body_stale || r->body_count != r->members.count) && rebuild(hub, r))
        return NULL;
    if (open_payload(hub, &b, &p->splice[0], r, 16 + r->body.len) ||
        rm_buf_put(&b, "\"members\":{", 11) || rm_buf_put(&b, r->body.data, r->body.len) ||
        rm_buf_put(&b, "}}", 2)) {
        rm_buf_release(&b);
        return NULL;
    }
    return close_payload(hub, &b, &p->splice[0], p->events[0]);
}

room_frame *rm_pwire_diff(room_hub *hub, rm_proom *r)
{
    rm_people *p = hub->people;
    size_t more = 32 + r->leaves.len;
    room_buf b;
    for (rm_pmember *m = r->joins; m; m = m->qnext) {
        if (rm_pmember_encode(hub, m))
            return NULL;
        more += m->enc_len + 1;
    }
    if (open_payload(hub, &b, &p->splice[1], r, more) || rm_buf_put(&b, "\"joins\":{", 9))
        goto fail;
    for (rm_pmember *m = r->joins; m; m = m->qnext) {
        if ((m != r->joins && rm_buf_put(&b, ",", 1)) || rm_buf_put(&b, m->enc, m->enc_len))
            goto fail;
    }
    if (rm_buf_put(&b, "},\"leaves\":[", 12) || rm_buf_put(&b, r->leaves.data, r->leaves.len) ||
        rm_buf_put(&b, "]}", 2))
        goto fail;
    return close_payload(hub, &b, &p->splice[1], p->events[1]);
fail:
    rm_buf_release(&b);
    return NULL;
}

void rm_pwire_room_free(room_hub *hub, rm_proom *r)
{
    (void)hub;
    rm_buf_release(&r->leaves);
    rm_buf_release(&r->body);
}
