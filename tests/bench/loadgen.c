/*
 * loadgen: WebSocket + Socket.IO v4 load generator for the libroom bench.
 *
 * One process, one epoll loop, non-blocking sockets, thousands of
 * connections. It speaks just enough RFC 6455 (client side) and Engine.IO /
 * Socket.IO v4 to drive the bench protocol that `roomd --protocol bench` and
 * tests/bench/node/server.js both implement:
 *
 *   client -> 42["join","<room>"]
 *   client -> 42["send","<room>","<payload>"]
 *   server -> 42["msg","<payload>"]   to every member of <room>, sender too
 *
 * A run goes through these phases:
 *   connect  at most --concurrency handshakes in flight; each client joins
 *            its room as soon as Socket.IO has accepted it. Join has no ack,
 *            so each room is then probed (a member sends "p" to it) until
 *            every member has seen a probe: only then is a client counted
 *            as joined, and no measured message can miss a late join.
 *   send     senders keep up to --inflight of their own messages
 *            outstanding (optionally paced by --rate); ends when every
 *            expected delivery arrived or nothing happened for STALL_NS.
 *   idle     (--idle) print READY, hold the connections, answer pings.
 *   drain    slow clients (--slow) read again, to learn what the server did
 *            with them while they were not reading.
 *
 * --presence drives `roomd --protocol rooms --presence` instead: every
 * client connects as user u<i> (CONNECT auth {"userId"}), joins room r0,
 * and keeps the member list from its `presence` snapshot and the
 * `presence-diff` frames that follow (leaves first, then joins; a bitmap of
 * user ids, read from the members' keys and the leaves' ids; a frame
 * byte-identical to one parsed before, as the server's shared frames are,
 * is applied from that parse, see struct pframe). A client counts as
 * joined once its list holds exactly every user. Then (after
 * --idle, if given) all but client 0 send `leave`, and the run ends when
 * client 0's list is down to itself.
 *
 * Payloads carry "t=<monotonic ns>;s=<sender id>;", padded with 'x', so a
 * delivery's latency and whether it is a sender's own echo come straight
 * from the frame without a JSON parser.
 *
 * --transport polling speaks Engine.IO v4 HTTP long-polling instead, as the
 * stock client does with transports: ['polling']: per client one GET always
 * pending on its own keep-alive connection, and POSTs on a second one, one
 * at a time, each carrying every packet queued meanwhile joined by \x1e.
 */
#define _GNU_SOURCE /* memmem() */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL
/* Socket.IO's default maxHttpBufferSize is 1e6: stay well below it. */
#define MAX_SIZE (512u * 1024u)
/* The bench never needs more; a larger header means a lost frame boundary. */
#define MAX_FRAME (16u << 20)
#define READ_CHUNK (256u * 1024u)
/* A phase that makes no progress for this long is over. */
#define STALL_NS (3 * NS_PER_S)
/* --presence: a server sending every joiner the whole member list can be
 * silent for seconds in a burst, busy, not stalled; --timeout still bounds it. */
#define PRESENCE_STALL_NS (30 * NS_PER_S)
#define PROBE_EVERY_NS (200 * NS_PER_MS)
#define MAX_EVENTS 1024
#define MAX_HTTP_RESPONSE 8192
#define MAX_LOGGED_ERRORS 5

/* The RFC 6455 sample nonce and its accept value: a server cannot tell a
 * fixed nonce from a random one, and a known pair lets us check the accept
 * header exactly without carrying SHA-1 in a test tool. */
static const char WS_KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char WS_ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

enum state { S_NEW, S_TCP, S_UPGRADE, S_EIO, S_SIO, S_JOINING, S_READY, S_DEAD, S_COUNT };
enum phase { P_CONNECT, P_SEND, P_IDLE, P_DRAIN, P_LEAVE, P_DONE };
enum how { H_CLOSE_FRAME, H_EOF, H_RESET, H_ERROR, H_EIO_CLOSE, H_SIO_DISCONNECT, H_PROTOCOL };
static const char *const how_names[] = {"close-frame",    "eof",        "reset",   "error",
                                        "eio-close",      "sio-disconnect", "protocol"};

struct buf {
	char *p;
	size_t len, cap;
};

/* One TCP connection of a client. */
struct conn {
	int fd;
	uint32_t events; /* what epoll currently watches */
	bool connecting;
	struct buf in;  /* an incomplete frame or response left over from the last read */
	struct buf out; /* bytes the socket did not take yet */
};

struct client {
	uint32_t id, room;
	uint8_t state;
	bool sender, slow, paused, fragmented;
	bool posting; /* polling: a POST is in flight */
	uint32_t sent, outstanding;
	int64_t t_start;
	struct conn w;   /* the WebSocket, or polling's GET connection */
	struct conn p;   /* polling's POST connection */
	struct buf frag; /* a fragmented text message being assembled */
	struct buf q;    /* polling: packets for the next POST */
	char sid[32];    /* polling: the Engine.IO session id */
	/* --presence: the users this client believes are in the room. */
	uint64_t *seen;  /* a bit per user id */
	uint32_t members, pframes;
};

struct room {
	uint32_t unjoined, joining; /* while connecting */
	uint32_t fast, slow;        /* joined members, when sending starts */
	int64_t prober, t_probe;
};

/* Log-linear histogram of nanoseconds: exact below 64, then 32 buckets per
 * power of two (about 3% resolution), a fixed 15 KiB whatever the count. */
#define H_SUB 32
#define H_BUCKETS (60 * H_SUB)
struct hist {
	uint64_t n, max;
	uint64_t b[H_BUCKETS];
};

/* How the first client of a class (slow or not) that lost its connection
 * after joining lost it, and how many did. */
struct ends {
	uint64_t n;
	int how;
	unsigned code;
	char reason[64];
};

struct opts {
	struct sockaddr_in addr;
	/* --port P1,P2,...: client i connects to ports[i % nports] (a cluster). */
	uint16_t ports[8];
	unsigned nports;
	uint32_t clients, rooms, senders, messages, size, inflight, slow, concurrency;
	double rate, idle, timeout;
	bool connect_only, polling, presence;
	char host[32]; /* the Host header: "127.0.0.1:port" */
};

static struct {
	struct opts o;
	int ep;
	struct client *c;
	struct room *rooms;
	char *rbuf, *pkt, *tx;
	size_t pkt_cap, tx_cap;
	enum phase phase;
	uint32_t count[S_COUNT];
	uint32_t started, rr, xs;
	int64_t t0, deadline, t_progress, t_scan, t_connected, t_send, t_sent, t_last, t_idle_end;
	int64_t cpu0, cpu_connected, cpu_send, cpu_sent;
	uint64_t connect_errors, join_errors, protocol_errors, ready_ever;
	uint64_t deliveries, expected, slow_deliveries, slow_expected, sent_total;
	bool timed_out;
	/* --presence */
	uint64_t pframes, pbytes, bad_ids, other_frames;
	uint32_t snapshots; /* clients that got their snapshot */
	int64_t t_snapshots; /* when the last did */
	int64_t t_leave, t_left;
	struct hist lat, handshake;
	struct ends fast_end, slow_end;
} g;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * NS_PER_S +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* xorshift32: WebSocket mask keys only need to vary, not be secret here. */
static uint32_t rnd(void)
{
	g.xs ^= g.xs << 13;
	g.xs ^= g.xs >> 17;
	g.xs ^= g.xs << 5;
	return g.xs;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("out of memory");
	return p;
}

/* Room for n more bytes. */
static void buf_reserve(struct buf *b, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
}

static void buf_append(struct buf *b, const void *d, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void buf_consume(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	/* Give back what a burst made a buffer grow to: 10k clients add up. */
	if (b->len == 0 && b->cap > 64 * 1024) {
		free(b->p);
		*b = (struct buf){0};
	}
}

static size_t hist_bucket(uint64_t v)
{
	if (v < 2 * H_SUB)
		return (size_t)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	return (size_t)(e - 4) * H_SUB + ((v >> (e - 5)) & (H_SUB - 1));
}

/* The middle of bucket i, in the histogram's unit. */
static uint64_t hist_value(size_t i)
{
	if (i < 2 * H_SUB)
		return i;
	unsigned e = (unsigned)(i / H_SUB) + 4;
	uint64_t lo = (uint64_t)(H_SUB + i % H_SUB) << (e - 5);
	return lo + ((1ull << (e - 5)) >> 1);
}

static void hist_add(struct hist *h, int64_t v)
{
	uint64_t u = v > 0 ? (uint64_t)v : 0;
	h->b[hist_bucket(u)]++;
	h->n++;
	if (u > h->max)
		h->max = u;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
	if (h->n == 0)
		return 0;
	uint64_t want = (uint64_t)(p * (double)h->n + 0.999999), seen = 0;
	for (size_t i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want)
			return hist_value(i) < h->max ? hist_value(i) : h->max;
	}
	return h->max;
}

