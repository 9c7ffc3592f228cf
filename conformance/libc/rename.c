/* rename: renames files and directories, replacing, moving between
 * directories and failing in the ways POSIX (and Linux) define; prints each
 * result with the errno name and message, then the resulting tree. */
#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) < 0) perror(path);
}

static void cat(const char *path) {
    char buf[64] = {0};
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("  %s: %s\n", path, errname(errno));
        return;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    printf("  %s: \"%.*s\"\n", path, n > 0 ? (int)n : 0, buf);
}

static void mv(const char *from, const char *to) {
    char label[160];
    snprintf(label, sizeof label, "rename %s -> %s", from, to);
    report(label, rename(from, to));
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void tree(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) {
        printf("%*s%s: %s\n", depth * 2, "", dir, errname(errno));
        return;
    }
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    for (size_t i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        lstat(path, &st);
        printf("%*s%s%s\n", depth * 2 + 2, "", names[i], S_ISDIR(st.st_mode) ? "/" : "");
        if (S_ISDIR(st.st_mode)) tree(path, depth + 1);
        free(names[i]);
    }
}

int main(void) {
    const char *t = "fs.dir/t.cleanup";
    report("mkdir t.cleanup", mkdir(t, 0755));
    report("mkdir t.cleanup/d1", mkdir("fs.dir/t.cleanup/d1", 0755));
    report("mkdir t.cleanup/d2", mkdir("fs.dir/t.cleanup/d2", 0755));
    report("mkdir t.cleanup/full", mkdir("fs.dir/t.cleanup/full", 0755));
    put("fs.dir/t.cleanup/a", "A");
    put("fs.dir/t.cleanup/b", "B");
    put("fs.dir/t.cleanup/full/x", "X");

    /* Files. */
    mv("fs.dir/t.cleanup/a", "fs.dir/t.cleanup/a2");
    cat("fs.dir/t.cleanup/a");
    cat("fs.dir/t.cleanup/a2");
    mv("fs.dir/t.cleanup/a2", "fs.dir/t.cleanup/b"); /* replaces b */
    cat("fs.dir/t.cleanup/b");
    mv("fs.dir/t.cleanup/b", "fs.dir/t.cleanup/b"); /* same file: no-op */
    cat("fs.dir/t.cleanup/b");
    mv("fs.dir/t.cleanup/b", "fs.dir/t.cleanup/d1/b"); /* into a directory */
    mv("fs.dir/t.cleanup/d1/b", "fs.dir/t.cleanup/d1/../c"); /* through .. */
    cat("fs.dir/t.cleanup/c");

    /* Directories. */
    mv("fs.dir/t.cleanup/d1", "fs.dir/t.cleanup/d3");
    mv("fs.dir/t.cleanup/d3", "fs.dir/t.cleanup/d2"); /* onto an empty dir */
    mv("fs.dir/t.cleanup/d2", "fs.dir/t.cleanup/d2/inside"); /* into itself */
    mv("fs.dir/t.cleanup/d2", "fs.dir/t.cleanup/full"); /* onto a non-empty dir */
    mv("fs.dir/t.cleanup/d2/", "fs.dir/t.cleanup/d4/"); /* trailing slashes */

    /* Errors. */
    mv("fs.dir/t.cleanup/missing", "fs.dir/t.cleanup/x");
    mv("fs.dir/t.cleanup/c", "fs.dir/t.cleanup/d4"); /* file onto dir */
    mv("fs.dir/t.cleanup/d4", "fs.dir/t.cleanup/c"); /* dir onto file */
    mv("fs.dir/t.cleanup/c", "fs.dir/t.cleanup/nodir/c");
    mv("fs.dir/t.cleanup/c", "fs.dir/t.cleanup/c/x"); /* through a file */
    mv("fs.dir/t.cleanup/c/", "fs.dir/t.cleanup/e"); /* file with a slash */
    mv("fs.dir/t.cleanup/c", "fs.dir/t.cleanup/e/"); /* to a slash name */

    /* Symlinks are renamed, not followed. */
    report("symlink c -> t.cleanup/l", symlink("c", "fs.dir/t.cleanup/l"));
    mv("fs.dir/t.cleanup/l", "fs.dir/t.cleanup/full/l");
    char target[64] = {0};
    ssize_t n = readlink("fs.dir/t.cleanup/full/l", target, sizeof target - 1);
    printf("  readlink full/l: %s\n", n >= 0 ? target : errname(errno));
    cat("fs.dir/t.cleanup/full/l"); /* dangling now: c is not in full/ */

    /* renameat with directory descriptors. */
    int d4 = open("fs.dir/t.cleanup/d4", O_RDONLY | O_DIRECTORY);
    int full = open("fs.dir/t.cleanup/full", O_RDONLY | O_DIRECTORY);
    report("renameat full/x -> d4/y", renameat(full, "x", d4, "y"));
    /* Not "../z": under WASI every directory descriptor is a sandbox root,
     * so a path may not climb out of it (ENOTCAPABLE), unlike natively. */
    report("renameat d4/y -> full/z", renameat(d4, "y", full, "z"));
    mv("fs.dir/t.cleanup/full/z", "fs.dir/t.cleanup/full/../z");
    close(d4);
    close(full);
    cat("fs.dir/t.cleanup/z");

    printf("tree:\n");
    tree(t, 0);
    return 0;
}
