/* Official: remove_nonempty_directory. rmdir of a non-empty directory is
 * ENOTEMPTY. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "remove_nonempty_directory";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "nonempty.cleanup");
    want_errno("mkdir", __wasi_path_create_directory(dir, "d"), 0);
    want_errno("mkdir-nested", __wasi_path_create_directory(dir, "d/n"), 0);
    want_errno("rmdir-nonempty", __wasi_path_remove_directory(dir, "d"), __WASI_ERRNO_NOTEMPTY);
    want_errno("rmdir-nested", __wasi_path_remove_directory(dir, "d/n"), 0);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "d"), 0);
    return finish();
}
