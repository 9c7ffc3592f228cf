/* Official: dir_fd_op_failures. File operations on a directory fail; the
 * official suite accepts ISDIR, BADF or NOTCAPABLE (and INVAL for
 * fd_filestat_set_size). spec/preview1.md: a missing fd_read/fd_write right
 * is EBADF, fd_seek/fd_tell on a directory EBADF, any other missing right
 * ENOTCAPABLE. fd_prestat_dir_name with a short buffer: official INVAL or
 * NAMETOOLONG, ours ENAMETOOLONG. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "dir_fd_op_failures";
    __wasi_fd_t pre = preopen_named(argv[1]);
    __wasi_fd_t dir = scratch(argc, argv);
    __wasi_filestat_t fs;
    want_errno("filestat", __wasi_fd_filestat_get(dir, &fs), 0);
    want_eq("filetype", fs.filetype, __WASI_FILETYPE_DIRECTORY);

    __wasi_prestat_t ps;
    want_errno("prestat", __wasi_fd_prestat_get(pre, &ps), 0);
    uint8_t name[64];
    want_errno("prestat_dir_name.len0", __wasi_fd_prestat_dir_name(pre, name, 0),
               __WASI_ERRNO_NAMETOOLONG);
    want_errno("prestat_dir_name.longer",
               __wasi_fd_prestat_dir_name(pre, name, ps.u.dir.pr_name_len + 1), 0);

    uint8_t buf[128];
    __wasi_iovec_t iov = {buf, sizeof buf};
    __wasi_ciovec_t ciov = {buf, sizeof buf};
    size_t n;
    __wasi_filesize_t pos;
    want_errno("fd_read", __wasi_fd_read(dir, &iov, 1, &n), __WASI_ERRNO_BADF);
    want_errno("fd_pread", __wasi_fd_pread(dir, &iov, 1, 0, &n), __WASI_ERRNO_BADF);
    want_errno("fd_write", __wasi_fd_write(dir, &ciov, 1, &n), __WASI_ERRNO_BADF);
    want_errno("fd_pwrite", __wasi_fd_pwrite(dir, &ciov, 1, 0, &n), __WASI_ERRNO_BADF);
    want_errno("fd_seek.cur", __wasi_fd_seek(dir, 0, __WASI_WHENCE_CUR, &pos), __WASI_ERRNO_BADF);
    want_errno("fd_seek.set", __wasi_fd_seek(dir, 0, __WASI_WHENCE_SET, &pos), __WASI_ERRNO_BADF);
    want_errno("fd_seek.end", __wasi_fd_seek(dir, 0, __WASI_WHENCE_END, &pos), __WASI_ERRNO_BADF);
    want_errno("fd_tell", __wasi_fd_tell(dir, &pos), __WASI_ERRNO_BADF);
    want_errno("fd_allocate", __wasi_fd_allocate(dir, 0, 1), __WASI_ERRNO_NOTCAPABLE);
    want_errno("fd_filestat_set_size", __wasi_fd_filestat_set_size(dir, 0),
               __WASI_ERRNO_NOTCAPABLE);
    return finish();
}
