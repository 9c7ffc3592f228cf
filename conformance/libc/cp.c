/* cp: copies files with open/read/write loops (odd-sized buffers, so reads
 * and writes straddle), with stdio fread/fwrite, and through O_APPEND; then
 * verifies each copy byte for byte and prints sizes and FNV-1a checksums.
 * Everything it creates is named *.cleanup. */
#include "common.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t fnv(const unsigned char *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static unsigned char *slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0) { close(fd); free(buf); return NULL; }
        if (k == 0) break;
        n += (size_t)k;
    }
    close(fd);
    *len = n;
    return buf;
}

/* Copies with a read/write loop; returns bytes copied or -1. */
static long long copy_fd(const char *from, const char *to, size_t bufsize, int flags) {
    int in = open(from, O_RDONLY);
    if (in < 0) return -1;
    int out = open(to, O_WRONLY | O_CREAT | flags, 0644);
    if (out < 0) { int e = errno; close(in); errno = e; return -1; }
    unsigned char *buf = malloc(bufsize);
    long long total = 0;
    for (;;) {
        ssize_t k = read(in, buf, bufsize);
        if (k < 0) { total = -1; break; }
        if (k == 0) break;
        ssize_t off = 0;
        while (off < k) {
            ssize_t w = write(out, buf + off, (size_t)(k - off));
            if (w <= 0) { total = -1; break; }
            off += w;
        }
        if (total < 0) break;
        total += k;
    }
    free(buf);
    close(in);
    if (close(out) != 0) total = -1;
    return total;
}

static long long copy_stdio(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return -1;
    FILE *out = fopen(to, "wb");
    if (!out) { fclose(in); return -1; }
    char buf[1000];
    long long total = 0;
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0) {
        if (fwrite(buf, 1, k, out) != k) { total = -1; break; }
        total += (long long)k;
    }
    if (ferror(in)) total = -1;
    fclose(in);
    if (fclose(out) != 0) total = -1;
    return total;
}

static void verify(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *pa = slurp(a, &na), *pb = slurp(b, &nb);
    if (!pa || !pb) {
        printf("verify %s %s: cannot read: %s\n", a, b, errname(errno));
    } else {
        printf("verify %s: %zu bytes, fnv %08x, %s\n", b, nb, (unsigned)fnv(pb, nb),
               na == nb && memcmp(pa, pb, na) == 0 ? "identical" : "DIFFERENT");
    }
    free(pa);
    free(pb);
}

int main(void) {
    /* A generated source bigger than any single host buffer. */
    const char *big = "fs.dir/big.cleanup";
    int fd = open(big, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) { perror("open big"); return 1; }
    size_t total = 300007;
    unsigned char *data = malloc(total);
    uint32_t x = 12345;
    for (size_t i = 0; i < total; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (unsigned char)(x >> 16);
    }
    ssize_t w = write(fd, data, total); /* one large write */
    printf("wrote %zd bytes in one write\n", w);
    close(fd);
    free(data);

    long long n;
    n = copy_fd("fs.dir/b.txt", "fs.dir/b.cleanup", 7, O_TRUNC);
    printf("copy b.txt (7-byte buffer): %lld\n", n);
    verify("fs.dir/b.txt", "fs.dir/b.cleanup");

    n = copy_fd(big, "fs.dir/big-copy.cleanup", 65537, O_TRUNC);
    printf("copy big (65537-byte buffer): %lld\n", n);
    verify(big, "fs.dir/big-copy.cleanup");

    n = copy_fd("fs.dir/empty.txt", "fs.dir/empty.cleanup", 16, O_TRUNC);
    printf("copy empty: %lld\n", n);
    verify("fs.dir/empty.txt", "fs.dir/empty.cleanup");

    n = copy_stdio("fs.dir/sub/deep/d.txt", "fs.dir/d-stdio.cleanup");
    printf("copy d.txt with stdio: %lld\n", n);
    verify("fs.dir/sub/deep/d.txt", "fs.dir/d-stdio.cleanup");

    n = copy_stdio("fs.dir/link.txt", "fs.dir/via-link.cleanup");
    printf("copy through symlink: %lld\n", n);
    verify("fs.dir/a.txt", "fs.dir/via-link.cleanup");

    /* Into a new directory. */
    printf("mkdir out.cleanup: %s\n", errname(mkdir("fs.dir/out.cleanup", 0755) ? errno : 0));
    n = copy_fd("fs.dir/a.txt", "fs.dir/out.cleanup/a.txt", 3, O_TRUNC);
    printf("copy into dir: %lld\n", n);

    /* Appending twice gives the concatenation. */
    copy_fd("fs.dir/a.txt", "fs.dir/cat.cleanup", 5, O_APPEND);
    copy_fd("fs.dir/sub/c.txt", "fs.dir/cat.cleanup", 5, O_APPEND);
    size_t len = 0;
    unsigned char *cat = slurp("fs.dir/cat.cleanup", &len);
    printf("appended: %zu bytes: %.*s", len, (int)len, (const char *)cat);
    free(cat);

    /* Overwriting a longer file with O_TRUNC leaves no tail. */
    copy_fd("fs.dir/a.txt", "fs.dir/b.cleanup", 64, O_TRUNC);
    verify("fs.dir/a.txt", "fs.dir/b.cleanup");

    /* Failures. */
    n = copy_fd("fs.dir/nope.txt", "fs.dir/nope.cleanup", 8, O_TRUNC);
    report("copy from missing", (int)n);
    n = copy_fd("fs.dir/a.txt", "fs.dir/b.cleanup", 8, O_EXCL);
    report("copy onto existing with O_EXCL", (int)n);
    n = copy_fd("fs.dir/a.txt", "fs.dir/sub", 8, O_TRUNC);
    report("copy onto a directory", (int)n);
    n = copy_fd("fs.dir/sub", "fs.dir/dir.cleanup", 8, O_TRUNC);
    report("copy from a directory", (int)n);
    n = copy_fd("fs.dir/a.txt", "fs.dir/no-such-dir/x.cleanup", 8, O_TRUNC);
    report("copy into missing dir", (int)n);
    return 0;
}
