/* examples/tcp_json.c: start the example host on a free loopback port, talk
 * to it over TCP, stop it with SIGTERM. Every wait is bounded. */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

static const char *exe_path;
static pid_t child;
static int port;

static int start_server(void **state)
{
    int out[2];
    char line[128] = {0};
    size_t len = 0;
    (void)state;
    assert_int_equal(pipe(out), 0);
    child = fork();
    if (child == 0) {
        dup2(out[1], 1);
        execl(exe_path, exe_path, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    while (len < sizeof line - 1 && !strchr(line, '\n')) {
        struct pollfd p = {out[0], POLLIN, 0};
        ssize_t n;
        if (poll(&p, 1, 5000) <= 0)
            break;
        n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(out[0]);
    assert_int_equal(sscanf(line, "listening on 127.0.0.1:%d", &port), 1);
    return 0;
}

static int stop_server(void **state)
{
    int status = 0;
    (void)state;
    kill(child, SIGTERM);
    for (int i = 0; i < 500 && waitpid(child, &status, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(child, &status, WNOHANG) == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        fail_msg("tcp_json did not stop on SIGTERM");
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return 0;
}

static int dial(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void say(int fd, const char *line)
{
    size_t len = strlen(line);
    assert_int_equal(write(fd, line, len), (ssize_t)len);
    assert_int_equal(write(fd, "\n", 1), 1);
}

/* Reads one line (bounded to 5 s) and parses it. */
static json_t *hear(int fd)
{
    char buf[4096];
    size_t len = 0;
    while (len < sizeof buf - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0 || read(fd, buf + len, 1) != 1)
            fail_msg("no line from tcp_json within 5 s");
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
    return json_loads(buf, 0, NULL);
}

static const char *event_of(json_t *j)
{
    return json_string_value(json_object_get(j, "event"));
}

static void rooms_over_plain_tcp(void **state)
{
    int a = dial(), b = dial();
    json_t *j;
    (void)state;
    say(a, "{\"event\":\"join\",\"data\":\"lobby\",\"id\":1}");
    j = hear(a);
    assert_int_equal(json_integer_value(json_object_get(j, "ack")), 1);
    json_decref(j);
    say(b, "{\"event\":\"join\",\"data\":\"lobby\"}");
    j = hear(a);
    assert_string_equal(event_of(j), "member-joined");
    json_decref(j);
    j = hear(b);
    assert_string_equal(event_of(j), "result");
    json_decref(j);

    say(b, "{\"event\":\"send\",\"data\":{\"room\":\"lobby\",\"data\":\"hello\"}}");
    for (int k = 0; k < 2; k++) {
        j = hear(k ? b : a);
        assert_string_equal(event_of(j), "message");
        assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "data")),
                            "hello");
        json_decref(j);
    }
    j = hear(b);
    assert_string_equal(event_of(j), "result");
    json_decref(j);

    say(a, "this is not json");
    j = hear(a);
    assert_string_equal(event_of(j), "error");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "data"), "data"), "code")),
                        "bad_json");
    json_decref(j);

    close(b);
    j = hear(a);
    assert_string_equal(event_of(j), "member-left");
    json_decref(j);
    close(a);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(rooms_over_plain_tcp)};
    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/tcp_json\n", argv[0]);
        return 2;
    }
    exe_path = argv[1];
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
