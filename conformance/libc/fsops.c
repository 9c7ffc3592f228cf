/* fsops: mkdir/rmdir/unlink/remove, symlink/readlink, link, open flags and
 * the errno each failure gives (ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY,
 * EINVAL, ELOOP), and *at() calls relative to directory descriptors.
 * Symlink targets are relative: an absolute target names a host path,
 * which WASI cannot follow the same way. */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define D "fs.dir/ops.cleanup"

static void rl(const char *path) {
    char buf[64];
    ssize_t n = readlink(path, buf, sizeof buf);
    char label[128];
    snprintf(label, sizeof label, "readlink %s", path);
    if (n >= 0)
        printf("%s: \"%.*s\"\n", label, (int)n, buf);
    else
        report(label, -1);
}

static void op(const char *what, const char *path, int flags) {
    char label[128];
    snprintf(label, sizeof label, "open %s %s", what, path);
    int fd = open(path, flags, 0644);
    report(label, fd);
    if (fd >= 0) close(fd);
}

int main(void) {
    report("mkdir " D, mkdir(D, 0755));
    report("mkdir " D " again", mkdir(D, 0755));
    report("mkdir " D "/a/b (no parent)", mkdir(D "/a/b", 0755));
    report("mkdir fs.dir/a.txt", mkdir("fs.dir/a.txt", 0755));
    report("mkdir fs.dir/a.txt/x", mkdir("fs.dir/a.txt/x", 0755));
    report("mkdir " D "/a/", mkdir(D "/a/", 0755));
    report("mkdir " D "/a/b", mkdir(D "/a/b", 0755));
    report("mkdir fs.dir/link.txt (symlink)", mkdir("fs.dir/link.txt", 0755));

    /* open flags */
    op("O_CREAT|O_EXCL", D "/f", O_WRONLY | O_CREAT | O_EXCL);
    op("O_CREAT|O_EXCL", D "/f", O_WRONLY | O_CREAT | O_EXCL);
    op("O_RDONLY", D "/missing", O_RDONLY);
    op("O_RDONLY", "fs.dir/a.txt/x", O_RDONLY);
    op("O_WRONLY", D "/a", O_WRONLY);
    op("O_RDWR", D "/a", O_RDWR);
    op("O_RDONLY|O_DIRECTORY", D "/a", O_RDONLY | O_DIRECTORY);
    op("O_RDONLY|O_DIRECTORY", D "/f", O_RDONLY | O_DIRECTORY);
    op("O_CREAT", D "/a/", O_WRONLY | O_CREAT);
    op("O_CREAT", D "/new/", O_WRONLY | O_CREAT);
    op("O_CREAT", D "/nodir/f", O_WRONLY | O_CREAT);
    op("O_NOFOLLOW", "fs.dir/link.txt", O_RDONLY | O_NOFOLLOW);
    op("O_NOFOLLOW", "fs.dir/a.txt", O_RDONLY | O_NOFOLLOW);
    op("O_CREAT|O_EXCL", "fs.dir/dangling", O_WRONLY | O_CREAT | O_EXCL);
    op("O_RDONLY", "fs.dir/dangling", O_RDONLY);

    /* symlinks */
    report("symlink f -> " D "/s", symlink("f", D "/s"));
    report("symlink f -> " D "/s again", symlink("f", D "/s"));
    report("symlink a/b -> " D "/sd", symlink("a/b", D "/sd"));
    report("symlink loop1 -> " D "/loop2", symlink("loop1", D "/loop2"));
    report("symlink loop2 -> " D "/loop1", symlink("loop2", D "/loop1"));
    report("symlink x -> " D "/nodir/s", symlink("x", D "/nodir/s"));
    rl(D "/s");
    rl(D "/sd");
    rl(D "/f");
    rl(D "/missing");
    rl("fs.dir/sublink");
    op("O_RDONLY", D "/loop1", O_RDONLY);
    {
        char buf[3];
        ssize_t n = readlink("fs.dir/dangling", buf, sizeof buf);
        printf("readlink into a 3-byte buffer: %zd \"%.*s\"\n", n, n > 0 ? (int)n : 0, buf);
    }
    report("mkdir through " D "/sd/c", mkdir(D "/sd/c", 0755));
    op("O_CREAT", D "/s", O_WRONLY | O_CREAT); /* creates nothing new: f exists */

    /* hard links */
    report("link f -> " D "/h", link(D "/f", D "/h"));
    report("link f -> " D "/h again", link(D "/f", D "/h"));
    report("link dir a -> " D "/ha", link(D "/a", D "/ha"));
    report("link missing", link(D "/missing", D "/hm"));

    /* unlink, rmdir, remove */
    report("unlink " D "/a (dir)", unlink(D "/a"));
    report("rmdir " D "/f (file)", rmdir(D "/f"));
    report("rmdir " D "/a (not empty)", rmdir(D "/a"));
    report("rmdir " D "/a/b/c", rmdir(D "/a/b/c"));
    report("rmdir " D "/a/b/c/", rmdir(D "/a/b/c/"));
    report("rmdir " D "/sd (symlink to dir)", rmdir(D "/sd"));
    report("unlink " D "/sd", unlink(D "/sd"));
    report("unlink " D "/f", unlink(D "/f"));
    report("unlink " D "/f again", unlink(D "/f"));
    report("unlink " D "/h/", unlink(D "/h/"));
    report("unlink " D "/loop1", unlink(D "/loop1"));
    report("remove " D "/a/b (dir)", remove(D "/a/b"));
    report("remove " D "/s (dangling symlink)", remove(D "/s"));
    report("remove " D "/missing", remove(D "/missing"));
    report("rmdir fs.dir/.", rmdir("fs.dir/."));

    /* *at() relative to a directory descriptor */
    int dfd = open(D, O_RDONLY | O_DIRECTORY);
    report("open " D " O_DIRECTORY", dfd);
    report("mkdirat dfd m", mkdirat(dfd, "m", 0755));
    int fd = openat(dfd, "m/f", O_WRONLY | O_CREAT | O_EXCL, 0644);
    report("openat dfd m/f", fd);
    report("write", (int)write(fd, "at\n", 3));
    close(fd);
    report("symlinkat m/f -> dfd ms", symlinkat("m/f", dfd, "ms"));
    char buf[16] = {0};
    printf("readlinkat dfd ms: %zd %s\n", readlinkat(dfd, "ms", buf, sizeof buf - 1), buf);
    struct stat st;
    report("fstatat dfd ms", fstatat(dfd, "ms", &st, 0));
    printf("  size %lld regular %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
    report("linkat dfd m/f -> dfd mh", linkat(dfd, "m/f", dfd, "mh", 0));
    report("unlinkat dfd m (AT_REMOVEDIR, not empty)", unlinkat(dfd, "m", AT_REMOVEDIR));
    report("unlinkat dfd m/f", unlinkat(dfd, "m/f", 0));
    report("unlinkat dfd m (AT_REMOVEDIR)", unlinkat(dfd, "m", AT_REMOVEDIR));
    report("faccessat dfd mh", faccessat(dfd, "mh", F_OK, 0));
    report("unlinkat dfd ms", unlinkat(dfd, "ms", 0));
    close(dfd);

    /* What is left, sorted. */
    DIR *d = opendir(D);
    char *names[32];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 32)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    printf("left in " D ":");
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");
    return 0;
}