static void set_state(struct client *c, enum state s)
{
	g.count[c->state]--;
	g.count[s]++;
	c->state = (uint8_t)s;
	g.t_progress = now_ns();
}

static uint32_t handshaking(void)
{
	return g.count[S_TCP] + g.count[S_UPGRADE] + g.count[S_EIO] + g.count[S_SIO];
}

/* epoll's key for a connection: the client, and which of its two. */
static uint64_t conn_key(const struct client *c, const struct conn *k)
{
	return (uint64_t)c->id | (uint64_t)(k == &c->p) << 32;
}

static void watch(struct client *c, struct conn *k)
{
	uint32_t ev = (c->paused ? 0 : EPOLLIN) | (k->out.len || k->connecting ? EPOLLOUT : 0);
	if (ev == k->events)
		return;
	struct epoll_event e = {.events = ev, .data.u64 = conn_key(c, k)};
	if (epoll_ctl(g.ep, EPOLL_CTL_MOD, k->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	k->events = ev;
}

static void proto_error(struct client *c, const char *what, const char *data, size_t len)
{
	if (g.protocol_errors++ < MAX_LOGGED_ERRORS)
		fprintf(stderr, "loadgen: client %u: %s: %.*s\n", c->id, what, (int)(len > 80 ? 80 : len),
		        data ? data : "");
}

/* Keeps a reason printable as one key=value token. */
static void copy_reason(char *dst, size_t cap, const char *src, size_t len)
{
	size_t n = 0;
	for (; n < len && n + 1 < cap; n++) {
		char ch = src[n];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		          ch == '.' || ch == '-' || ch == '_';
		dst[n] = ok ? ch : '_';
	}
	dst[n] = '\0';
}

/* Closes a client's connection and records why. Buffers stay allocated until
 * exit because the caller may still be parsing out of them. */
static void client_end(struct client *c, enum how how, unsigned code, const char *reason, size_t rlen)
{
	if (c->state == S_DEAD)
		return;
	if (c->state <= S_UPGRADE) {
		g.connect_errors++;
	} else if (c->state < S_READY) {
		g.join_errors++;
	} else {
		struct ends *e = c->slow ? &g.slow_end : &g.fast_end;
		if (e->n++ == 0) {
			e->how = how;
			e->code = code;
			copy_reason(e->reason, sizeof e->reason, reason ? reason : "", reason ? rlen : 0);
		}
	}
	for (struct conn *k = &c->w; k; k = k == &c->w ? &c->p : NULL) {
		if (k->fd >= 0)
			close(k->fd);
		k->fd = -1;
	}
	set_state(c, S_DEAD);
}

static void conn_write(struct client *c, struct conn *k, const void *p, size_t n)
{
	if (c->state == S_DEAD)
		return;
	if (k->out.len == 0 && !k->connecting) {
		ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			client_end(c, errno == ECONNRESET || errno == EPIPE ? H_RESET : H_ERROR, 0, NULL, 0);
			return;
		}
		size_t done = w > 0 ? (size_t)w : 0;
		if (done == n)
			return;
		p = (const char *)p + done;
		n -= done;
	}
	buf_append(&k->out, p, n);
	watch(c, k);
}

static void conn_flush(struct client *c, struct conn *k)
{
	ssize_t w = send(k->fd, k->out.p, k->out.len, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_end(c, errno == ECONNRESET || errno == EPIPE ? H_RESET : H_ERROR, 0, NULL, 0);
		return;
	}
	buf_consume(&k->out, (size_t)w);
	watch(c, k);
}

/* Sends one masked client frame (RFC 6455 section 5.2). */
static void ws_send(struct client *c, unsigned opcode, const char *data, size_t len)
{
	uint8_t *f = (uint8_t *)g.tx;
	size_t h = 0;
	f[h++] = (uint8_t)(0x80u | opcode);
	if (len < 126) {
		f[h++] = (uint8_t)(0x80u | len);
	} else if (len <= 0xffff) {
		f[h++] = 0x80u | 126u;
		f[h++] = (uint8_t)(len >> 8);
		f[h++] = (uint8_t)len;
	} else {
		f[h++] = 0x80u | 127u;
		for (int i = 7; i >= 0; i--)
			f[h++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	uint32_t key = rnd();
	uint8_t m[4] = {(uint8_t)(key >> 24), (uint8_t)(key >> 16), (uint8_t)(key >> 8), (uint8_t)key};
	memcpy(f + h, m, 4);
	h += 4;
	for (size_t i = 0; i < len; i++)
		f[h + i] = (uint8_t)data[i] ^ m[i & 3];
	conn_write(c, &c->w, f, h + len);
}

/* Polling: the largest POST body; engine.io's default maxHttpBufferSize is 1e6. */
#define MAX_POST (900u * 1024u)

/* Polling: POSTs what is queued, up to MAX_POST cut at a packet boundary. */
static void poll_post(struct client *c)
{
	size_t len = c->q.len;
	if (len > MAX_POST) {
		const char *cut = NULL;
		for (const char *p = c->q.p; p < c->q.p + MAX_POST; p++)
			if (*p == '\x1e')
				cut = p;
		len = cut ? (size_t)(cut - c->q.p) : c->q.len;
	}
	int n = snprintf(g.tx, g.tx_cap,
	                 "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
	                 "Host: %s\r\n"
	                 "Content-Type: text/plain;charset=UTF-8\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 c->sid, g.o.host, len);
	if ((size_t)n + len <= g.tx_cap) { /* one segment, one syscall */
		memcpy(g.tx + n, c->q.p, len);
		conn_write(c, &c->p, g.tx, (size_t)n + len);
	} else {
		conn_write(c, &c->p, g.tx, (size_t)n);
		conn_write(c, &c->p, c->q.p, len);
	}
	buf_consume(&c->q, len < c->q.len ? len + 1 : len);
	c->posting = true;
}

/* Polling: the next long-poll GET (the handshake while there is no sid). */
static void poll_get(struct client *c)
{
	char req[256];
	int n = snprintf(req, sizeof req, "GET /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\nHost: %s\r\n\r\n",
	                 c->sid[0] ? "&sid=" : "", c->sid, g.o.host);
	conn_write(c, &c->w, req, (size_t)n);
}

/* One Engine.IO packet to the server, on either transport. */
static void ws_text(struct client *c, const char *s, size_t len)
{
	if (!g.o.polling) {
		ws_send(c, 0x1, s, len);
		return;
	}
	if (c->q.len)
		buf_append(&c->q, "\x1e", 1);
	buf_append(&c->q, s, len);
	if (!c->posting)
		poll_post(c);
}

static void emit_join(struct client *c)
{
	int n = snprintf(g.pkt, g.pkt_cap, "42[\"join\",\"r%" PRIu32 "\"]", c->room);
	ws_text(c, g.pkt, (size_t)n);
}

static void emit_probe(struct client *c)
{
	int n = snprintf(g.pkt, g.pkt_cap, "42[\"send\",\"r%" PRIu32 "\",\"p\"]", c->room);
	ws_text(c, g.pkt, (size_t)n);
}

static void emit_message(struct client *c)
{
	int pre = snprintf(g.pkt, g.pkt_cap, "42[\"send\",\"r%" PRIu32 "\",\"", c->room);
	int stamp = snprintf(g.pkt + pre, g.pkt_cap - (size_t)pre, "t=%" PRId64 ";s=%" PRIu32 ";", now_ns(), c->id);
	size_t body = (size_t)stamp;
	if (body < g.o.size) {
		memset(g.pkt + pre + stamp, 'x', g.o.size - body);
		body = g.o.size;
	}
	memcpy(g.pkt + (size_t)pre + body, "\"]", 2);
	ws_text(c, g.pkt, (size_t)pre + body + 2);
	c->sent++;
	c->outstanding++;
	g.sent_total++;
	g.t_progress = now_ns();
}

static bool can_send(const struct client *c)
{
	return c->state == S_READY && c->sent < g.o.messages && c->outstanding < g.o.inflight;
}

static void sender_fill(struct client *c)
{
	while (can_send(c))
		emit_message(c);
}

/* Skips the JSON whitespace a server may put between array elements. */
static const char *skip_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *parse_u64(const char *p, const char *e, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = p;
	while (p < e && *p >= '0' && *p <= '9' && p - start < 19)
		v = v * 10 + (uint64_t)(*p++ - '0');
	*out = v;
	return p > start ? p : NULL;
}

/* Past the JSON object at p (a member's entry: the bench's are `{}`, but
 * strings and nesting are followed), or NULL if none ends in [p, e). */
static const char *skip_object(const char *p, const char *e)
{
	int depth = 0;
	bool str = false;
	if (p >= e || *p != '{')
		return NULL;
	for (; p < e; p++) {
		if (str) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				str = false;
		} else if (*p == '"') {
			str = true;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if ((*p == '}' || *p == ']') && --depth == 0) {
			return p + 1;
		}
	}
	return NULL;
}

/* The user id "u<n>" at p (n below --clients): past its closing quote, or
 * NULL. */
static const char *user_id(const char *p, const char *e, uint64_t *id)
{
	const char *q;
	if (e - p < 3 || p[0] != '"' || p[1] != 'u')
		return NULL;
	q = parse_u64(p + 2, e, id);
	return q && q < e && *q == '"' && *id < g.o.clients ? q + 1 : NULL;
}

/* --presence: what one presence frame says, parsed once: the users it adds
 * (a snapshot's members, a diff's joins) and removes (a diff's leaves), as
 * bitmaps of 64-bit words. A snapshot or diff is one frame the server
 * shares by many clients; a frame byte-identical (memcmp, the whole frame)
 * to one parsed before has the same meaning and is applied from its parse,
 * so each frame's every entry is still checked, and every client's list is
 * still built from the bytes it received. */
struct pframe {
	char *bytes;
	size_t len, cap;
	bool snapshot;
	uint64_t *add, *del;
	uint32_t lo, hi;  /* the words of add and del that may be non-zero */
	uint32_t members; /* a snapshot's: the bits in add */
	uint64_t bad;     /* bad ids met in it: counted again at each use */
	uint64_t used;    /* for the choice of the entry to replace */
};
#define PCACHE 8

static struct {
	struct pframe f[PCACHE];
	uint32_t words;
	uint64_t clock, parsed, reused;
	bool off; /* --parse-all */
} pc;

static void pbit(struct pframe *f, uint64_t *map, uint64_t id)
{
	uint32_t w = (uint32_t)(id >> 6);
	map[w] |= (uint64_t)1 << (id & 63);
	if (w < f->lo)
		f->lo = w;
	if (w + 1 > f->hi)
		f->hi = w + 1;
}

/* The bits of every user of the object at p, `{"u<n>":{entry},..}` (a
 * snapshot's members, a diff's joins), into f->add, or of every id of the
 * array at p, `["u<n>",..]` (a diff's leaves), into f->del, parsed whole:
 * the server's entries are keyed by id with no id inside, so a key is the
 * only place a user can be named. Anything else is a bad id, and the rest
 * of the list is not read. */
static void presence_ids(struct pframe *f, const char *p, const char *e, bool add)
{
	const char open = add ? '{' : '[', close = add ? '}' : ']';
	uint64_t *map = add ? f->add : f->del;
	if (p >= e || *p++ != open)
		goto bad;
	if (p < e && *p == close)
		return;
	for (;;) {
		uint64_t id;
		if (!(p = user_id(p, e, &id)))
			goto bad;
		/* Most entries are `{}`: 100 M of them in a 10 000-user run. */
		if (add && e - p >= 3 && p[0] == ':' && p[1] == '{' && p[2] == '}')
			p += 3;
		else if (add && (p >= e || *p != ':' || !(p = skip_object(p + 1, e))))
			goto bad;
		pbit(f, map, id);
		if (p < e && *p == ',')
			p++;
		else if (p < e && *p == close)
			return;
		else
			goto bad;
	}
bad:
	f->bad++;
}

/* The cached parse of the frame s[0..len), parsing it into the least
 * recently used entry if no entry holds these bytes; NULL (after a
 * protocol error) when the frame lacks its lists. */
static struct pframe *pframe_get(struct client *c, const char *s, size_t len, bool snapshot)
{
	struct pframe *f = &pc.f[0];
	for (int i = 0; !pc.off && i < PCACHE; i++) {
		struct pframe *k = &pc.f[i];
		if (k->bytes && k->len == len && k->snapshot == snapshot && memcmp(k->bytes, s, len) == 0) {
			k->used = ++pc.clock;
			pc.reused++;
			return k;
		}
		if (k->used < f->used)
			f = k;
	}
	const char *e = s + len, *m = NULL, *j = NULL, *l = NULL;
	if (snapshot)
		m = memmem(s, len, "\"members\":", 10);
	else
		j = memmem(s, len, "\"joins\":", 8), l = memmem(s, len, "\"leaves\":", 9);
	if (snapshot ? !m : !j || !l) {
		proto_error(c, snapshot ? "presence without members" : "presence-diff without joins and leaves", s, len);
		return NULL;
	}
	if (f->hi > f->lo) {
		memset(f->add + f->lo, 0, (f->hi - f->lo) * sizeof *f->add);
		memset(f->del + f->lo, 0, (f->hi - f->lo) * sizeof *f->del);
	}
	f->lo = pc.words;
	f->hi = 0;
	f->bad = 0;
	f->snapshot = snapshot;
	if (snapshot) {
		presence_ids(f, m + 10, e, true);
	} else {
		presence_ids(f, l + 9, e, false);
		presence_ids(f, j + 8, e, true);
	}
	f->members = 0;
	for (uint32_t w = f->lo; snapshot && w < f->hi; w++)
		f->members += (uint32_t)__builtin_popcountll(f->add[w]);
	f->len = 0;
	if (!pc.off) {
		if (f->cap < len) {
			free(f->bytes);
			f->cap = len + len / 4;
			if (!(f->bytes = malloc(f->cap)))
				die("out of memory");
		}
		memcpy(f->bytes, s, len);
		f->len = len;
	}
	f->used = ++pc.clock;
	pc.parsed++;
	return f;
}

/* A snapshot replaces the client's list; a diff takes out its leaves, then
 * adds its joins. */
static void pframe_apply(struct client *c, const struct pframe *f)
{
	uint64_t *seen = c->seen;
	g.bad_ids += f->bad;
	if (f->snapshot) {
		memset(seen, 0, pc.words * sizeof *seen);
		if (f->hi > f->lo)
			memcpy(seen + f->lo, f->add + f->lo, (f->hi - f->lo) * sizeof *seen);
		c->members = f->members;
		return;
	}
	for (uint32_t w = f->lo; w < f->hi; w++) {
		uint64_t old = seen[w], now = (old & ~f->del[w]) | f->add[w];
		seen[w] = now;
		c->members = c->members - (uint32_t)__builtin_popcountll(old) + (uint32_t)__builtin_popcountll(now);
	}
}

/* --presence: a `presence` snapshot replaces the list; a `presence-diff`
 * applies its leaves, then its joins. Other events (answers) are ignored
 * but an `error`, which is a refused request. */
static void on_presence_event(struct client *c, const char *s, size_t len, int64_t now)
{
	static const char snap[] = "[\"presence\",", diff[] = "[\"presence-diff\",", err[] = "[\"error\",";
	bool snapshot = len >= sizeof snap - 1 && memcmp(s, snap, sizeof snap - 1) == 0;
	if (snapshot || (len >= sizeof diff - 1 && memcmp(s, diff, sizeof diff - 1) == 0)) {
		const struct pframe *f = pframe_get(c, s, len, snapshot);
		if (!f)
			return;
		pframe_apply(c, f);
	} else {
		/* Answers, and whatever else the protocol sends along (the rooms
		 * protocol's member-joined / member-left): counted apart. */
		g.other_frames++;
		if (len >= sizeof err - 1 && memcmp(s, err, sizeof err - 1) == 0) {
			g.join_errors++;
			proto_error(c, "error event", s, len);
		}
		return;
	}
	/* A client's first presence frame is its snapshot: when the last one
	 * came, every client had joined, and the rest of full_s is the wait
	 * for diffs. */
	if (c->pframes++ == 0 && ++g.snapshots == g.o.clients)
		g.t_snapshots = now;
	g.pframes++;
	g.pbytes += len + 2;
	g.t_progress = now;
	if (c->state == S_JOINING && c->members == g.o.clients) {
		set_state(c, S_READY);
		g.ready_ever++;
		g.t_last = now;
	}
	if (g.phase == P_LEAVE && c->id == 0 && c->members == 1)
		g.t_left = now;
}

/* A Socket.IO event, after its "42": expects ["msg","<payload>"...]. */
static void on_event(struct client *c, const char *s, size_t len, int64_t now)
{
	const char *e = s + len, *p = skip_ws(s, e);
	if (g.o.presence) {
		on_presence_event(c, s, len, now);
		return;
	}
	static const char name[] = "\"msg\"";
	if (p == e || *p++ != '[')
		goto bad;
	p = skip_ws(p, e);
	if ((size_t)(e - p) < sizeof name - 1 || memcmp(p, name, sizeof name - 1) != 0)
		goto bad;
	p = skip_ws(p + sizeof name - 1, e);
	if (p == e || *p++ != ',')
		goto bad;
	p = skip_ws(p, e);
	if (p == e || *p++ != '"' || p == e)
		goto bad;

	if (*p == 'p') {
		if (c->state == S_JOINING) {
			set_state(c, S_READY);
			g.ready_ever++;
		}
		return;
	}
	uint64_t t, sid;
	if (e - p < 2 || p[0] != 't' || p[1] != '=' || !(p = parse_u64(p + 2, e, &t)) || e - p < 3 ||
	    memcmp(p, ";s=", 3) != 0 || !parse_u64(p + 3, e, &sid))
		goto bad;

	if (c->slow) {
		g.slow_deliveries++;
	} else {
		g.deliveries++;
		hist_add(&g.lat, now - (int64_t)t);
		g.t_last = now;
	}
	g.t_progress = now;
	if (sid == c->id && c->sender && c->outstanding > 0) {
		c->outstanding--;
		if (g.o.rate == 0)
			sender_fill(c);
	}
	return;
bad:
	proto_error(c, "unexpected event", s, len);
}

/* One Engine.IO packet (a whole WebSocket text message). */
static void on_text(struct client *c, const char *s, size_t len, int64_t now)
{
	if (len == 0) {
		proto_error(c, "empty packet", s, len);
		return;
	}
	switch (s[0]) {
	case '0': /* Engine.IO open: connect to the default namespace */
		if (c->state != S_EIO)
			break;
		if (g.o.presence) {
			int n = snprintf(g.pkt, g.pkt_cap, "40{\"userId\":\"u%" PRIu32 "\"}", c->id);
			ws_text(c, g.pkt, (size_t)n);
		} else {
			ws_text(c, "40", 2);
		}
		if (c->state == S_EIO)
			set_state(c, S_SIO);
		return;
	case '2': /* ping: a pong echoes whatever the ping carried */
		if (len > g.pkt_cap)
			break;
		memcpy(g.pkt, s, len);
		g.pkt[0] = '3';
		ws_text(c, g.pkt, len);
		return;
	case '6': /* noop */
		return;
	case '1':
		client_end(c, H_EIO_CLOSE, 0, NULL, 0);
		return;
	case '4':
		if (len >= 2 && s[1] == '2') {
			on_event(c, s + 2, len - 2, now);
			return;
		}
		if (len >= 2 && s[1] == '0' && c->state == S_SIO) {
			hist_add(&g.handshake, now - c->t_start);
			emit_join(c);
			if (c->state == S_SIO)
				set_state(c, S_JOINING);
			return;
		}
		if (len >= 2 && s[1] == '1') {
			client_end(c, H_SIO_DISCONNECT, 0, NULL, 0);
			return;
		}
		break;
	default:
		break;
	}
	proto_error(c, "unexpected packet", s, len);
	if (c->state < S_READY)
		client_end(c, H_PROTOCOL, 0, NULL, 0);
}

static void on_frame(struct client *c, uint8_t b0, const char *d, size_t len, int64_t now)
{
	bool fin = b0 & 0x80;
	unsigned op = b0 & 0x0fu;
	/* Control frames are short (RFC 6455 5.5); the pong buffer relies on it. */
	if (op >= 0x8 && (len > 125 || !fin))
		op = 0xF;
	switch (op) {
	case 0x1: /* text */
		if (c->fragmented)
			break;
		if (fin) {
			on_text(c, d, len, now);
		} else {
			c->fragmented = true;
			c->frag.len = 0;
			buf_append(&c->frag, d, len);
		}
		return;
	case 0x0: /* continuation */
		if (!c->fragmented)
			break;
		buf_append(&c->frag, d, len);
		if (fin) {
			c->fragmented = false;
			on_text(c, c->frag.p, c->frag.len, now);
		}
		return;
	case 0x8: { /* close: echo the code back, then hang up */
		unsigned code = len >= 2 ? ((unsigned)(uint8_t)d[0] << 8 | (uint8_t)d[1]) : 1005;
		ws_send(c, 0x8, d, len >= 2 ? 2 : 0);
		client_end(c, H_CLOSE_FRAME, code, len > 2 ? d + 2 : NULL, len > 2 ? len - 2 : 0);
		return;
	}
	case 0x9: /* ping */
		ws_send(c, 0xA, d, len);
		return;
	case 0xA: /* pong */
		return;
	default:
		break;
	}
	proto_error(c, "unexpected frame", d, len);
	client_end(c, H_PROTOCOL, 0, NULL, 0);
}

/* Checks the HTTP upgrade response; returns its length, 0 if incomplete. */
static size_t on_http(struct client *c, const char *p, size_t n)
{
	size_t end = 0;
	for (size_t i = 0; i + 4 <= n; i++) {
		if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
			end = i + 4;
			break;
		}
	}
	if (end == 0) {
		if (n > MAX_HTTP_RESPONSE) {
			proto_error(c, "no end of HTTP response", p, n);
			client_end(c, H_PROTOCOL, 0, NULL, 0);
		}
		return 0;
	}
	if (end < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
		proto_error(c, "upgrade refused", p, end);
		client_end(c, H_PROTOCOL, 0, NULL, 0);
		return 0;
	}
	static const char hdr[] = "\r\nsec-websocket-accept:";
	for (size_t i = 0; i + sizeof hdr - 1 < end; i++) {
		if (strncasecmp(p + i, hdr, sizeof hdr - 1) != 0)
			continue;
		const char *v = skip_ws(p + i + sizeof hdr - 1, p + end);
		if ((size_t)(p + end - v) < sizeof WS_ACCEPT - 1 || memcmp(v, WS_ACCEPT, sizeof WS_ACCEPT - 1) != 0) {
			proto_error(c, "bad Sec-WebSocket-Accept", p, end);
			client_end(c, H_PROTOCOL, 0, NULL, 0);
			return 0;
		}
	}
	set_state(c, S_EIO);
	return end;
}

/* Parses as many whole frames as `p` holds; returns the bytes used. Servers
 * may coalesce many frames into one segment or split one across reads. */
static size_t consume(struct client *c, const char *p, size_t n, int64_t now)
{
	size_t off = 0;
	if (c->state == S_UPGRADE) {
		off = on_http(c, p, n);
		if (off == 0)
			return 0;
	}
	while (c->state != S_DEAD && n - off >= 2) {
		const uint8_t *f = (const uint8_t *)p + off;
		size_t avail = n - off, hdr = 2;
		uint64_t len = f[1] & 0x7fu;
		if (f[1] & 0x80u) {
			proto_error(c, "masked server frame", NULL, 0);
			client_end(c, H_PROTOCOL, 0, NULL, 0);
			break;
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)f[2] << 8 | f[3];
			hdr = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 2; i < 10; i++)
				len = len << 8 | f[i];
			hdr = 10;
		}
		if (len > MAX_FRAME) {
			proto_error(c, "oversized frame", NULL, 0);
			client_end(c, H_PROTOCOL, 0, NULL, 0);
			break;
		}
		if (avail - hdr < len)
			break;
		on_frame(c, f[0], (const char *)f + hdr, (size_t)len, now);
		off += hdr + (size_t)len;
	}
	return off;
}

/* Polling: one HTTP/1.1 response at the start of p[0..n): its status and
 * body. Returns the bytes it takes, 0 while incomplete or on error (the
 * client has then ended). Only Content-Length bodies: both servers send
 * them for polling. */
static size_t http_response(struct client *c, const char *p, size_t n, unsigned *status, const char **body,
                            size_t *blen)
{
	size_t head = 0;
	for (size_t i = 0; i + 4 <= n; i++) {
		if (memcmp(p + i, "\r\n\r\n", 4) == 0) {
			head = i + 4;
			break;
		}
	}
	if (head == 0) {
		if (n > MAX_HTTP_RESPONSE) {
			proto_error(c, "no end of HTTP response", p, n);
			client_end(c, H_PROTOCOL, 0, NULL, 0);
		}
		return 0;
	}
	if (head < 16 || memcmp(p, "HTTP/1.1 ", 9) != 0 || p[9] < '1' || p[9] > '5') {
		proto_error(c, "not an HTTP/1.1 response", p, head);
		client_end(c, H_PROTOCOL, 0, NULL, 0);
		return 0;
	}
	*status = (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 + (unsigned)(p[11] - '0');
	static const char hdr[] = "\r\ncontent-length:";
	uint64_t len = UINT64_MAX;
	for (size_t i = 0; i + sizeof hdr - 1 < head; i++) {
		if (strncasecmp(p + i, hdr, sizeof hdr - 1) == 0) {
			if (!parse_u64(skip_ws(p + i + sizeof hdr - 1, p + head), p + head, &len))
				len = UINT64_MAX;
			break;
		}
	}
	if (len > MAX_FRAME) {
		proto_error(c, "no usable Content-Length", p, head);
		client_end(c, H_PROTOCOL, 0, NULL, 0);
		return 0;
	}
	if (n - head < len)
		return 0;
	*body = p + head;
	*blen = (size_t)len;
	return head + (size_t)len;
}

/* Polling: a GET's answer, a payload of packets separated by \x1e. The
 * handshake's carries the session id. Then the next GET goes out at once. */
static void on_poll_get(struct client *c, unsigned status, const char *b, size_t n, int64_t now)
{
	if (status != 200) {
		proto_error(c, "GET refused", b, n);
		client_end(c, c->state <= S_UPGRADE ? H_ERROR : H_PROTOCOL, 0, NULL, 0);
		return;
	}
	if (c->state == S_UPGRADE) {
		static const char key[] = "\"sid\":\"";
		size_t k = 0, i = 0;
		for (; k + sizeof key - 1 <= n && memcmp(b + k, key, sizeof key - 1) != 0; k++)
			;
		k += sizeof key - 1;
		for (; k + i < n && b[k + i] != '"' && i + 1 < sizeof c->sid; i++)
			c->sid[i] = b[k + i];
		c->sid[i] = '\0';
		if (k + i >= n || b[k + i] != '"' || i == 0) {
			proto_error(c, "no sid in the handshake", b, n);
			client_end(c, H_PROTOCOL, 0, NULL, 0);
			return;
		}
		set_state(c, S_EIO);
	}
	for (size_t start = 0; start <= n && c->state != S_DEAD;) {
		const char *rs = memchr(b + start, '\x1e', n - start);
		size_t end = rs ? (size_t)(rs - b) : n;
		on_text(c, b + start, end - start, now);
		start = end + 1;
	}
	if (c->state != S_DEAD)
		poll_get(c);
}

static void on_poll_post(struct client *c, unsigned status, const char *b, size_t n)
{
	if (status != 200 || n != 2 || memcmp(b, "ok", 2) != 0) {
		proto_error(c, "POST refused", b, n);
		client_end(c, H_PROTOCOL, 0, NULL, 0);
		return;
	}
	c->posting = false;
	if (c->q.len)
		poll_post(c);
}

/* Polling: every whole response in k->in. */
static void poll_consume(struct client *c, struct conn *k, int64_t now)
{
	size_t off = 0;
	while (c->state != S_DEAD && off < k->in.len) {
		unsigned status;
		const char *body;
		size_t blen, used = http_response(c, k->in.p + off, k->in.len - off, &status, &body, &blen);
		if (used == 0)
			break;
		off += used;
		if (k == &c->w)
			on_poll_get(c, status, body, blen, now);
		else
			on_poll_post(c, status, body, blen);
	}
	buf_consume(&k->in, off);
}

/* The size of the WebSocket frame starting at p[0..n), header included; 0
 * while its header is incomplete. */
static size_t frame_size(const char *p, size_t n)
{
	const uint8_t *f = (const uint8_t *)p;
	uint64_t len;
	if (n < 2)
		return 0;
	len = f[1] & 0x7fu;
	if (len == 126)
		return n < 4 ? 0 : 4 + ((size_t)f[2] << 8 | f[3]);
	if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | f[i];
		return len > MAX_FRAME ? 0 : 10 + (size_t)len;
	}
	return 2 + (size_t)len;
}

static void on_readable(struct client *c, struct conn *k)
{
	/* Bounded so one busy connection cannot starve the others. */
	for (int round = 0; round < 4 && c->state != S_DEAD; round++) {
		/* The rest of a frame begun in k->in goes straight after it: a
		 * presence snapshot is larger than a read, and copying it would
		 * double what the load generator moves. */
		char *dst = g.rbuf;
		size_t room = READ_CHUNK;
		if (!g.o.polling && k->in.len) {
			size_t whole = frame_size(k->in.p, k->in.len);
			buf_reserve(&k->in, whole > k->in.len + READ_CHUNK ? whole - k->in.len : READ_CHUNK);
			dst = k->in.p + k->in.len;
			room = k->in.cap - k->in.len;
		}
		ssize_t r = recv(k->fd, dst, room, 0);
		if (r == 0) {
			client_end(c, H_EOF, 0, NULL, 0);
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_end(c, errno == ECONNRESET ? H_RESET : H_ERROR, 0, NULL, 0);
			return;
		}
		size_t n = (size_t)r;
		int64_t now = now_ns();
		if (g.o.polling) {
			buf_append(&k->in, g.rbuf, n);
			poll_consume(c, k, now);
		} else if (dst != g.rbuf) {
			k->in.len += n;
			buf_consume(&k->in, consume(c, k->in.p, k->in.len, now));
		} else {
			size_t used = consume(c, g.rbuf, n, now);
			if (used < n && c->state != S_DEAD)
				buf_append(&k->in, g.rbuf + used, n - used);
		}
		if (n < room)
			return;
	}
}

/* A connection's connect() finished: false (and the client ended) if it failed. */
static bool conn_connected(struct client *c, struct conn *k)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		if (g.connect_errors < MAX_LOGGED_ERRORS)
			fprintf(stderr, "loadgen: client %u: connect: %s\n", c->id, strerror(err ? err : errno));
		client_end(c, H_ERROR, 0, NULL, 0);
		return false;
	}
	k->connecting = false;
	if (k->out.len)
		conn_flush(c, k);
	if (c->state != S_DEAD)
		watch(c, k);
	return c->state != S_DEAD;
}

