/* time: clock sanity that holds natively and under WASI alike, printing
 * only verdicts (never the times themselves): time() is after 2020 and
 * agrees with clock_gettime(CLOCK_REALTIME) and gettimeofday; the
 * monotonic clock never goes back; nanosleep and usleep sleep at least as
 * long as asked; clock_getres is positive; gmtime/strftime of a fixed
 * instant. */
#include "common.h"

#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int64_t ns(const struct timespec *t) {
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void check(const char *what, int ok) {
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
}

int main(void) {
    time_t now = time(NULL);
    time_t also;
    time(&also);
    check("time() is after 2020-01-01", now > 1577836800);
    check("time(&t) stores what it returns", also >= now && also - now < 5);

    struct timespec rt;
    check("clock_gettime(CLOCK_REALTIME)", clock_gettime(CLOCK_REALTIME, &rt) == 0);
    check("CLOCK_REALTIME agrees with time()", rt.tv_sec >= now && rt.tv_sec - now < 5);
    check("tv_nsec in range", rt.tv_nsec >= 0 && rt.tv_nsec < 1000000000);
    struct timeval tv;
    check("gettimeofday", gettimeofday(&tv, NULL) == 0);
    check("gettimeofday agrees", tv.tv_sec >= now && tv.tv_sec - now < 5 && tv.tv_usec < 1000000);

    struct timespec res;
    check("clock_getres(CLOCK_MONOTONIC)", clock_getres(CLOCK_MONOTONIC, &res) == 0);
    check("resolution positive and at most 1ms", ns(&res) > 0 && ns(&res) <= 1000000);
    check("clock_getres(CLOCK_REALTIME)", clock_getres(CLOCK_REALTIME, &res) == 0);

    struct timespec prev, cur;
    clock_gettime(CLOCK_MONOTONIC, &prev);
    int backwards = 0;
    for (int i = 0; i < 10000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &cur);
        if (ns(&cur) < ns(&prev)) backwards++;
        prev = cur;
    }
    check("monotonic never goes back in 10000 reads", backwards == 0);

    struct timespec before, after, req = {0, 20 * 1000000};
    clock_gettime(CLOCK_MONOTONIC, &before);
    int rc = nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &after);
    check("nanosleep(20ms) returns 0", rc == 0);
    check("nanosleep slept at least 20ms", ns(&after) - ns(&before) >= 20 * 1000000);
    check("nanosleep slept less than 5s", ns(&after) - ns(&before) < 5000000000LL);

    clock_gettime(CLOCK_MONOTONIC, &before);
    usleep(15000);
    clock_gettime(CLOCK_MONOTONIC, &after);
    check("usleep(15ms) slept at least 15ms", ns(&after) - ns(&before) >= 15 * 1000000);

    struct timespec rt2;
    clock_gettime(CLOCK_REALTIME, &rt2);
    check("realtime advanced across the sleeps", ns(&rt2) - ns(&rt) >= 35 * 1000000);

    errno = 0;
    struct timespec bad = {0, 2000000000};
    rc = nanosleep(&bad, NULL);
    printf("nanosleep with tv_nsec out of range: %d %s\n", rc, errname(errno));

    time_t fixed = 1234567890;
    struct tm tm;
    gmtime_r(&fixed, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %a %b %j", &tm);
    printf("gmtime(1234567890): %s, wday %d yday %d\n", buf, tm.tm_wday, tm.tm_yday);
    printf("timegm back: %lld\n", (long long)timegm(&tm));
    return 0;
}
