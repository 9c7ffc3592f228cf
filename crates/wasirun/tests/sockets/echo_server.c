/* An echo server on preopened listening sockets (fds 3..3+N-1) or on
 * sockets opened with `path_open` on a preopened directory (fd 3).
 *
 *   echo_server preopen N COUNT      listen on fds 3..3+N-1
 *   echo_server uri COUNT URI...     path_open(3, URI) for each URI
 *
 * Prints `port P` for each listener (sock_getlocaladdr), then serves COUNT
 * connections, waiting on all listeners at once with poll_oneoff: each
 * connection is echoed until the client shuts down its side. Finally checks
 * that a non-blocking listener with nobody waiting gives EAGAIN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmedge.h"

#define MAX 8

static void fail(const char *what, int err) {
    printf("%s failed: %d\n", what, err);
    fflush(stdout);
    exit(1);
}

static void echo(__wasi_fd_t conn) {
    char buf[256];
    for (;;) {
        __wasi_iovec_t iov = {(uint8_t *)buf, sizeof buf};
        __wasi_size_t n;
        __wasi_errno_t err = __wasi_fd_read(conn, &iov, 1, &n);
        if (err) fail("fd_read", err);
        if (n == 0) break;
        if ((err = write_all(conn, buf, n))) fail("fd_write", err);
    }
    __wasi_errno_t err = __wasi_fd_close(conn);
    if (err) fail("fd_close", err);
}

int main(int argc, char **argv) {
    __wasi_fd_t listeners[MAX];
    int n = 0, count;
    if (argc >= 4 && strcmp(argv[1], "preopen") == 0) {
        n = atoi(argv[2]);
        count = atoi(argv[3]);
        for (int i = 0; i < n && i < MAX; i++) listeners[i] = 3 + i;
    } else if (argc >= 4 && strcmp(argv[1], "uri") == 0) {
        count = atoi(argv[2]);
        for (int i = 3; i < argc && n < MAX; i++) {
            __wasi_errno_t err =
                __wasi_path_open(3, 0, argv[i], 0, __WASI_RIGHTS_FD_READ, 0, 0, &listeners[n]);
            if (err) fail("path_open", err);
            n++;
        }
    } else {
        fprintf(stderr, "usage: echo_server preopen N COUNT | uri COUNT URI...\n");
        return 2;
    }
    for (int i = 0; i < n; i++) {
        uint8_t storage[128];
        we_address addr = {storage, sizeof storage};
        uint32_t port;
        uint32_t err = we_sock_getlocaladdr(listeners[i], &addr, &port);
        if (err) fail("sock_getlocaladdr", err);
        if (storage[0] != WE_INET4) fail("family", storage[0]);
        printf("port %u\n", port);
    }
    fflush(stdout);

    for (int served = 0; served < count;) {
        __wasi_subscription_t subs[MAX];
        __wasi_event_t events[MAX];
        memset(subs, 0, sizeof subs);
        for (int i = 0; i < n; i++) {
            subs[i].userdata = i;
            subs[i].u.tag = __WASI_EVENTTYPE_FD_READ;
            subs[i].u.u.fd_read.file_descriptor = listeners[i];
        }
        __wasi_size_t ready;
        __wasi_errno_t err = __wasi_poll_oneoff(subs, events, n, &ready);
        if (err) fail("poll_oneoff", err);
        for (__wasi_size_t e = 0; e < ready; e++) {
            if (events[e].error) fail("poll event", events[e].error);
            __wasi_fd_t conn;
            err = __wasi_sock_accept(listeners[events[e].userdata], 0, &conn);
            if (err) fail("sock_accept", err);
            printf("accepted on listener %d\n", (int)events[e].userdata);
            fflush(stdout);
            echo(conn);
            served++;
        }
    }

    __wasi_errno_t err = __wasi_fd_fdstat_set_flags(listeners[0], __WASI_FDFLAGS_NONBLOCK);
    if (err) fail("fd_fdstat_set_flags", err);
    __wasi_fd_t conn;
    err = __wasi_sock_accept(listeners[0], 0, &conn);
    printf("nonblocking accept: %d\n", err);
    for (int i = 0; i < n; i++) {
        if ((err = __wasi_fd_close(listeners[i]))) fail("fd_close", err);
    }
    printf("done\n");
    return 0;
}