static void on_connected(struct client *c)
{
	if (!conn_connected(c, &c->w))
		return;
	set_state(c, S_UPGRADE);
	if (g.o.polling) {
		poll_get(c); /* the handshake */
		return;
	}
	int n = snprintf(g.pkt, g.pkt_cap,
	                 "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
	                 "Host: %s\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\n\r\n",
	                 g.o.host, WS_KEY);
	conn_write(c, &c->w, g.pkt, (size_t)n);
}

static bool conn_open(struct client *c, struct conn *k)
{
	k->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0) {
		client_end(c, H_ERROR, 0, NULL, 0);
		return false;
	}
	/* Small frames must leave at once, or Nagle adds its delay to latency. */
	int one = 1;
	setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in to = g.o.addr;
	to.sin_port = htons(g.o.ports[c->id % g.o.nports]);
	if (connect(k->fd, (const struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) {
		if (g.connect_errors < MAX_LOGGED_ERRORS)
			fprintf(stderr, "loadgen: client %u: connect: %s\n", c->id, strerror(errno));
		client_end(c, H_ERROR, 0, NULL, 0);
		return false;
	}
	k->connecting = true;
	k->events = EPOLLIN | EPOLLOUT;
	struct epoll_event e = {.events = k->events, .data.u64 = conn_key(c, k)};
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, k->fd, &e) < 0)
		die("epoll_ctl: %s", strerror(errno));
	return true;
}

