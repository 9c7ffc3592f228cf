/* Official: file_allocate. fd_allocate extends a file to offset+len when
 * that is past its end and never shrinks it (official also accepts NOTSUP;
 * ours succeeds). */
#include "compat.h"

static __wasi_filesize_t size_of(__wasi_fd_t fd) {
    __wasi_filestat_t s;
    want_errno("filestat", __wasi_fd_filestat_get(fd, &s), 0);
    return s.size;
}

int main(int argc, char **argv) {
    test_name = "file_allocate";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "allocate.cleanup");
    __wasi_fd_t fd;
    want_errno("create",
               open_at(dir, 0, "file", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE |
                           __WASI_RIGHTS_FD_ALLOCATE | __WASI_RIGHTS_FD_FILESTAT_GET,
                       0, &fd),
               0);
    want_eq("size0", size_of(fd), 0);
    want_errno("allocate-0-100", __wasi_fd_allocate(fd, 0, 100), 0);
    want_eq("size100", size_of(fd), 100);
    want_errno("allocate-inside", __wasi_fd_allocate(fd, 10, 10), 0);
    want_eq("size-unchanged", size_of(fd), 100);
    want_errno("allocate-across-end", __wasi_fd_allocate(fd, 90, 20), 0);
    want_eq("size110", size_of(fd), 110);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
