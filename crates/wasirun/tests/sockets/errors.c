/* Socket calls that must fail with an errno, never a trap:
 *
 *   errors REFUSED_PORT PEER_PORT
 *
 * REFUSED_PORT has nobody listening on 127.0.0.1; PEER_PORT is a server
 * that accepts and closes at once. Prints `NAME ERRNO` lines. */
#include <stdio.h>
#include <stdlib.h>

#include "wasmedge.h"

static const uint8_t LOOPBACK[4] = {127, 0, 0, 1};

static void report(const char *name, uint32_t err) { printf("%s %u\n", name, err); }

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    uint32_t refused = atoi(argv[1]), peer = atoi(argv[2]);
    uint8_t storage[128];
    we_storage_v4(storage, LOOPBACK);
    we_address addr = {storage, sizeof storage};
    uint32_t fd;

    report("open_unix", we_sock_open(WE_UNIX, WE_STREAM, &fd));
    report("open_any", we_sock_open(WE_INET4, 0, &fd));
    report("open_bad_ptr", we_sock_open(WE_INET4, WE_STREAM, (uint32_t *)0xfffffff0));
    if (we_sock_open(WE_INET4, WE_STREAM, &fd)) return 1;
    report("connect_refused", we_sock_connect(fd, &addr, refused));
    report("connect_bad_ptr", we_sock_connect(fd, (we_address *)0xfffffff0, refused));
    we_address bad_len = {storage, 5};
    report("connect_bad_len", we_sock_connect(fd, &bad_len, refused));
    report("connect_bad_port", we_sock_connect(fd, &addr, 70000));
    report("bind_not_allowed", we_sock_bind(fd, &addr, 0));
    report("listen_unbound", we_sock_listen(fd, 1));
    uint32_t port;
    report("peeraddr_not_connected", we_sock_getpeeraddr(fd, &addr, &port));
    int32_t value = 1;
    report("setsockopt_read_only", we_sock_setsockopt(fd, 0, 1, &value, 4));
    report("setsockopt_bad_len", we_sock_setsockopt(fd, 0, 0, &value, 2));
    report("setsockopt_unknown", we_sock_setsockopt(fd, 0, 99, &value, 4));
    report("close_socket", __wasi_fd_close(fd));
    report("sock_on_stdout", we_sock_listen(1, 1));

    __wasi_fd_t opened;
    report("uri_bad", __wasi_path_open(3, 0, "tcp+listen://nowhere", 0, 0, 0, 0, &opened));
    report("uri_bad_option",
           __wasi_path_open(3, 0, "tcp+dial://127.0.0.1:1?bogus=1", 0, 0, 0, 0, &opened));
    report("uri_listen_not_allowed",
           __wasi_path_open(3, 0, "tcp+listen://127.0.0.1:0", 0, 0, 0, 0, &opened));
    char uri[64];
    snprintf(uri, sizeof uri, "tcp+dial://127.0.0.1:%u", refused);
    report("uri_dial_refused", __wasi_path_open(3, 0, uri, 0, 0, 0, 0, &opened));

    /* A peer that closed: writes end with EPIPE (or ECONNRESET), reads see
     * the end of the stream (or ECONNRESET). */
    snprintf(uri, sizeof uri, "tcp+dial://127.0.0.1:%u", peer);
    __wasi_errno_t err = __wasi_path_open(3, 0, uri, 0, 0, 0, 0, &opened);
    report("dial_peer", err);
    if (err) return 1;
    char byte = 0;
    __wasi_iovec_t in = {(uint8_t *)&byte, 1};
    __wasi_size_t n = 99;
    err = __wasi_fd_read(opened, &in, 1, &n);
    printf("read_closed %u %u\n", err, err ? 0u : (unsigned)n);
    for (int i = 0; i < 100; i++) {
        err = write_all(opened, "x", 1);
        if (err) break;
    }
    printf("write_closed %s\n", err == __WASI_ERRNO_PIPE || err == __WASI_ERRNO_CONNRESET
                                    ? "EPIPE-or-ECONNRESET"
                                    : "unexpected");
    report("close", __wasi_fd_close(opened));
    return 0;
}
