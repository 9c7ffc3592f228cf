/* Official: path_open_read_without_rights. A directory whose base and
 * inheriting rights lack fd_read opens files without it, and fd_read on
 * them is EBADF (the only errno the official test accepts). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_open_read_without_rights";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "noread.cleanup");
    touch(dir, "file");
    __wasi_fdstat_t st;
    want_errno("fdstat-dir", __wasi_fd_fdstat_get(dir, &st), 0);
    want_errno("drop-read",
               __wasi_fd_fdstat_set_rights(dir, st.fs_rights_base & ~__WASI_RIGHTS_FD_READ,
                                           st.fs_rights_inheriting & ~__WASI_RIGHTS_FD_READ),
               0);
    want_errno("fdstat-dir-2", __wasi_fd_fdstat_get(dir, &st), 0);
    want_eq("dir-base-no-read", st.fs_rights_base & __WASI_RIGHTS_FD_READ, 0);
    want_eq("dir-inh-no-read", st.fs_rights_inheriting & __WASI_RIGHTS_FD_READ, 0);

    __wasi_fd_t fd;
    want_errno("open", __wasi_path_open(dir, 0, "file", 0, 0, 0, 0, &fd), 0);
    want_errno("fdstat-file", __wasi_fd_fdstat_get(fd, &st), 0);
    want_eq("file-base-no-read", st.fs_rights_base & __WASI_RIGHTS_FD_READ, 0);
    want_eq("file-inh-no-read", st.fs_rights_inheriting & __WASI_RIGHTS_FD_READ, 0);
    uint8_t b;
    __wasi_iovec_t iov = {&b, 1};
    size_t n;
    want_errno("read", __wasi_fd_read(fd, &iov, 1, &n), __WASI_ERRNO_BADF);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