static void start_connect(struct client *c, int64_t now)
{
	c->t_start = now;
	set_state(c, S_TCP);
	/* Polling: the POST connection opens alongside; its first request
	 * waits in its output buffer if it is still connecting. */
	if (conn_open(c, &c->w) && g.o.polling)
		conn_open(c, &c->p);
}

/* Sends a probe to every room whose members have all sent their join and
 * some of which have not seen a probe yet; repeats every PROBE_EVERY_NS
 * because a probe that overtook a join proves nothing for that member. */
static void probe_rooms(int64_t now)
{
	for (uint32_t r = 0; r < g.o.rooms; r++) {
		g.rooms[r].unjoined = g.rooms[r].joining = 0;
		g.rooms[r].prober = -1;
	}
	for (uint32_t i = 0; i < g.o.clients; i++) {
		struct client *c = &g.c[i];
		struct room *r = &g.rooms[c->room];
		if (c->state < S_JOINING)
			r->unjoined++;
		else if (c->state == S_JOINING)
			r->joining++;
		if (r->prober < 0 && (c->state == S_JOINING || c->state == S_READY))
			r->prober = i;
	}
	for (uint32_t r = 0; r < g.o.rooms; r++) {
		struct room *rm = &g.rooms[r];
		if (rm->unjoined || !rm->joining || rm->prober < 0)
			continue;
		if (rm->t_probe && now - rm->t_probe < PROBE_EVERY_NS)
			continue;
		emit_probe(&g.c[rm->prober]);
		rm->t_probe = now;
	}
}

