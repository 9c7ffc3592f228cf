/* The WasmEdge sockets extension (v2), as spec/sockets.md describes it. */
#include <stdint.h>
#include <wasi/api.h>

#define WASMEDGE(name) \
    __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))

/* __wasi_address_t: where an address's bytes are (4, 16 or 128 of them). */
typedef struct {
    uint8_t *buf;
    uint32_t buf_len;
} we_address;

enum { WE_INET4 = 1, WE_INET6 = 2, WE_UNIX = 3 };
enum { WE_DGRAM = 1, WE_STREAM = 2 };

WASMEDGE(sock_open) uint32_t we_sock_open(uint32_t af, uint32_t type, uint32_t *fd);
WASMEDGE(sock_bind) uint32_t we_sock_bind(uint32_t fd, we_address *addr, uint32_t port);
WASMEDGE(sock_listen) uint32_t we_sock_listen(uint32_t fd, int32_t backlog);
WASMEDGE(sock_connect) uint32_t we_sock_connect(uint32_t fd, we_address *addr, uint32_t port);
WASMEDGE(sock_getlocaladdr)
uint32_t we_sock_getlocaladdr(uint32_t fd, we_address *addr, uint32_t *port);
WASMEDGE(sock_getpeeraddr)
uint32_t we_sock_getpeeraddr(uint32_t fd, we_address *addr, uint32_t *port);
WASMEDGE(sock_setsockopt)
uint32_t we_sock_setsockopt(uint32_t fd, uint32_t level, uint32_t name, int32_t *value,
                            uint32_t len);
WASMEDGE(sock_getsockopt)
uint32_t we_sock_getsockopt(uint32_t fd, uint32_t level, uint32_t name, int32_t *value,
                            uint32_t *len);

/* A 128-byte address storage holding an IPv4 address. */
static inline void we_storage_v4(uint8_t storage[128], const uint8_t ip[4]) {
    for (int i = 0; i < 128; i++) storage[i] = 0;
    storage[0] = WE_INET4;
    for (int i = 0; i < 4; i++) storage[2 + i] = ip[i];
}

/* Writes all of buf to fd; returns 0 or an errno. */
static inline __wasi_errno_t write_all(__wasi_fd_t fd, const void *buf, size_t len) {
    const uint8_t *p = buf;
    while (len > 0) {
        __wasi_ciovec_t iov = {p, len};
        __wasi_size_t n;
        __wasi_errno_t err = __wasi_fd_write(fd, &iov, 1, &n);
        if (err) return err;
        p += n;
        len -= n;
    }
    return 0;
}
