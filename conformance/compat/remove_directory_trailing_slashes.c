/* Official: remove_directory_trailing_slashes. rmdir works with or without
 * a trailing slash (official also accepts ACCES with one; ours succeeds);
 * on a file it is ENOTDIR either way (official unix value). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "remove_directory_trailing_slashes";
    __wasi_fd_t dir = scratch(argc, argv);
    want_errno("mkdir", __wasi_path_create_directory(dir, "rmdir.cleanup"), 0);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "rmdir.cleanup"), 0);
    want_errno("mkdir-2", __wasi_path_create_directory(dir, "rmdir.cleanup"), 0);
    want_errno("rmdir-slash", __wasi_path_remove_directory(dir, "rmdir.cleanup/"), 0);
    touch(dir, "rmdir-file.cleanup");
    want_errno("rmdir-file", __wasi_path_remove_directory(dir, "rmdir-file.cleanup"),
               __WASI_ERRNO_NOTDIR);
    want_errno("rmdir-file-slash", __wasi_path_remove_directory(dir, "rmdir-file.cleanup/"),
               __WASI_ERRNO_NOTDIR);
    want_errno("unlink", __wasi_path_unlink_file(dir, "rmdir-file.cleanup"), 0);
    return finish();
}