static void start_send(int64_t now)
{
	for (uint32_t i = 0; i < g.o.clients; i++) {
		struct client *c = &g.c[i];
		if (c->state != S_READY)
			continue;
		if (c->slow)
			g.rooms[c->room].slow++;
		else
			g.rooms[c->room].fast++;
	}
	for (uint32_t i = 0; i < g.o.senders; i++) {
		struct client *c = &g.c[i];
		if (c->state != S_READY)
			continue;
		g.expected += (uint64_t)g.o.messages * g.rooms[c->room].fast;
		g.slow_expected += (uint64_t)g.o.messages * g.rooms[c->room].slow;
	}
	for (uint32_t i = 0; i < g.o.clients; i++) {
		struct client *c = &g.c[i];
		if (c->slow && c->state == S_READY) {
			c->paused = true;
			watch(c, &c->w);
		}
	}
	g.phase = P_SEND;
	g.t_send = g.t_progress = now;
	g.cpu_send = cpu_ns();
	if (g.o.rate == 0)
		for (uint32_t i = 0; i < g.o.senders; i++)
			sender_fill(&g.c[i]);
}

/* Sends what the --rate schedule says is due, round robin over senders. */
static void pace(int64_t now)
{
	uint64_t due = (uint64_t)((double)(now - g.t_send) * g.o.rate / (double)NS_PER_S) + 1;
	for (uint32_t idle = 0; g.sent_total < due && idle < g.o.senders;) {
		struct client *c = &g.c[g.rr];
		g.rr = (g.rr + 1) % g.o.senders;
		if (can_send(c)) {
			emit_message(c);
			idle = 0;
		} else {
			idle++;
		}
	}
}

