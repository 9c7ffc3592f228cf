/* Official: fd_readdir. An empty directory lists "." (with the directory's
 * inode) and ".."; a file shows with its type and inode; resuming from an
 * entry's d_next gives exactly the entries after it; a 256-byte buffer
 * walks 1000 files (a full buffer means "more"). */
#include "compat.h"

#define BUF_LEN 256
struct entry {
    __wasi_dirent_t d;
    char name[64];
};

/* Reads one buffer from `cookie`; returns the number of complete entries and
 * sets *eof when the buffer was not filled. */
static size_t list(__wasi_fd_t fd, __wasi_dircookie_t cookie, struct entry *out, size_t max,
                   int *eof) {
    uint8_t buf[BUF_LEN];
    size_t used = 0;
    want_errno("fd_readdir", __wasi_fd_readdir(fd, buf, BUF_LEN, cookie, &used), 0);
    want_true("fd_readdir.bufused<=len", used <= BUF_LEN);
    *eof = used < BUF_LEN;
    size_t n = 0, at = 0;
    while (at + sizeof(__wasi_dirent_t) <= used) {
        __wasi_dirent_t d;
        memcpy(&d, buf + at, sizeof d);
        if (at + sizeof d + d.d_namlen > used)
            break;
        want_true("fd_readdir.room", n < max && d.d_namlen < sizeof out[n].name);
        out[n].d = d;
        memcpy(out[n].name, buf + at + sizeof d, d.d_namlen);
        out[n].name[d.d_namlen] = 0;
        n++;
        at += sizeof d + d.d_namlen;
    }
    return n;
}

static struct entry *find(struct entry *e, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return &e[i];
    return NULL;
}

int main(int argc, char **argv) {
    test_name = "fd_readdir";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "readdir.cleanup");
    struct entry e[16];
    int eof;
    __wasi_filestat_t ds;
    want_errno("stat-dir", __wasi_fd_filestat_get(dir, &ds), 0);

    size_t n = list(dir, 0, e, 16, &eof);
    want_true("empty.eof", eof);
    want_eq("empty.count", n, 2);
    struct entry *dot = find(e, n, "."), *dotdot = find(e, n, "..");
    want_true("empty.has-dot-and-dotdot", dot && dotdot);
    want_eq("dot.type", dot->d.d_type, __WASI_FILETYPE_DIRECTORY);
    want_eq("dot.ino", dot->d.d_ino, ds.ino);
    want_eq("dot.namlen", dot->d.d_namlen, 1);
    want_eq("dotdot.type", dotdot->d.d_type, __WASI_FILETYPE_DIRECTORY);

    __wasi_fd_t fd;
    want_errno("create", open_at(dir, 0, "file", __WASI_OFLAGS_CREAT,
                                 __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE |
                                     __WASI_RIGHTS_FD_READDIR | __WASI_RIGHTS_FD_FILESTAT_GET,
                                 0, &fd), 0);
    __wasi_filestat_t fs;
    want_errno("stat-file", __wasi_fd_filestat_get(fd, &fs), 0);
    want_errno("close", __wasi_fd_close(fd), 0);

    n = list(dir, 0, e, 16, &eof);
    want_true("one.eof", eof);
    want_eq("one.count", n, 3);
    struct entry *f = find(e, n, "file");
    want_true("one.has-file", f != NULL);
    want_eq("file.type", f->d.d_type, __WASI_FILETYPE_REGULAR_FILE);
    want_eq("file.ino", f->d.d_ino, fs.ino);
    char last[64];
    strcpy(last, e[2].name);
    n = list(dir, e[1].d.d_next, e, 16, &eof);
    want_true("resume.eof", eof);
    want_eq("resume.count", n, 1);
    want_true("resume.is-last", strcmp(e[0].name, last) == 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);

    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "file.%d", i);
        want_errno("lots.create", open_at(dir, 0, name, __WASI_OFLAGS_CREAT,
                                          __WASI_RIGHTS_FD_READ, 0, NULL), 0);
    }
    size_t total = 0;
    __wasi_dircookie_t cookie = 0;
    for (;;) {
        n = list(dir, cookie, e, 16, &eof);
        total += n;
        if (eof)
            break;
        want_true("lots.progress", n > 0);
        cookie = e[n - 1].d.d_next;
    }
    want_eq("lots.total", total, 1002);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "file.%d", i);
        want_errno("lots.unlink", __wasi_path_unlink_file(dir, name), 0);
    }
    return finish();
}
