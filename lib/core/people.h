/* Identity, presence and typing (identity.c, presence.c, typing.c): the
 * core's private view. All of it hangs off hub->people, allocated on the
 * first room_conn_set_user() or room_presence_enable(), so a hub that uses
 * none of it pays one pointer. */
#ifndef ROOM_PEOPLE_H
#define ROOM_PEOPLE_H

#include "internal.h"
#include "room/presence.h"

/* A user id with the connections speaking for it, hub-wide. */
typedef struct rm_user {
    room_conn **conns;
    uint32_t nconns, cap;
    uint32_t hash;
    char id[];
} rm_user;

/* A connection's user, in a table keyed by the connection's id (a
 * connection has no room for a pointer: it stays 72 bytes). */
typedef struct rm_cuser {
    room_conn *conn;
    rm_user *user;
    uint32_t slot; /* index in user->conns */
    uint32_t hash; /* conn->id_hash */
    char *name, *role;
    json_t *meta;
    char id[ROOM_CONN_ID_LEN + 1];
} rm_cuser;

/* A connection in a room's presence. */
typedef struct rm_pconn {
    room_conn *conn;
    /* The room's change count (rm_proom.seq) when it got its state: a diff
     * of no later change is nothing new to it. 0: never. */
    uint32_t seen;
    bool fresh; /* joined since the last flush: gets the full state then */
} rm_pconn;

/* A user present in one room. */
typedef struct rm_pmember {
    rm_pconn *conns; /* its connections in the room */
    uint32_t nconns, cap;
    uint32_t hash;
    bool announced;    /* the members were told it is here (a flush sent its join) */
    bool queued;       /* in the room's pending joins */
    json_t *state;     /* an object */
    json_t *info;      /* from the join authorization, or NULL */
    json_t *entry;     /* what members see */
    /* Other nodes' connections of this user here (remote_presence.c):
     * the member stays while it has any, local or remote. */
    struct rm_premote *remote;
    uint32_t nremote, capremote;
    uint32_t rconns;   /* their sum */
    bool rtyping;      /* typing on another node */
    /* `"id":{..}`, the entry as the wire shows it (compact JSON, no "id"
     * inside, no empty state), what states and diffs are made of
     * (presence_wire.c); NULL until a frame needs it, dropped when the
     * entry changes. */
    char *enc;
    size_t enc_len;
    struct rm_pmember *qprev, *qnext; /* rm_proom.joins */
    /* Typing: the connection that typed last, NULL when not typing. */
    room_conn *typist;
    uint64_t typing_until;
    struct rm_pmember *tprev, *tnext; /* people->typing list */
    struct rm_proom *room;
    char id[];
} rm_pmember;

/* A connection waiting for its room's full state. */
typedef struct rm_fresh {
    rm_pmember *member;
    room_conn *conn;
} rm_fresh;

typedef struct rm_proom {
    rm_table members; /* rm_pmember by user id */
    uint32_t nconns;
    uint32_t rconns; /* on other nodes */
    /* The connections waiting for the full state: a tick whose diff is held
     * back (diff_ms) visits them, not every member. */
    rm_fresh *fresh;
    uint32_t nfresh, fresh_cap;
    uint32_t hash;
    uint32_t seq;     /* user changes so far, from 1 (0 is "never") */
    /* Hub time from which the next diff may go (diff_ms, diff_budget);
     * diffs sent early, once settled, push it on by a spacing each. */
    uint64_t diff_at;
    uint64_t changed_at; /* the last flush that took changes (a diff settles diff_ms after it) */
    bool changed;     /* changes since the last flush */
    /* The pending diff: members whose entry is to be shown (a list through
     * qprev/qnext), and the ids (JSON strings, comma-joined) of those that
     * left. */
    rm_pmember *joins;
    room_buf leaves;
    /* Every member's encoded entry joined by commas, grown as users join,
     * so that a joiner's state costs a copy; stale after a leave or an
     * entry change (or while no state is sent), rebuilt at the next state. */
    room_buf body;
    uint32_t body_count; /* members in it: a member added any other way makes it stale */
    bool body_stale;
    struct rm_proom *next_dirty;
    bool dirty;
    char name[];
} rm_proom;

/* How the hub's codec writes one event: the bytes before and after its
 * one argument's JSON text, learnt once per event name, so that a state or
 * diff written as text goes between them. `ok` false: this codec does not
 * write the argument as its JSON text (a binary codec, a length prefix);
 * such frames are parsed back and encoded through jansson. */
typedef struct rm_splice {
    uint8_t *bytes; /* prefix, then suffix */
    size_t pre, post;
    bool ok;
} rm_splice;

