/* stdio: buffered and unbuffered file I/O: fopen modes, fgets/fputs,
 * fprintf/fscanf, fseek/ftell/rewind, ungetc, feof/ferror, append mode,
 * read-past-end, lseek holes, pread/pwrite, readv/writev, ftruncate,
 * and stdin at end of file. WASI has no dup(), so it is left out. */
#include "common.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static void dump(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("dump %s: %s\n", path, errname(errno));
        return;
    }
    printf("dump %s: \"", path);
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') printf("\\n");
        else if (c == 0) printf("\\0");
        else putchar(c);
    }
    printf("\"\n");
    fclose(f);
}

int main(void) {
    char line[128];

    /* Reading lines. */
    FILE *f = fopen("fs.dir/b.txt", "r");
    int n = 0;
    while (fgets(line, sizeof line, f)) printf("line %d: %s", ++n, line);
    long pos = ftell(f);
    printf("feof %d ferror %d ftell %ld\n", feof(f) != 0, ferror(f) != 0, pos);
    /* Arguments are evaluated in an unspecified order (gcc and clang differ),
     * so every call whose effect matters is its own statement. */
    int rc = fseek(f, 5, SEEK_SET);
    printf("fseek SEEK_SET 5: %d ftell %ld\n", rc, ftell(f));
    printf("fgetc: %c\n", fgetc(f));
    int c = ungetc('X', f);
    printf("ungetc X: %c", c);
    printf(", fgetc: %c\n", fgetc(f));
    rc = fseek(f, 3, SEEK_CUR);
    printf("fseek SEEK_CUR 3: %d ftell %ld\n", rc, ftell(f));
    printf("fgets: %s", fgets(line, sizeof line, f));
    rc = fseek(f, -6, SEEK_END);
    printf("fseek SEEK_END -6: %d ftell %ld\n", rc, ftell(f));
    printf("fgets: %s", fgets(line, sizeof line, f));
    rc = fseek(f, 10, SEEK_END);
    printf("fseek SEEK_END +10: %d ftell %ld\n", rc, ftell(f));
    c = fgetc(f);
    printf("fgetc past end: %d feof %d\n", c, feof(f) != 0);
    errno = 0;
    rc = fseek(f, -1, SEEK_SET);
    printf("fseek -1: %d %s\n", rc, errname(errno));
    rewind(f);
    pos = ftell(f);
    printf("rewind: ftell %ld feof %d\n", pos, feof(f) != 0);
    rc = fputs("x", f);
    printf("fputs on a read-only stream: %d ferror %d\n", rc >= 0, ferror(f) != 0);
    fclose(f);

    /* Writing, formatting, scanning. */
    f = fopen("fs.dir/w.cleanup", "w+");
    fprintf(f, "%d %s %.3f\n", 42, "answer", 2.5);
    fputs("second line\n", f);
    printf("ftell after writes: %ld\n", ftell(f));
    rewind(f);
    int num;
    char word[32];
    double d;
    rc = fscanf(f, "%d %31s %lf", &num, word, &d);
    printf("fscanf: %d", rc);
    printf(" -> %d %s %.3f\n", num, word, d);
    fseek(f, 0, SEEK_END);
    fputs("third\n", f);
    fclose(f);
    dump("fs.dir/w.cleanup");

    /* "r+" overwrites in place; "a" appends whatever the position. */
    f = fopen("fs.dir/w.cleanup", "r+");
    fseek(f, 3, SEEK_SET);
    fputs("ANSWER", f);
    fclose(f);
    f = fopen("fs.dir/w.cleanup", "a");
    /* Not ftell here: glibc reports the end of file, musl 0, before the
     * first write to an append stream. */
    fputs("appended\n", f);
    fseek(f, 0, SEEK_SET);
    fputs("also appended\n", f);
    fclose(f);
    dump("fs.dir/w.cleanup");
    f = fopen("fs.dir/w.cleanup", "a+");
    printf("a+ first read: %s", fgets(line, sizeof line, f));
    fclose(f);
    printf("fopen r missing: %s\n", fopen("fs.dir/nope", "r") ? "opened" : errname(errno));
    printf("fopen w in missing dir: %s\n", fopen("fs.dir/nodir/x", "w") ? "opened" : errname(errno));
    printf("fopen wx existing: %s\n", fopen("fs.dir/w.cleanup", "wx") ? "opened" : errname(errno));

    /* Descriptors: holes, pread/pwrite, readv/writev, truncate. */
    int fd = open("fs.dir/raw.cleanup", O_RDWR | O_CREAT | O_TRUNC, 0644);
    printf("write: %zd\n", write(fd, "abc", 3));
    printf("lseek 10 SEEK_SET: %lld\n", (long long)lseek(fd, 10, SEEK_SET));
    printf("write: %zd\n", write(fd, "xyz", 3));
    printf("lseek 0 SEEK_END: %lld\n", (long long)lseek(fd, 0, SEEK_END));
    printf("lseek -2 SEEK_CUR: %lld\n", (long long)lseek(fd, -2, SEEK_CUR));
    errno = 0;
    long long off = lseek(fd, -100, SEEK_CUR);
    printf("lseek -100 SEEK_CUR: %lld %s\n", off, errname(errno));
    printf("pwrite at 4: %zd\n", pwrite(fd, "PW", 2, 4));
    printf("position after pwrite: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    char buf[32] = {0};
    ssize_t got = pread(fd, buf, 5, 2);
    printf("pread 5 at 2: %zd\n", got);
    printf("  bytes: %02x %02x %02x %02x %02x\n", buf[0], buf[1], buf[2], buf[3], buf[4]);
    printf("pread at 100: %zd\n", pread(fd, buf, 5, 100));
    struct iovec iov[3] = {{"one ", 4}, {"", 0}, {"two\n", 4}};
    lseek(fd, 0, SEEK_END);
    printf("writev: %zd\n", writev(fd, iov, 3));
    char a[5] = {0}, b[100] = {0};
    struct iovec riov[2] = {{a, 4}, {b, sizeof b - 1}};
    lseek(fd, 0, SEEK_SET);
    got = readv(fd, riov, 2);
    printf("readv: %zd, first 4: %.3s\n", got, a);
    printf("read at end: %zd\n", read(fd, buf, sizeof buf));
    printf("ftruncate 8: %d\n", ftruncate(fd, 8));
    printf("position after truncate: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
    close(fd);
    dump("fs.dir/raw.cleanup");
    got = write(fd, "x", 1);
    printf("write to closed fd: %zd %s\n", got, errname(errno));
    fd = open("fs.dir/sub", O_RDONLY);
    got = read(fd, buf, 4);
    printf("read from a directory: %zd %s\n", got, errname(errno));
    close(fd);

    /* stdin is /dev/null. */
    char *r = fgets(line, sizeof line, stdin);
    printf("stdin: fgets %s, feof %d\n", r ? "data" : "NULL", feof(stdin) != 0);
    fprintf(stderr, "to stderr\n");
    fflush(stdout);
    write(1, "raw write to fd 1\n", 18);
    return 0;
}
