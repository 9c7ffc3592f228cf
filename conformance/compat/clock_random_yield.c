/* Official: clock_time_get, big_random_buf, sched_yield. */
#include "compat.h"

int main(void) {
    test_name = "clock_random_yield";
    __wasi_timestamp_t a, b;
    want_errno("clock.precision1", __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &a), 0);
    want_errno("clock.first", __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 0, &a), 0);
    want_errno("clock.second", __wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 0, &b), 0);
    want_true("clock.monotonic", a <= b);
    static uint8_t buf[1024];
    want_errno("random_get", __wasi_random_get(buf, sizeof buf), 0);
    int nonzero = 0;
    for (size_t i = 0; i < sizeof buf; i++)
        nonzero |= buf[i];
    want_true("random.not-all-zero", nonzero != 0);
    want_errno("sched_yield", __wasi_sched_yield(), 0);
    return finish();
}
