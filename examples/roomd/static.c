/* Static files for roomd --static DIR: GET and HEAD, content types by
 * extension, ETag and If-None-Match (304), index.html for a directory
 * (never a listing), and no way out of DIR.
 *
 * Escapes are refused twice. The path is percent-decoded once, and a
 * decoded '/' (%2f), a NUL, or a segment starting with '.' ("..", ".",
 * hidden files such as .git) answers 404 before the file system is asked.
 * Then the file is opened relative to DIR's descriptor with openat2(2)'s
 * RESOLVE_BENEATH, which refuses any path, symlinks included, that leaves
 * DIR (Linux 5.6; on an older kernel, realpath(3) of the file must be
 * under realpath(DIR), and the file is opened with O_NOFOLLOW). */
#define _GNU_SOURCE /* O_PATH */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "log.h"

#define PATH_BYTES 4096

struct roomd_static {
    int root;   /* DIR, O_PATH */
    char *real; /* realpath(DIR), for kernels without openat2 */
};

static const struct {
    const char *ext, *type;
} types[] = {
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/vnd.microsoft.icon"},
    {"wasm", "application/wasm"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"wav", "audio/wav"},
};

static const char *content_type(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    size_t i;
    if (dot && (!slash || dot > slash)) {
        for (i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
        }
    }
    return "application/octet-stream";
}

static int hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The request path as a path relative to DIR ("" for DIR itself), in
 * `out`; or the status to answer: 400 (bad percent-encoding), 404 (a path
 * that names nothing servable), 414 (too long). */
static int relative_path(const char *p, size_t len, char *out)
{
    size_t i = 0, n = 0, seg = 0;
    while (i < len) {
        char c = p[i++];
        bool encoded = false;
        if (c == '%') {
            int hi, lo;
            if (i + 2 > len || (hi = hex(p[i])) < 0 || (lo = hex(p[i + 1])) < 0)
                return 400;
            c = (char)(hi * 16 + lo);
            i += 2;
            encoded = true;
        }
        if (c == '\0' || (encoded && (c == '/' || c == '\\')))
            return 404;
        if (c == '/') {
            /* "//" is one separator; the leading '/' is none. */
            if (n > seg)
                out[n++] = '/';
            seg = n;
            continue;
        }
        /* ".", "..", and hidden files: never served. */
        if (n == seg && c == '.')
            return 404;
        if (n + 2 >= PATH_BYTES)
            return 414;
        out[n++] = c;
    }
    if (n && out[n - 1] == '/')
        n--;
    out[n] = '\0';
    return 0;
}

static int open_beneath(const roomd_static *st, int dir, const char *rel)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
    char joined[PATH_BYTES + PATH_MAX], real[PATH_MAX];
    size_t n;
    long fd = syscall(SYS_openat2, dir, rel[0] ? rel : ".", &how, sizeof how);

    if (fd >= 0 || errno != ENOSYS)
        return (int)fd;
    /* No openat2: the resolved path must be DIR or under it. */
    snprintf(joined, sizeof joined, "%s/%s", st->real, rel);
    if (!realpath(joined, real))
        return -1;
    n = strlen(st->real);
    if (strncmp(real, st->real, n) != 0 || (real[n] != '/' && real[n] != '\0')) {
        errno = EXDEV;
        return -1;
    }
    return open(real, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
}

static void answer_text(room_ws_http *req, int status, const char *headers, const char *text)
{
    room_ws_http_respond(req, status, "text/plain; charset=utf-8", headers, text, strlen(text));
}

/* Whether If-None-Match lists `etag` (weak comparison, as RFC 9110 13.1.2
 * asks: a W/ prefix does not matter) or is "*". */
static bool none_match(const char *v, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    while (len) {
        size_t n = 0;
        const char *t;
        while (len && (*v == ' ' || *v == '\t' || *v == ',')) {
            v++;
            len--;
        }
        t = v;
        while (n < len && t[n] != ',')
            n++;
        v += n;
        len -= n;
        while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            n--;
        if (n == 1 && t[0] == '*')
            return true;
        if (n > 2 && t[0] == 'W' && t[1] == '/') {
            t += 2;
            n -= 2;
        }
        if (n == elen && memcmp(t, etag, n) == 0)
            return true;
    }
    return false;
}

/* The whole file, or NULL (errno set). */
static char *read_all(int fd, size_t size)
{
    char *buf = malloc(size ? size : 1);
    size_t got = 0;
    while (buf && got < size) {
        ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(buf);
            if (n == 0)
                errno = EIO; /* it shrank under us */
            return NULL;
        }
        got += (size_t)n;
    }
    return buf;
}

