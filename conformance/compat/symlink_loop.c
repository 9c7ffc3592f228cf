/* Official: symlink_loop. A self-referencing symlink gives ELOOP. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "symlink_loop";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "loop.cleanup");
    want_errno("symlink", __wasi_path_symlink("self", dir, "self"), 0);
    want_errno("open-nofollow", open_at(dir, 0, "self", 0, 0, 0, NULL), __WASI_ERRNO_LOOP);
    want_errno("open-follow",
               open_at(dir, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "self", 0, 0, 0, NULL),
               __WASI_ERRNO_LOOP);
    want_errno("unlink", __wasi_path_unlink_file(dir, "self"), 0);
    return finish();
}