/* --presence: everyone but client 0 leaves; client 0 watches them go. */
static void start_leave(int64_t now)
{
	static const char leave[] = "42[\"leave\",\"r0\"]";
	g.phase = P_LEAVE;
	g.t_leave = g.t_progress = now;
	for (uint32_t i = 1; i < g.o.clients; i++)
		if (g.c[i].state == S_READY)
			ws_text(&g.c[i], leave, sizeof leave - 1);
}

static void end_connect(int64_t now)
{
	/* Clients still short of joined after the stall count as failures. */
	for (uint32_t i = 0; i < g.o.clients; i++)
		if (g.c[i].state != S_READY)
			client_end(&g.c[i], H_ERROR, 0, NULL, 0);
	g.t_connected = now;
	g.cpu_connected = cpu_ns();
	if (g.o.connect_only || g.count[S_READY] == 0) {
		g.phase = P_DONE;
	} else if (g.o.idle > 0) {
		printf("READY clients=%" PRIu32 "\n", g.count[S_READY]);
		fflush(stdout);
		g.t_idle_end = now + (int64_t)(g.o.idle * (double)NS_PER_S);
		g.phase = P_IDLE;
	} else if (g.o.presence) {
		start_leave(now);
	} else {
		start_send(now);
	}
}

static void step(int64_t now)
{
	switch (g.phase) {
	case P_CONNECT:
		while (g.started < g.o.clients && handshaking() < g.o.concurrency)
			start_connect(&g.c[g.started++], now);
		if (!g.o.presence && now - g.t_scan >= 10 * NS_PER_MS) {
			probe_rooms(now);
			g.t_scan = now;
		}
		if ((g.started == g.o.clients && g.count[S_READY] + g.count[S_DEAD] == g.o.clients) ||
		    now - g.t_progress > (g.o.presence ? PRESENCE_STALL_NS : STALL_NS))
			end_connect(now);
		break;
	case P_SEND:
		if (g.o.rate > 0)
			pace(now);
		if (g.deliveries >= g.expected || now - g.t_progress > STALL_NS) {
			g.t_sent = now;
			g.cpu_sent = cpu_ns();
			g.phase = P_DRAIN;
			g.t_progress = now;
			for (uint32_t i = 0; i < g.o.clients; i++) {
				struct client *c = &g.c[i];
				if (c->paused && c->state != S_DEAD) {
					c->paused = false;
					watch(c, &c->w);
				}
			}
		}
		break;
	case P_DRAIN: {
		bool slow_live = false;
		for (uint32_t i = g.o.clients - g.o.slow; i < g.o.clients; i++)
			slow_live |= g.c[i].state == S_READY;
		if (!slow_live || g.slow_deliveries >= g.slow_expected || now - g.t_progress > STALL_NS)
			g.phase = P_DONE;
		break;
	}
	case P_IDLE:
		if (now >= g.t_idle_end) {
			if (g.o.presence)
				start_leave(now);
			else
				g.phase = P_DONE;
		}
		break;
	case P_LEAVE:
		if (g.t_left || now - g.t_progress > PRESENCE_STALL_NS)
			g.phase = P_DONE;
		break;
	case P_DONE:
		break;
	}
}