typedef struct rm_people {
    rm_table users;    /* rm_user by id */
    rm_table by_conn;  /* rm_cuser by connection id */
    bool enabled;      /* room_presence_enable() was called */
    room_presence_config cfg; /* strings below are the copies */
    char *events[4];   /* state, diff, typing, stop_typing */
    rm_splice splice[2]; /* of events[0] and events[1] */
    rm_table rooms;    /* rm_proom by name */
    rm_proom *dirty;   /* rooms with a pending diff */
    rm_pmember *typing; /* members typing */
    uint64_t diff_due;  /* set by a flush: the earliest diff it held back, or UINT64_MAX */
    uint32_t busy;     /* callbacks running: presence changes refused */
} rm_people;

enum {
    RM_CONN_USER = 1u << 4,    /* has an rm_cuser */
    RM_CONN_PRESENT = 1u << 5, /* entered a presence room at some point */
};

rm_people *rm_people_get(room_hub *hub);
void rm_people_free(room_hub *hub);
rm_cuser *rm_cuser_of(const room_hub *hub, const room_conn *conn);
/* The key a connection is present under: its user's id, else its own id. */
const char *rm_user_key(const room_hub *hub, const room_conn *conn);
/* A connection with RM_CONN_USER is freed. */
void rm_identity_forget(room_hub *hub, room_conn *conn);
/* A connection with RM_CONN_PRESENT left `room` (already unlinked from
 * it; the room still exists), or is closing (every room). */
void rm_presence_left(room_hub *hub, room_conn *conn, const char *room, uint32_t room_hash);
void rm_presence_drop(room_hub *hub, room_conn *conn);
/* Flushes diffs and expires typing; the next typing deadline (ms from
 * now) or -1. */
int64_t rm_presence_tick(room_hub *hub, uint64_t now_ms);
rm_proom *rm_proom_find(const rm_people *p, const char *room, uint32_t hash);
/* A room's presence, empty, not yet in p->rooms; NULL out of memory. Every
 * presence room is made here: its buffers and counters start right. */
rm_proom *rm_proom_new(room_hub *hub, const char *room, size_t len, uint32_t hash);
rm_pmember *rm_pmember_find(const room_hub *hub, const rm_proom *r, const char *key);
/* Runs the change callback and the adapter hook. */
void rm_presence_notify(room_hub *hub, rm_pmember *m, room_presence_change change, room_conn *conn);
/* Typing of `m` stops (expiry, leave): tells the others. */
void rm_typing_end(room_hub *hub, rm_pmember *m, room_conn *conn);
/* A node's connections of a member (remote_presence.c). */
typedef struct rm_premote {
    char node[32];
    uint32_t conns;
    bool stale; /* not in the node's full snapshot being applied (yet) */
} rm_premote;
/* presence.c's pieces that remote_presence.c shares. */
void rm_presence_queue_join(room_hub *hub, rm_pmember *m);
void rm_presence_queue_leave(room_hub *hub, rm_pmember *m);
void rm_presence_member_free(room_hub *hub, rm_pmember *m);
void rm_presence_room_free(room_hub *hub, rm_proom *r);
void rm_presence_room_maybe_free(room_hub *hub, rm_proom *r);
/* presence_wire.c: the frames of states and diffs, written from the
 * members' encoded entries. */
/* Learns how the codec writes `event` (NULL: forgets). ROOM_ENOMEM leaves
 * `s` as it was. */
int rm_splice_learn(room_hub *hub, rm_splice *s, const char *event);
void rm_splice_free(room_hub *hub, rm_splice *s);
/* m->enc, encoded now if missing: 0 or ROOM_ENOMEM. */
int rm_pmember_encode(room_hub *hub, rm_pmember *m);
/* m's entry changed: its encoding and the room's body are out of date. */
void rm_pmember_changed(room_hub *hub, rm_pmember *m);
/* A new member (every one, local or from another node): appended to the
 * room's body while that is current. An entry that changes in any way
 * goes through rm_pmember_changed(). */
void rm_pwire_add(room_hub *hub, rm_pmember *m);
/* A member that members were shown leaves: its id goes into the pending
 * leaves (lost out of memory, as a diff is). */
void rm_pwire_leave(rm_pmember *m);
/* The room's state and diff frames, NULL out of memory. */
room_frame *rm_pwire_state(room_hub *hub, rm_proom *r);
room_frame *rm_pwire_diff(room_hub *hub, rm_proom *r);
void rm_pwire_room_free(room_hub *hub, rm_proom *r);

/* Encodes `event` with `payload` once and delivers it to the room's members
 * whose key is not `skip_key` (NULL: all). */
int rm_presence_send(room_hub *hub, const char *room, const char *event, json_t *payload,
                     const char *skip_key);

#endif
