/* Official: poll_oneoff_stdio. Polling stdin for reading with a timeout
 * gives a successful read or clock event; stdout and stderr report
 * writable (without errors) before a 200 ms clock fires. */
#include "compat.h"

#define TIMEOUT_NS 200000000ull
#define CLOCK_TAG 0x12345678ull
#define STDIN_TAG 0x87654321ull

static __wasi_subscription_t clock_sub(void) {
    __wasi_subscription_t s;
    memset(&s, 0, sizeof s);
    s.userdata = CLOCK_TAG;
    s.u.tag = __WASI_EVENTTYPE_CLOCK;
    s.u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
    s.u.u.clock.timeout = TIMEOUT_NS;
    return s;
}

static __wasi_subscription_t fd_sub(__wasi_userdata_t tag, __wasi_eventtype_t type,
                                    __wasi_fd_t fd) {
    __wasi_subscription_t s;
    memset(&s, 0, sizeof s);
    s.userdata = tag;
    s.u.tag = type;
    if (type == __WASI_EVENTTYPE_FD_READ)
        s.u.u.fd_read.file_descriptor = fd;
    else
        s.u.u.fd_write.file_descriptor = fd;
    return s;
}

int main(void) {
    test_name = "poll_oneoff_stdio";
    __wasi_subscription_t in[3];
    __wasi_event_t out[3];
    size_t n = 0;

    in[0] = clock_sub();
    in[1] = fd_sub(STDIN_TAG, __WASI_EVENTTYPE_FD_READ, 0);
    want_errno("stdin.poll", __wasi_poll_oneoff(in, out, 2, &n), 0);
    want_true("stdin.some-event", n >= 1);
    for (size_t i = 0; i < n; i++) {
        want_errno("stdin.event-error", out[i].error, 0);
        if (out[i].type == __WASI_EVENTTYPE_CLOCK)
            want_eq("stdin.clock-userdata", out[i].userdata, CLOCK_TAG);
        else if (out[i].type == __WASI_EVENTTYPE_FD_READ)
            want_eq("stdin.read-userdata", out[i].userdata, STDIN_TAG);
        else
            fail_num("stdin.event-type", out[i].type, __WASI_EVENTTYPE_FD_READ);
    }

    int pending[3] = {0, 1, 1}; /* stdout, stderr */
    while (pending[1] || pending[2]) {
        size_t k = 0;
        for (__wasi_fd_t fd = 1; fd <= 2; fd++)
            if (pending[fd])
                in[k++] = fd_sub(fd, __WASI_EVENTTYPE_FD_WRITE, fd);
        in[k++] = clock_sub();
        want_errno("write.poll", __wasi_poll_oneoff(in, out, k, &n), 0);
        for (size_t i = 0; i < n; i++) {
            if (out[i].userdata == CLOCK_TAG)
                fail_msg("write.timed-out");
            want_true("write.known-userdata",
                      out[i].userdata <= 2 && pending[out[i].userdata]);
            want_eq("write.event-type", out[i].type, __WASI_EVENTTYPE_FD_WRITE);
            want_errno("write.event-error", out[i].error, 0);
            pending[out[i].userdata] = 0;
        }
    }
    return finish();
}
