/* Official: isatty. A regular file is not a terminal (wasi-libc's isatty
 * looks at fd_fdstat_get). */
#include "compat.h"
#include <unistd.h>

int main(int argc, char **argv) {
    test_name = "isatty";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "isatty.cleanup");
    __wasi_fd_t fd;
    want_errno("create", open_at(dir, 0, "file", __WASI_OFLAGS_CREAT, 0, 0, &fd), 0);
    want_true("fd>2", fd > 2);
    want_eq("isatty", isatty((int)fd), 0);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
