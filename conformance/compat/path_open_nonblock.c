/* Official: path_open_nonblock. A directory can be opened with
 * fdflags::nonblock. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_open_nonblock";
    __wasi_fd_t dir = scratch(argc, argv);
    __wasi_fd_t fd;
    want_errno("open-dot-nonblock",
               __wasi_path_open(dir, 0, ".", 0, 0, 0, __WASI_FDFLAGS_NONBLOCK, &fd), 0);
    want_errno("close", __wasi_fd_close(fd), 0);
    return finish();
}
