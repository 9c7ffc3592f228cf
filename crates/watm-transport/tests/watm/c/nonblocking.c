/*
 * nonblocking.c: a WATER v0 transport module in C (wasi-libc), usable in
 * the three roles, carrying bytes unchanged (spec/watm-v0.md).
 *
 * Built as a WASI command, as TinyGo builds WATMs: the host runs `_start`
 * (hence `main`) at instantiation, and `_water_init` fails unless it ran.
 * Like TinyGo's runtime, it makes its connections nonblocking
 * (fd_fdstat_set_flags) and waits in poll() (poll_oneoff), for reading and,
 * when a write would block, for writing. Built by `cargo xtask
 * build-guests` (clang --target=wasm32-wasi).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module("env"), import_name(name)))

IMPORT("host_dial") int host_dial(void);
IMPORT("host_accept") int host_accept(void);

static int started;
static int conns[2] = {-1, -1};
static int cancel_fd = -1;
static char buf[65536];

int main(void) {
    started = 1;
    return 0;
}

/* The version, as a function (as TinyGo builds have it). */
EXPORT("_water_v0") void water_v0(void) {}

EXPORT("_water_init") int water_init(void) { return started ? 0 : -EINVAL; }

EXPORT("_water_cancel_with") int water_cancel_with(int fd) {
    cancel_fd = fd;
    return 0;
}

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        return -errno;
    }
    return 0;
}

/* Records the two connections to join; a WATER error if they cannot be
 * made nonblocking. */
static int join(int a, int b) {
    conns[0] = a;
    conns[1] = b;
    int error = set_nonblocking(a);
    return error ? error : set_nonblocking(b);
}

EXPORT("_water_dial") int water_dial(int caller) {
    int remote = host_dial();
    if (remote < 0) {
        return remote;
    }
    int error = join(caller, remote);
    return error ? error : remote;
}

EXPORT("_water_accept") int water_accept(int caller) {
    int source = host_accept();
    if (source < 0) {
        return source;
    }
    int error = join(caller, source);
    return error ? error : source;
}

EXPORT("_water_associate") int water_associate(void) {
    int source = host_accept();
    if (source < 0) {
        return source;
    }
    int remote = host_dial();
    if (remote < 0) {
        return remote;
    }
    return join(source, remote);
}

/* Writes all of p[0..n) to fd, waiting in poll() while it would block. */
static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t written = write(fd, p, n);
        if (written < 0) {
            if (errno != EAGAIN) {
                return -1;
            }
            struct pollfd out = {.fd = fd, .events = POLLOUT};
            if (poll(&out, 1, -1) < 0) {
                return -1;
            }
            continue;
        }
        p += written;
        n -= (size_t)written;
    }
    return 0;
}

/* Moves data both ways until both ends are done (end of stream on one side
 * shuts the other down for writing); -ECANCELED once cancelled. */
EXPORT("_water_worker") int water_worker(void) {
    int open[2] = {1, 1};
    while (open[0] || open[1]) {
        struct pollfd polled[3];
        int side[3];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++) {
            if (open[i]) {
                polled[n] = (struct pollfd){.fd = conns[i], .events = POLLIN};
                side[n++] = i;
            }
        }
        polled[n] = (struct pollfd){.fd = cancel_fd, .events = POLLIN};
        side[n++] = -1;
        if (poll(polled, n, -1) < 0) {
            return -errno;
        }
        for (nfds_t k = 0; k < n; k++) {
            if (!polled[k].revents) {
                continue;
            }
            int i = side[k];
            if (i < 0) {
                return -ECANCELED;
            }
            ssize_t got = read(conns[i], buf, sizeof buf);
            if (got < 0 && errno == EAGAIN) {
                continue;
            }
            if (got <= 0 || write_all(conns[1 - i], buf, (size_t)got) < 0) {
                open[i] = 0;
                shutdown(conns[1 - i], SHUT_WR);
            }
        }
    }
    return 0;
}
