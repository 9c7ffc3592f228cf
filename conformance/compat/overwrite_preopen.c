/* Official: overwrite_preopen. fd_renumber onto a preopen replaces it. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "overwrite_preopen";
    __wasi_fd_t pre = preopen_named(argv[1]);
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "overwrite.cleanup");
    want_true("subdir-above-preopen", dir > pre);
    __wasi_filestat_t before, after;
    want_errno("stat-subdir", __wasi_fd_filestat_get(dir, &before), 0);
    want_errno("renumber-onto-preopen", __wasi_fd_renumber(dir, pre), 0);
    want_errno("stat-renumbered", __wasi_fd_filestat_get(pre, &after), 0);
    want_eq("same-dev", after.dev, before.dev);
    want_eq("same-ino", after.ino, before.ino);
    __wasi_fdstat_t st;
    want_errno("old-number-closed", __wasi_fd_fdstat_get(dir, &st), __WASI_ERRNO_BADF);
    want_errno("close-renumbered", __wasi_fd_close(pre), 0);
    want_errno("rmdir", __wasi_path_remove_directory(base, "overwrite.cleanup"), 0);
    return finish();
}