static void serve(room_ws_http *req, void *user_data)
{
    const roomd_static *st = user_data;
    const char *method = room_ws_http_method(req), *path, *query, *inm;
    char rel[PATH_BYTES], headers[256], etag[64], date[40];
    size_t plen, qlen = 0, ilen = 0;
    struct stat sb;
    struct tm tm;
    char *body;
    int fd, status;
    bool head = strcmp(method, "HEAD") == 0, index = false;

    if (!head && strcmp(method, "GET") != 0) {
        answer_text(req, 405, "Allow: GET, HEAD\r\n", "method not allowed\n");
        return;
    }
    path = room_ws_http_path(req, &plen);
    if ((status = relative_path(path, plen, rel)) != 0) {
        answer_text(req, status, NULL, status == 400 ? "bad request\n" : status == 414 ? "path too long\n" : "not found\n");
        return;
    }
    if ((fd = open_beneath(st, st->root, rel)) < 0 || fstat(fd, &sb) != 0) {
        if (fd >= 0)
            close(fd);
        answer_text(req, 404, NULL, "not found\n");
        return;
    }
    if (S_ISDIR(sb.st_mode)) {
        int dir = fd;
        /* Relative links in its index.html are relative to the directory. */
        if (path[plen - 1] != '/') {
            char *loc = malloc(plen + PATH_BYTES + 32);
            close(dir);
            query = room_ws_http_query(req, &qlen);
            if (loc) {
                snprintf(loc, plen + PATH_BYTES + 32, "Location: %.*s/%s%.*s\r\n", (int)plen, path, query ? "?" : "",
                         query ? (int)(qlen < PATH_BYTES ? qlen : PATH_BYTES) : 0, query ? query : "");
                answer_text(req, 301, loc, "moved\n");
                free(loc);
            }
            return;
        }
        fd = open_beneath(st, dir, "index.html");
        close(dir);
        if (fd < 0 || fstat(fd, &sb) != 0) {
            if (fd >= 0)
                close(fd);
            answer_text(req, 404, NULL, "not found\n");
            return;
        }
        snprintf(rel + strlen(rel), sizeof rel - strlen(rel), "/index.html");
        index = true;
    }
    /* "/app.js/": a file is no directory. */
    if (!S_ISREG(sb.st_mode) || (path[plen - 1] == '/' && !index)) {
        close(fd);
        answer_text(req, 404, NULL, "not found\n");
        return;
    }
    if ((size_t)sb.st_size > ROOMD_STATIC_MAX_BYTES) {
        close(fd);
        answer_text(req, 403, NULL, "file too large to serve\n");
        return;
    }
    /* Size and modification time: a file replaced or edited gets a new one. */
    snprintf(etag, sizeof etag, "\"%jx-%jx\"", (uintmax_t)sb.st_size,
             (uintmax_t)sb.st_mtim.tv_sec * 1000000000u + (uintmax_t)sb.st_mtim.tv_nsec);
    gmtime_r(&sb.st_mtim.tv_sec, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    /* no-cache: browsers ask again every time, and get 304 while the ETag holds. */
    snprintf(headers, sizeof headers,
             "ETag: %s\r\nLast-Modified: %s\r\nCache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n", etag,
             date);
    inm = room_ws_http_header(req, "If-None-Match", &ilen);
    if (inm && none_match(inm, ilen, etag)) {
        close(fd);
        room_ws_http_respond(req, 304, NULL, headers, NULL, 0);
        return;
    }
    body = head ? NULL : read_all(fd, (size_t)sb.st_size);
    close(fd);
    if (!head && !body) {
        roomd_logf(ROOM_LOG_WARN, "static: reading %s: %s", rel, strerror(errno));
        answer_text(req, 500, NULL, "cannot read the file\n");
        return;
    }
    room_ws_http_respond(req, 200, content_type(rel), headers, body, (size_t)sb.st_size);
    free(body);
}

int roomd_static_mount(room_ws *ws, const char *dir, roomd_static **out)
{
    roomd_static *st = calloc(1, sizeof *st);
    int rc;

    *out = NULL;
    if (!st) {
        roomd_logf(ROOM_LOG_ERROR, "static: out of memory");
        return -1;
    }
    st->root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (st->root < 0 || !(st->real = realpath(dir, NULL))) {
        roomd_logf(ROOM_LOG_ERROR, "static: %s: %s", dir, strerror(errno));
        roomd_static_free(st);
        return -1;
    }
    if ((rc = room_ws_route(ws, "/", serve, st)) != 0) {
        roomd_logf(ROOM_LOG_ERROR, "static: %s", room_strerror(rc));
        roomd_static_free(st);
        return -1;
    }
    roomd_logf(ROOM_LOG_INFO, "static files from %s at /", st->real);
    *out = st;
    return 0;
}

void roomd_static_free(roomd_static *st)
{
    if (!st)
        return;
    if (st->root >= 0)
        close(st->root);
    free(st->real);
    free(st);
}
