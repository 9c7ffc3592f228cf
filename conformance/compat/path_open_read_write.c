/* Official: path_open_read_write. Read-only, write-only and read-write
 * opens get exactly those rights; the missing direction fails (official:
 * BADF, NOTCAPABLE or ACCES; spec/preview1.md: EBADF). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_open_read_write";
    __wasi_fd_t dir = scratch(argc, argv);
    const char *name = "read_write.cleanup";
    touch(dir, name);
    uint8_t buf[100], ones[50], twos[25];
    memset(ones, 1, sizeof ones);
    memset(twos, 2, sizeof twos);
    __wasi_iovec_t iov = {buf, sizeof buf};
    __wasi_ciovec_t ciov = {ones, sizeof ones};
    __wasi_fdstat_t st;
    size_t n;
    __wasi_fd_t fd;

    want_errno("ro.open", open_at(dir, 0, name, 0, __WASI_RIGHTS_FD_READ, 0, &fd), 0);
    want_errno("ro.fdstat", __wasi_fd_fdstat_get(fd, &st), 0);
    want_true("ro.has-read", (st.fs_rights_base & __WASI_RIGHTS_FD_READ) != 0);
    want_eq("ro.no-write", st.fs_rights_base & __WASI_RIGHTS_FD_WRITE, 0);
    want_eq("ro.read-empty", read_bytes("ro.read", fd, buf, sizeof buf), 0);
    want_errno("ro.write", __wasi_fd_write(fd, &ciov, 1, &n), __WASI_ERRNO_BADF);
    want_errno("ro.close", __wasi_fd_close(fd), 0);

    want_errno("wo.open", open_at(dir, 0, name, 0, __WASI_RIGHTS_FD_WRITE, 0, &fd), 0);
    want_errno("wo.fdstat", __wasi_fd_fdstat_get(fd, &st), 0);
    want_eq("wo.no-read", st.fs_rights_base & __WASI_RIGHTS_FD_READ, 0);
    want_true("wo.has-write", (st.fs_rights_base & __WASI_RIGHTS_FD_WRITE) != 0);
    want_errno("wo.read", __wasi_fd_read(fd, &iov, 1, &n), __WASI_ERRNO_BADF);
    want_eq("wo.write", write_bytes("wo.write", fd, ones, sizeof ones), sizeof ones);
    want_errno("wo.close", __wasi_fd_close(fd), 0);

    want_errno("rw.open",
               open_at(dir, 0, name, 0,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE |
                           __WASI_RIGHTS_FD_FILESTAT_GET,
                       0, &fd),
               0);
    want_errno("rw.fdstat", __wasi_fd_fdstat_get(fd, &st), 0);
    want_true("rw.has-both", (st.fs_rights_base & (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE)) ==
                                 (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE));
    want_eq("rw.read", read_bytes("rw.read", fd, buf, sizeof buf), sizeof ones);
    want_eq("rw.write", write_bytes("rw.write", fd, twos, sizeof twos), sizeof twos);
    __wasi_filestat_t fs;
    want_errno("rw.filestat", __wasi_fd_filestat_get(fd, &fs), 0);
    want_eq("rw.size", fs.size, sizeof ones + sizeof twos);
    want_errno("rw.close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, name), 0);
    return finish();
}