static void on_event_ready(const struct epoll_event *e)
{
	struct client *c = &g.c[(uint32_t)e->data.u64];
	struct conn *k = e->data.u64 >> 32 ? &c->p : &c->w;
	if (c->state == S_DEAD)
		return;
	if (k->connecting) {
		if (!(e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (k == &c->w)
			on_connected(c);
		else
			conn_connected(c, k);
		return;
	}
	if ((e->events & EPOLLOUT) && k->out.len)
		conn_flush(c, k);
	/* Also on ERR/HUP, so that a paused client learns of a reset. */
	if (c->state != S_DEAD && (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		on_readable(c, k);
}

static double secs(int64_t ns)
{
	return (double)ns / (double)NS_PER_S;
}

static double us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static const char *end_how(const struct ends *e)
{
	return e->n ? how_names[e->how] : "-";
}

static const char *end_reason(const struct ends *e)
{
	return e->reason[0] ? e->reason : "-";
}

static void report(int64_t now, int64_t cpu_end)
{
	/* The measured window is the send phase, or the connect phase when no
	 * message was sent; a run cut short by --timeout ends it now. */
	int64_t connect_ns = (g.t_connected ? g.t_connected : now) - g.t0;
	int64_t wall_window = connect_ns, elapsed = 0;
	int64_t cpu_window = (g.t_connected ? g.cpu_connected : cpu_end) - g.cpu0;
	if (g.t_send) {
		elapsed = (g.deliveries ? g.t_last : now) - g.t_send;
		wall_window = (g.t_sent ? g.t_sent : now) - g.t_send;
		cpu_window = (g.t_sent ? g.cpu_sent : cpu_end) - g.cpu_send;
	}
	double rate = elapsed > 0 ? (double)g.deliveries / secs(elapsed) : 0;
	double conn_rate = connect_ns > 0 ? (double)g.ready_ever / secs(connect_ns) : 0;
	double cpu_pct = wall_window > 0 ? 100.0 * (double)cpu_window / (double)wall_window : 0;
	double cpu_total = now > g.t0 ? 100.0 * (double)(cpu_end - g.cpu0) / (double)(now - g.t0) : 0;
	uint64_t missing = g.expected > g.deliveries ? g.expected - g.deliveries : 0;
	const char *mode = g.o.presence ? "presence" : g.o.connect_only ? "connect" : g.o.idle > 0 ? "idle" : "send";

	const char *transport = g.o.polling ? "polling" : "websocket";
	printf("loadgen: %s, %" PRIu32 " %s clients in %" PRIu32 " rooms", mode, g.o.clients, transport, g.o.rooms);
	if (!g.o.connect_only && g.o.idle == 0)
		printf(", %" PRIu32 " senders x %" PRIu32 " messages of %" PRIu32 " B, inflight %" PRIu32 "%s",
		       g.o.senders, g.o.messages, g.o.size, g.o.inflight, g.o.rate > 0 ? ", paced" : "");
	printf("\n  joined      %" PRIu64 "/%" PRIu32 " in %.3f s (%.0f conn/s), handshake p50 %.0f us p99 %.0f us\n",
	       g.ready_ever, g.o.clients, secs(connect_ns), conn_rate, us(hist_pct(&g.handshake, 0.50)),
	       us(hist_pct(&g.handshake, 0.99)));
	if (g.t_send) {
		printf("  deliveries  %" PRIu64 " of %" PRIu64 " expected (%" PRIu64 " missing) in %.3f s = %.0f/s\n",
		       g.deliveries, g.expected, missing, secs(elapsed), rate);
		printf("  latency     p50 %.0f us, p99 %.0f us, max %.0f us\n", us(hist_pct(&g.lat, 0.50)),
		       us(hist_pct(&g.lat, 0.99)), us(g.lat.max));
	}
	if (g.o.slow)
		printf("  slow        %" PRIu32 " clients got %" PRIu64 " of %" PRIu64 " late; %" PRIu64
		       " lost the connection (first: %s, code %u, reason %s)\n",
		       g.o.slow, g.slow_deliveries, g.slow_expected, g.slow_end.n, end_how(&g.slow_end),
		       g.slow_end.code, end_reason(&g.slow_end));
	if (g.o.presence) {
		uint32_t max = 0;
		for (uint32_t i = 0; i < g.o.clients; i++)
			max = g.c[i].pframes > max ? g.c[i].pframes : max;
		double full_s = g.ready_ever == g.o.clients ? secs(g.t_last - g.t0) : 0;
		double per_client = (double)g.pframes / g.o.clients;
		double left_s = g.t_left ? secs(g.t_left - g.t_leave) : 0;
		double snap_s = g.t_snapshots ? secs(g.t_snapshots - g.t0) : 0;
		printf("  presence    every client had all %" PRIu32 " users after %.3f s (its snapshot after %.3f s); %" PRIu64
		       " presence frames (%.1f per client, max %" PRIu32 ", %.1f per client per s), %.1f MB;"
		       " %" PRIu32 " left in %.3f s%s; %" PRIu64 " bad ids; %" PRIu64 " other events\n"
		       "              %" PRIu64 " distinct frames parsed, %" PRIu64 " applied from a byte-identical one\n",
		       g.o.clients, full_s, snap_s, g.pframes, per_client, max, full_s > 0 ? per_client / full_s : 0,
		       (double)g.pbytes / 1e6, g.o.clients - 1, left_s, g.t_left ? "" : " (NOT SEEN)", g.bad_ids,
		       g.other_frames, pc.parsed, pc.reused);
		printf("RESULT full_s=%.3f snapshot_s=%.3f presence_frames=%" PRIu64 " pframes_per_client=%.1f pframes_max=%" PRIu32
		       " pframes_per_client_per_s=%.1f presence_mb=%.1f left_s=%.3f left_seen=%d bad_ids=%" PRIu64
		       " other_events=%" PRIu64 " pframes_parsed=%" PRIu64 "\n",
		       full_s, snap_s, g.pframes, per_client, max, full_s > 0 ? per_client / full_s : 0,
		       (double)g.pbytes / 1e6, left_s, g.t_left != 0, g.bad_ids, g.other_frames, pc.parsed);
	}
	printf("  errors      connect %" PRIu64 ", join %" PRIu64 ", protocol %" PRIu64 "\n", g.connect_errors,
	       g.join_errors, g.protocol_errors);
	printf("  dropped     %" PRIu64 " clients (not --slow) lost the connection after joining (first: %s, code %u, "
	       "reason %s)\n",
	       g.fast_end.n, end_how(&g.fast_end), g.fast_end.code, end_reason(&g.fast_end));
	printf("  loadgen cpu %.1f%% of one core while measuring, %.1f%% over %.3f s%s\n", cpu_pct, cpu_total,
	       secs(now - g.t0), g.timed_out ? " (TIMED OUT)" : "");

	printf("RESULT mode=%s transport=%s clients=%" PRIu32 " rooms=%" PRIu32 " senders=%" PRIu32 " messages=%" PRIu32
	       " size=%" PRIu32 " inflight=%" PRIu32 " rate=%.0f joined=%" PRIu64 " connect_s=%.3f connect_rate=%.0f"
	       " handshake_p50_us=%.0f handshake_p99_us=%.0f deliveries=%" PRIu64 " expected=%" PRIu64
	       " missing=%" PRIu64 " elapsed_s=%.3f deliveries_per_s=%.0f lat_p50_us=%.0f lat_p99_us=%.0f"
	       " lat_max_us=%.0f connect_errors=%" PRIu64 " join_errors=%" PRIu64 " protocol_errors=%" PRIu64
	       " dropped=%" PRIu64 " dropped_how=%s dropped_code=%u dropped_reason=%s slow=%" PRIu32 " slow_received=%" PRIu64 " slow_expected=%" PRIu64
	       " slow_closed=%" PRIu64 " slow_how=%s slow_code=%u slow_reason=%s cpu_pct=%.1f cpu_total_pct=%.1f"
	       " wall_s=%.3f timed_out=%d\n",
	       mode, transport, g.o.clients, g.o.rooms, g.o.senders, g.o.messages, g.o.size, g.o.inflight, g.o.rate,
	       g.ready_ever, secs(connect_ns), conn_rate, us(hist_pct(&g.handshake, 0.50)),
	       us(hist_pct(&g.handshake, 0.99)), g.deliveries, g.expected, missing, secs(elapsed), rate,
	       us(hist_pct(&g.lat, 0.50)), us(hist_pct(&g.lat, 0.99)), us(g.lat.max), g.connect_errors,
	       g.join_errors, g.protocol_errors, g.fast_end.n, end_how(&g.fast_end), g.fast_end.code,
	       end_reason(&g.fast_end), g.o.slow, g.slow_deliveries, g.slow_expected, g.slow_end.n,
	       end_how(&g.slow_end), g.slow_end.code, end_reason(&g.slow_end), cpu_pct, cpu_total,
	       secs(now - g.t0), g.timed_out);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fputs("usage: loadgen --port P [options]\n"
	      "  --host ADDR        server IPv4 loopback address (127.0.0.1)\n"
	      "  --port P[,P2...]   server port (required); a list spreads the clients over\n"
      "                     a cluster's nodes (client i on port i mod n)\n"
	      "  --clients N        connections (100)\n"
	      "  --rooms R          rooms; client i joins room i % R (1)\n"
	      "  --senders S        clients 0..S-1 send (1 with one room, else all)\n"
	      "  --messages M       messages per sender (100)\n"
	      "  --size BYTES       payload size (100)\n"
	      "  --inflight K       own messages a sender may have outstanding (1)\n"
	      "  --rate MSGS        cap on messages per second, all senders together\n"
	      "  --concurrency C    handshakes in flight while connecting (200)\n"
	      "  --connect-only     connect and join, report the rate, exit\n"
	      "  --idle SECONDS     after joining print READY and hold the connections\n"
	      "  --slow N           the last N clients stop reading while messages flow\n"
	      "  --timeout SECONDS  hard bound for the whole run (60)\n"
	      "  --transport T      websocket (default) or polling: Engine.IO v4 long-polling,\n"
	      "                     a GET and a POST keep-alive connection per client\n"
	      "  --presence         `roomd --protocol rooms --presence`: all clients join r0 as\n"
	      "                     users u<i>, track the member list, then all but one leave\n"
	      "  --parse-all        --presence: parse every frame, even one byte-identical to a\n"
	      "                     frame parsed before (slower; the same check)\n"
	      "A phase with no progress for 3 s ends. Exit status 0 when every client\n"
	      "joined and every expected delivery arrived, 1 otherwise, 2 on bad usage.\n",
	      f);
}

static unsigned long parse_count(const char *opt, const char *s, unsigned long min, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		die("%s: expected an integer in [%lu, %lu], got '%s'", opt, min, max, s);
	return v;
}

static double parse_number(const char *opt, const char *s, double max)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0) || v > max)
		die("%s: expected a number in [0, %.0f], got '%s'", opt, max, s);
	return v;
}

static void parse_args(int argc, char **argv)
{
	enum { O_HOST = 256, O_PORT, O_CLIENTS, O_ROOMS, O_SENDERS, O_MESSAGES, O_SIZE, O_INFLIGHT,
	       O_RATE, O_CONC, O_CONNECT_ONLY, O_IDLE, O_SLOW, O_TIMEOUT, O_TRANSPORT, O_PRESENCE, O_PARSE_ALL, O_HELP };
	static const struct option longopts[] = {
		{"host", required_argument, NULL, O_HOST},         {"port", required_argument, NULL, O_PORT},
		{"clients", required_argument, NULL, O_CLIENTS},   {"rooms", required_argument, NULL, O_ROOMS},
		{"senders", required_argument, NULL, O_SENDERS},   {"messages", required_argument, NULL, O_MESSAGES},
		{"size", required_argument, NULL, O_SIZE},         {"inflight", required_argument, NULL, O_INFLIGHT},
		{"rate", required_argument, NULL, O_RATE},         {"concurrency", required_argument, NULL, O_CONC},
		{"connect-only", no_argument, NULL, O_CONNECT_ONLY}, {"idle", required_argument, NULL, O_IDLE},
		{"slow", required_argument, NULL, O_SLOW},         {"timeout", required_argument, NULL, O_TIMEOUT},
		{"transport", required_argument, NULL, O_TRANSPORT}, {"presence", no_argument, NULL, O_PRESENCE},
		{"parse-all", no_argument, NULL, O_PARSE_ALL},     {"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	struct opts *o = &g.o;
	const char *host = "127.0.0.1";
	unsigned long port = 0;
	bool senders_set = false;
	*o = (struct opts){.clients = 100, .rooms = 1, .messages = 100, .size = 100, .inflight = 1,
	                   .concurrency = 200, .timeout = 60};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case O_HOST: host = optarg; break;
		case O_PORT: {
			/* A comma-separated list: the nodes of a cluster. */
			char *list = optarg, *tok, *save = NULL;
			o->nports = 0;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (o->nports == sizeof o->ports / sizeof o->ports[0])
					die("--port: at most 8 ports");
				o->ports[o->nports++] = (uint16_t)parse_count("--port", tok, 1, 65535);
			}
			port = o->nports ? o->ports[0] : 0;
			break;
		}
		case O_CLIENTS: o->clients = (uint32_t)parse_count("--clients", optarg, 1, 1000000); break;
		case O_ROOMS: o->rooms = (uint32_t)parse_count("--rooms", optarg, 1, 1000000); break;
		case O_SENDERS:
			o->senders = (uint32_t)parse_count("--senders", optarg, 0, 1000000);
			senders_set = true;
			break;
		case O_MESSAGES: o->messages = (uint32_t)parse_count("--messages", optarg, 0, 100000000); break;
		case O_SIZE: o->size = (uint32_t)parse_count("--size", optarg, 1, MAX_SIZE); break;
		case O_INFLIGHT: o->inflight = (uint32_t)parse_count("--inflight", optarg, 1, 1000000); break;
		case O_RATE: o->rate = parse_number("--rate", optarg, 1e9); break;
		case O_CONC: o->concurrency = (uint32_t)parse_count("--concurrency", optarg, 1, 1000000); break;
		case O_CONNECT_ONLY: o->connect_only = true; break;
		case O_IDLE: o->idle = parse_number("--idle", optarg, 86400); break;
		case O_SLOW: o->slow = (uint32_t)parse_count("--slow", optarg, 0, 1000000); break;
		case O_TIMEOUT: o->timeout = parse_number("--timeout", optarg, 86400); break;
		case O_TRANSPORT:
			if (strcmp(optarg, "polling") != 0 && strcmp(optarg, "websocket") != 0)
				die("--transport: websocket or polling, not '%s'", optarg);
			o->polling = optarg[0] == 'p';
			break;
		case O_PRESENCE: o->presence = true; break;
		case O_PARSE_ALL: pc.off = true; break;
		case O_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || port == 0) {
		usage(stderr);
		exit(2);
	}
	o->addr.sin_family = AF_INET;
	o->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &o->addr.sin_addr) != 1)
		die("--host: not an IPv4 address: %s", host);
	/* A load generator aimed elsewhere than this machine is a mistake. */
	if ((ntohl(o->addr.sin_addr.s_addr) >> 24) != 127)
		die("--host: only loopback addresses (127.0.0.0/8) are allowed");
	if (o->presence && (o->rooms != 1 || o->connect_only || o->polling))
		die("--presence is one room over WebSocket, without --rooms, --connect-only or --transport polling");
	if (o->connect_only || o->idle > 0 || o->presence)
		o->senders = o->messages = o->slow = 0; /* nothing is sent */
	else if (!senders_set)
		o->senders = o->rooms == 1 ? 1 : o->clients;
	if (o->rooms > o->clients)
		die("--rooms (%u) exceeds --clients (%u)", o->rooms, o->clients);
	if (o->senders + o->slow > o->clients)
		die("--senders (%u) plus --slow (%u) exceeds --clients (%u)", o->senders, o->slow, o->clients);
	if (o->timeout <= o->idle)
		die("--timeout must exceed --idle");
	if (o->polling && o->slow)
		die("--slow is for --transport websocket only");
	snprintf(o->host, sizeof o->host, "%s:%lu", host, port);
}

