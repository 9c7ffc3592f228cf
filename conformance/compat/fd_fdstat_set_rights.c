/* Official: fd_fdstat_set_rights. Dropping fd_read/fd_write makes reads and
 * writes fail (official: BADF or NOTCAPABLE; spec/preview1.md: EBADF);
 * rights can never be added back (ENOTCAPABLE). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "fd_fdstat_set_rights";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "rights.cleanup");
    __wasi_rights_t want = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE |
                           __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL;
    __wasi_fd_t fd;
    want_errno("create", open_at(dir, 0, "file", __WASI_OFLAGS_CREAT, want, 0, &fd), 0);
    uint8_t out[4] = {0, 1, 2, 3}, in[4] = {9, 9, 9, 9};
    want_eq("write", write_bytes("write", fd, out, 4), 4);
    __wasi_filesize_t pos;
    want_errno("seek", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
    want_eq("read", read_bytes("read", fd, in, 4), 4);
    want_true("read-back", memcmp(in, out, 4) == 0);

    __wasi_fdstat_t st;
    want_errno("fdstat", __wasi_fd_fdstat_get(fd, &st), 0);
    __wasi_rights_t drop = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE;
    want_errno("drop", __wasi_fd_fdstat_set_rights(fd, st.fs_rights_base & ~drop,
                                                   st.fs_rights_inheriting), 0);
    want_errno("fdstat-2", __wasi_fd_fdstat_get(fd, &st), 0);
    want_eq("dropped", st.fs_rights_base & drop, 0);
    want_true("seek-kept", (st.fs_rights_base & __WASI_RIGHTS_FD_SEEK) != 0);

    __wasi_iovec_t iov = {in, 4};
    __wasi_ciovec_t ciov = {out, 4};
    size_t n;
    want_errno("read-without-right", __wasi_fd_read(fd, &iov, 1, &n), __WASI_ERRNO_BADF);
    want_errno("write-without-right", __wasi_fd_write(fd, &ciov, 1, &n), __WASI_ERRNO_BADF);
    want_errno("regrant",
               __wasi_fd_fdstat_set_rights(fd, st.fs_rights_base | want,
                                           st.fs_rights_inheriting | want),
               __WASI_ERRNO_NOTCAPABLE);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
