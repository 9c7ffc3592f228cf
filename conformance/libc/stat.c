/* stat: the stat/lstat/fstat/fstatat fields WASI carries and that are
 * deterministic: file type, size (files and symlinks), link count of files,
 * inode and device identity (compared, never printed), and timestamps that
 * the program sets itself with utimensat/futimens. Permission bits, owners
 * and block counts are left out: WASI has none of them. */
#include "common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *type_name(mode_t m) {
    if (S_ISREG(m)) return "regular";
    if (S_ISDIR(m)) return "directory";
    if (S_ISLNK(m)) return "symlink";
    if (S_ISCHR(m)) return "char-device";
    if (S_ISBLK(m)) return "block-device";
    if (S_ISFIFO(m)) return "fifo";
    if (S_ISSOCK(m)) return "socket";
    return "unknown";
}

static void show(const char *label, int rc, const struct stat *st) {
    if (rc != 0) {
        report(label, rc);
        return;
    }
    printf("%s: %s", label, type_name(st->st_mode));
    if (!S_ISDIR(st->st_mode)) printf(" size=%lld", (long long)st->st_size);
    if (S_ISREG(st->st_mode)) printf(" nlink=%lu", (unsigned long)st->st_nlink);
    printf("\n");
}

static void do_stat(const char *path) {
    struct stat st;
    char label[128];
    snprintf(label, sizeof label, "stat %s", path);
    show(label, stat(path, &st), &st);
    snprintf(label, sizeof label, "lstat %s", path);
    show(label, lstat(path, &st), &st);
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

static void times(const char *label, const char *path, int flags) {
    struct stat st;
    if (fstatat(AT_FDCWD, path, &st, flags) != 0) {
        report(label, -1);
        return;
    }
    printf("%s: atime=%lld.%09ld mtime=%lld.%09ld\n", label, (long long)st.st_atim.tv_sec,
           st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

int main(void) {
    const char *paths[] = {"fs.dir",        "fs.dir/a.txt",   "fs.dir/empty.txt",
                           "fs.dir/sub",    "fs.dir/link.txt", "fs.dir/sublink",
                           "fs.dir/dangling", "fs.dir/missing", "fs.dir/a.txt/",
                           "fs.dir/a.txt/x", "fs.dir/sub/",   "fs.dir/sub/../b.txt",
                           "fs.dir/./sub/./c.txt", "fs.dir/sublink/deep/d.txt"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) do_stat(paths[i]);

    /* fstat agrees with stat. */
    struct stat a, b, c;
    int fd = open("fs.dir/b.txt", O_RDONLY);
    show("fstat b.txt", fstat(fd, &a), &a);
    stat("fs.dir/b.txt", &b);
    printf("fstat and stat name the same file: %s\n", same_file(&a, &b) ? "yes" : "no");
    close(fd);
    fd = open("fs.dir/sub", O_RDONLY | O_DIRECTORY);
    show("fstat sub (O_DIRECTORY)", fstat(fd, &a), &a);
    close(fd);

    /* Identity: a symlink's target, a hard link. */
    stat("fs.dir/link.txt", &a);
    stat("fs.dir/a.txt", &b);
    lstat("fs.dir/link.txt", &c);
    printf("stat through symlink is its target: %s\n", same_file(&a, &b) ? "yes" : "no");
    printf("lstat of symlink is another file: %s\n", same_file(&c, &b) ? "no" : "yes");
    printf("same device: %s\n", a.st_dev == c.st_dev ? "yes" : "no");

    /* A fresh file, written, hard-linked, truncated. */
    fd = open("fs.dir/new.cleanup", O_RDWR | O_CREAT | O_EXCL, 0644);
    show("fstat new file", fstat(fd, &a), &a);
    printf("write: %zd\n", write(fd, "0123456789", 10));
    show("fstat after write", fstat(fd, &a), &a);
    report("link new.cleanup hard.cleanup", link("fs.dir/new.cleanup", "fs.dir/hard.cleanup"));
    show("fstat after link", fstat(fd, &a), &a);
    stat("fs.dir/hard.cleanup", &b);
    printf("hard link is the same file: %s\n", same_file(&a, &b) ? "yes" : "no");
    report("ftruncate 4", ftruncate(fd, 4));
    show("stat hard.cleanup after ftruncate", stat("fs.dir/hard.cleanup", &b), &b);
    report("ftruncate 5000", ftruncate(fd, 5000));
    show("fstat after growing", fstat(fd, &a), &a);
    report("unlink new.cleanup", unlink("fs.dir/new.cleanup"));
    show("fstat after unlink", fstat(fd, &a), &a);
    close(fd);

    /* Timestamps the program sets itself. */
    struct timespec ts[2] = {{1000000000, 123456789}, {1234567890, 5}};
    report("utimensat hard.cleanup",
           utimensat(AT_FDCWD, "fs.dir/hard.cleanup", ts, 0));
    times("times hard.cleanup", "fs.dir/hard.cleanup", 0);
    struct timespec omit[2] = {{0, UTIME_OMIT}, {987654321, 0}};
    report("utimensat mtime only", utimensat(AT_FDCWD, "fs.dir/hard.cleanup", omit, 0));
    times("times hard.cleanup", "fs.dir/hard.cleanup", 0);
    fd = open("fs.dir/hard.cleanup", O_RDONLY);
    /* Not atime alone or UTIME_NOW: the wasi-libc of Debian 12 (2022-05)
     * fails those with EINVAL before calling the host. */
    struct timespec ts2[2] = {{2000000000, 999999999}, {987654321, 1}};
    report("futimens", futimens(fd, ts2));
    close(fd);
    times("times hard.cleanup", "fs.dir/hard.cleanup", 0);
    report("symlink hard.cleanup slink.cleanup", symlink("hard.cleanup", "fs.dir/slink.cleanup"));
    struct timespec ts3[2] = {{1500000000, 0}, {1500000001, 0}};
    report("utimensat slink.cleanup NOFOLLOW",
           utimensat(AT_FDCWD, "fs.dir/slink.cleanup", ts3, AT_SYMLINK_NOFOLLOW));
    times("times slink.cleanup (lstat)", "fs.dir/slink.cleanup", AT_SYMLINK_NOFOLLOW);
    times("times slink.cleanup (stat)", "fs.dir/slink.cleanup", 0);
    report("utimensat missing", utimensat(AT_FDCWD, "fs.dir/missing", ts, 0));

    /* access(F_OK) is existence only. */
    report("access a.txt", access("fs.dir/a.txt", F_OK));
    report("access missing", access("fs.dir/missing", F_OK));
    report("access dangling", access("fs.dir/dangling", F_OK));
    return 0;
}
