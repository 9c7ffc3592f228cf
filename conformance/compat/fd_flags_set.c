/* Official: fd_flags_set. An append descriptor writes at the end whatever
 * the offset; fd_fdstat_set_flags(0) turns append off. */
#include "compat.h"

static void fill_and_check(const char *check, __wasi_fd_t fd, __wasi_filesize_t at, uint8_t v) {
    uint8_t buf[100];
    __wasi_filesize_t pos;
    want_errno(check, __wasi_fd_seek(fd, (__wasi_filedelta_t)at, __WASI_WHENCE_SET, &pos), 0);
    want_eq(check, read_bytes(check, fd, buf, sizeof buf), sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        want_eq(check, buf[i], v);
}

int main(int argc, char **argv) {
    test_name = "fd_flags_set";
    __wasi_fd_t dir = scratch(argc, argv);
    __wasi_fd_t fd;
    want_errno("create",
               open_at(dir, 0, "flags_set.cleanup", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK |
                           __WASI_RIGHTS_FD_TELL | __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS,
                       __WASI_FDFLAGS_APPEND, &fd),
               0);
    uint8_t data[100];
    __wasi_filesize_t pos;
    memset(data, 0, sizeof data);
    want_eq("write-0", write_bytes("write-0", fd, data, sizeof data), 100);
    fill_and_check("read-0", fd, 0, 0);
    memset(data, 1, sizeof data);
    want_errno("seek-start", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
    want_eq("append-1", write_bytes("append-1", fd, data, sizeof data), 100);
    fill_and_check("read-1-at-100", fd, 100, 1);
    want_errno("clear-append", __wasi_fd_fdstat_set_flags(fd, 0), 0);
    memset(data, 2, sizeof data);
    want_errno("seek-start-2", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
    want_eq("overwrite-2", write_bytes("overwrite-2", fd, data, sizeof data), 100);
    fill_and_check("read-2-at-0", fd, 0, 2);
    want_errno("close", __wasi_fd_close(fd), 0);
    __wasi_filestat_t s;
    want_errno("stat", __wasi_path_filestat_get(dir, 0, "flags_set.cleanup", &s), 0);
    want_eq("size", s.size, 200);
    want_errno("unlink", __wasi_path_unlink_file(dir, "flags_set.cleanup"), 0);
    return finish();
}
