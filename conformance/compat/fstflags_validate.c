/* Official: fstflags_validate. MTIM with MTIM_NOW, or ATIM with ATIM_NOW,
 * is EINVAL. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "fstflags_validate";
    __wasi_fd_t dir = scratch(argc, argv);
    __wasi_fd_t fd;
    want_errno("create",
               open_at(dir, 0, "fstflags.cleanup", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_FILESTAT_SET_TIMES, 0, &fd),
               0);
    want_errno("mtim+mtim_now",
               __wasi_fd_filestat_set_times(fd, 100, 200,
                                            __WASI_FSTFLAGS_MTIM | __WASI_FSTFLAGS_MTIM_NOW),
               __WASI_ERRNO_INVAL);
    want_errno("atim+atim_now",
               __wasi_fd_filestat_set_times(fd, 100, 200,
                                            __WASI_FSTFLAGS_ATIM | __WASI_FSTFLAGS_ATIM_NOW),
               __WASI_ERRNO_INVAL);
    want_errno("close", __wasi_fd_close(fd), 0);
    return finish();
}