/* Every connection is a descriptor; the default soft limit is often 1024. */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)g.o.clients + 32;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < need)
			die("need %lu descriptors, the hard limit allows %lu (raise ulimit -Hn)", (unsigned long)need,
			    (unsigned long)rl.rlim_cur);
	}
}

/* Closes what is still open without TIME_WAIT, which would otherwise pin
 * thousands of ephemeral ports across back-to-back runs. */
static void close_all(void)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	for (uint32_t i = 0; i < g.o.clients; i++) {
		struct client *c = &g.c[i];
		for (struct conn *k = &c->w; k; k = k == &c->w ? &c->p : NULL) {
			if (k->fd >= 0) {
				setsockopt(k->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
				close(k->fd);
			}
			free(k->in.p);
			free(k->out.p);
		}
		free(c->frag.p);
		free(c->q.p);
		free(c->seen);
	}
	for (int i = 0; i < PCACHE; i++) {
		free(pc.f[i].bytes);
		free(pc.f[i].add);
		free(pc.f[i].del);
	}
	free(g.c);
	free(g.rooms);
	free(g.rbuf);
	free(g.pkt);
	free(g.tx);
	close(g.ep);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	raise_nofile();

	pc.words = (g.o.clients + 63) / 64;
	for (int i = 0; g.o.presence && i < PCACHE; i++) {
		pc.f[i].add = calloc(pc.words, sizeof *pc.f[i].add);
		pc.f[i].del = calloc(pc.words, sizeof *pc.f[i].del);
		if (!pc.f[i].add || !pc.f[i].del)
			die("out of memory");
	}
	g.c = calloc(g.o.clients, sizeof *g.c);
	g.rooms = calloc(g.o.rooms, sizeof *g.rooms);
	g.pkt_cap = MAX_SIZE + 256;
	g.tx_cap = g.pkt_cap + 14;
	g.pkt = malloc(g.pkt_cap);
	g.tx = malloc(g.tx_cap);
	g.rbuf = malloc(READ_CHUNK);
	if (!g.c || !g.rooms || !g.pkt || !g.tx || !g.rbuf)
		die("out of memory");
	for (uint32_t i = 0; i < g.o.clients; i++) {
		g.c[i] = (struct client){.w.fd = -1, .p.fd = -1, .id = i, .room = i % g.o.rooms};
		g.c[i].sender = i < g.o.senders;
		g.c[i].slow = i >= g.o.clients - g.o.slow;
		if (g.o.presence && !(g.c[i].seen = calloc(pc.words, sizeof *g.c[i].seen)))
			die("out of memory");
	}
	g.count[S_NEW] = g.o.clients;
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0)
		die("epoll_create1: %s", strerror(errno));

	g.t0 = g.t_progress = now_ns();
	g.xs = (uint32_t)g.t0 | 1u;
	g.cpu0 = cpu_ns();
	g.deadline = g.t0 + (int64_t)(g.o.timeout * (double)NS_PER_S);
	struct epoll_event evs[MAX_EVENTS];
	/* Bounded by the deadline: every iteration waits at most 10 ms. */
	for (int64_t now = g.t0; g.phase != P_DONE; now = now_ns()) {
		if (now >= g.deadline) {
			g.timed_out = true;
			break;
		}
		step(now);
		if (g.phase == P_DONE)
			break;
		int timeout_ms = g.phase == P_SEND && g.o.rate > 0 ? 1 : 10;
		int n = epoll_wait(g.ep, evs, MAX_EVENTS, timeout_ms);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++)
			on_event_ready(&evs[i]);
	}
	int64_t cpu_end = cpu_ns();
	report(now_ns(), cpu_end);
	bool ok = !g.timed_out && g.ready_ever == g.o.clients && g.protocol_errors == 0 && g.fast_end.n == 0 &&
	          g.deliveries >= g.expected && (!g.o.presence || (g.t_left && g.bad_ids == 0));
	close_all();
	return ok ? 0 : 1;
}
