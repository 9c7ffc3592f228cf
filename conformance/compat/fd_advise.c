/* Official: fd_advise. fd_advise leaves the size alone; fd_allocate past the
 * end grows the file (official also accepts NOTSUP; ours succeeds). */
#include "compat.h"

static __wasi_filesize_t size_of(__wasi_fd_t fd) {
    __wasi_filestat_t s;
    want_errno("filestat", __wasi_fd_filestat_get(fd, &s), 0);
    return s.size;
}

int main(int argc, char **argv) {
    test_name = "fd_advise";
    __wasi_fd_t dir = scratch(argc, argv);
    __wasi_fd_t fd;
    want_errno("create",
               open_at(dir, 0, "advise.cleanup", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ADVISE |
                           __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE |
                           __WASI_RIGHTS_FD_ALLOCATE,
                       0, &fd),
               0);
    want_eq("size0", size_of(fd), 0);
    want_errno("set_size", __wasi_fd_filestat_set_size(fd, 100), 0);
    want_eq("size100", size_of(fd), 100);
    want_errno("advise", __wasi_fd_advise(fd, 10, 50, __WASI_ADVICE_NORMAL), 0);
    want_eq("size-after-advise", size_of(fd), 100);
    want_errno("allocate", __wasi_fd_allocate(fd, 100, 100), 0);
    want_eq("size-after-allocate", size_of(fd), 200);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "advise.cleanup"), 0);
    return finish();
}
