/* A client that sends a message and prints the reply.
 *
 *   client connect IP PORT MESSAGE   sock_open + sock_connect (WasmEdge)
 *   client dial URI MESSAGE          path_open(3, URI) (tcp+dial://)
 *   client preopen MESSAGE           the preopened connection at fd 3
 *
 * Sends MESSAGE, shuts down writing, reads the reply to the end and prints
 * `reply: ...`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasmedge.h"

static void fail(const char *what, int err) {
    printf("%s failed: %d\n", what, err);
    fflush(stdout);
    exit(1);
}

int main(int argc, char **argv) {
    __wasi_fd_t fd;
    const char *message;
    if (argc == 5 && strcmp(argv[1], "connect") == 0) {
        uint8_t ip[4];
        unsigned a, b, c, d;
        if (sscanf(argv[2], "%u.%u.%u.%u", &a, &b, &c, &d) != 4) return 2;
        ip[0] = a, ip[1] = b, ip[2] = c, ip[3] = d;
        uint32_t opened;
        uint32_t err = we_sock_open(WE_INET4, WE_STREAM, &opened);
        if (err) fail("sock_open", err);
        fd = opened;
        int32_t on = 1;
        if ((err = we_sock_setsockopt(fd, 6, 1, &on, 4))) fail("sock_setsockopt", err);
        uint8_t storage[128];
        we_storage_v4(storage, ip);
        we_address addr = {storage, sizeof storage};
        if ((err = we_sock_connect(fd, &addr, atoi(argv[3])))) fail("sock_connect", err);
        int32_t type = 0;
        uint32_t len = 4;
        if ((err = we_sock_getsockopt(fd, 0, 1, &type, &len))) fail("sock_getsockopt", err);
        uint8_t peer[128];
        we_address peer_addr = {peer, sizeof peer};
        uint32_t port;
        if ((err = we_sock_getpeeraddr(fd, &peer_addr, &port))) fail("sock_getpeeraddr", err);
        printf("type %d, peer %u.%u.%u.%u:%u\n", type, peer[2], peer[3], peer[4], peer[5], port);
        message = argv[4];
    } else if (argc == 4 && strcmp(argv[1], "dial") == 0) {
        __wasi_errno_t err = __wasi_path_open(3, 0, argv[2], 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
        if (err) fail("path_open", err);
        message = argv[3];
    } else if (argc == 3 && strcmp(argv[1], "preopen") == 0) {
        fd = 3;
        message = argv[2];
    } else {
        fprintf(stderr, "usage: client connect IP PORT MSG | dial URI MSG | preopen MSG\n");
        return 2;
    }
    __wasi_errno_t err = write_all(fd, message, strlen(message));
    if (err) fail("fd_write", err);
    if ((err = __wasi_sock_shutdown(fd, __WASI_SDFLAGS_WR))) fail("sock_shutdown", err);
    char reply[256];
    size_t used = 0;
    for (;;) {
        __wasi_iovec_t iov = {(uint8_t *)reply + used, sizeof reply - 1 - used};
        __wasi_size_t n;
        if ((err = __wasi_fd_read(fd, &iov, 1, &n))) fail("fd_read", err);
        if (n == 0) break;
        used += n;
    }
    reply[used] = 0;
    printf("reply: %s\n", reply);
    if ((err = __wasi_fd_close(fd))) fail("fd_close", err);
    return 0;
}
