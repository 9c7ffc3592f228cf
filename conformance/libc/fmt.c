/* fmt: printf/scanf conversions that must agree between glibc and musl,
 * including floating point (exactly rounded decimal conversion), strtod,
 * strtol with errors, snprintf truncation, and correctly rounded libm
 * functions (sqrt, fma, floor...; not sin/exp, whose last digit may differ
 * between libms). */
#include "common.h"

#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

int main(void) {
    double values[] = {0.0, -0.0, 1.0, 0.1, 1.0 / 3, 2.5, 3.5, -2.5, 1e300, 1e-300,
                       123456789.125, DBL_MAX, DBL_MIN, 5e-324, 0.3};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        double v = values[i];
        printf("%%f=%f %%.2f=%.2f %%e=%e %%g=%g %%.17g=%.17g %%.0f=%.0f\n", v, v, v, v, v, v);
    }
    printf("big: %.0f\n", 1e300);
    printf("inf: %f %F %e %g; -inf: %f; nan: %f %F\n", INFINITY, INFINITY, INFINITY, INFINITY,
           -INFINITY, NAN, NAN);
    printf("widths: [%10.3f] [%-10.3f] [%+.1f] [% .1f] [%010.2f] [%#.0f] [%#g]\n", 3.14159,
           3.14159, 2.0, 2.0, -3.5, 3.0, 1.0);
    printf("float: %f %.9g\n", 0.1f, (double)0.1f);
    printf("ints: %d %i %u %x %X %o %#x %#o %5d|%-5d|%05d %+d\n", -42, 42, 42u, 255u, 255u, 8u,
           255u, 8u, 42, 42, 42, 42);
    printf("limits: %d %d %u %lld %lld %llu\n", INT_MIN, INT_MAX, UINT_MAX, LLONG_MIN, LLONG_MAX,
           ULLONG_MAX);
    printf("sized: %zu %zd %" PRId64 " %" PRIu64 " %" PRIx32 " %hhd %hd\n", (size_t)123,
           (ssize_t)-5, INT64_MIN, UINT64_MAX, (uint32_t)0xdeadbeef, (signed char)-1, (short)-2);
    printf("strings: [%s] [%10s] [%-10s] [%.3s] [%c] [%%]\n", "abc", "abc", "abc", "abcdef", 'z');

    char small[8];
    const char *volatile text = "a long string";
    int n = snprintf(small, sizeof small, "%s", text);
    printf("snprintf: %d \"%s\"\n", n, small);
    n = snprintf(NULL, 0, "%d-%d", 1234, 5678);
    printf("snprintf(NULL, 0): %d\n", n);

    const char *numbers[] = {"3.14159", "1e10", "-0.0", "0x1.8p1", "inf", "nan", "1e400",
                             "1e-400", "  42abc", "abc", ".5", "5."};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        char *end;
        errno = 0;
        double d = strtod(numbers[i], &end);
        int e = errno;
        /* Only ERANGE is compared: musl also sets EINVAL when nothing
         * converts, which POSIX allows and glibc does not do. */
        printf("strtod(\"%s\") = %.17g, rest \"%s\"%s\n", numbers[i], d, end,
               e == ERANGE ? ", ERANGE" : "");
    }
    const char *ints[] = {"123", "-123", "0x1f", "077", "99999999999999999999", "12abc", "", "z"};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        char *end;
        errno = 0;
        long long v = strtoll(ints[i], &end, 0);
        int e = errno;
        printf("strtoll(\"%s\", 0) = %lld, rest \"%s\"%s\n", ints[i], v, end,
               e == ERANGE ? ", ERANGE" : "");
    }
    printf("strtol base 2: %ld, base 36: %ld\n", strtol("1011", NULL, 2), strtol("zz", NULL, 36));
    printf("atoi: %d %d\n", atoi("  -17x"), atoi("x"));

    int a, b;
    char s[16];
    float f;
    n = sscanf("7 8 word 2.75", "%d %d %15s %f", &a, &b, s, &f);
    printf("sscanf: %d -> %d %d %s %.2f\n", n, a, b, s, f);
    n = sscanf("x", "%d", &a);
    printf("sscanf mismatch: %d\n", n);
    n = sscanf("", "%d", &a);
    printf("sscanf empty: %d\n", n);

    printf("libm: sqrt(2)=%.17g fma=%.17g floor(-2.5)=%g ceil(-2.5)=%g round(2.5)=%g "
           "trunc(-2.7)=%g fmod(7,3)=%g fabs(-0)=%g hypot(3,4)=%g\n",
           sqrt(2.0), fma(0.1, 10.0, -1.0), floor(-2.5), ceil(-2.5), round(2.5), trunc(-2.7),
           fmod(7.0, 3.0), fabs(-0.0), hypot(3.0, 4.0));
    printf("rint(2.5)=%g nearbyint(3.5)=%g ldexp(1,-1074)=%g frexp: ", rint(2.5),
           nearbyint(3.5), ldexp(1.0, -1074));
    int ex;
    double m = frexp(48.0, &ex);
    printf("%g * 2^%d\n", m, ex);
    printf("classify: %d %d %d %d\n", isnan(NAN) != 0, isinf(-INFINITY) != 0,
           isfinite(1.0) != 0, signbit(-0.0) != 0);
    printf("rounding %g: %.1f %.1f %.1f %.1f\n", 0.25, 0.25, 0.35, 0.45, -0.25);
    return 0;
}
