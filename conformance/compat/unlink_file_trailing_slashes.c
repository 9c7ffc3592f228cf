/* Official: unlink_file_trailing_slashes. Unlinking a directory is EISDIR
 * with or without a slash; a file with a slash ENOTDIR (official unix
 * values). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "unlink_file_trailing_slashes";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "unlink_slashes.cleanup");
    want_errno("mkdir", __wasi_path_create_directory(dir, "d"), 0);
    want_errno("unlink-dir", __wasi_path_unlink_file(dir, "d"), __WASI_ERRNO_ISDIR);
    want_errno("unlink-dir-slash", __wasi_path_unlink_file(dir, "d/"), __WASI_ERRNO_ISDIR);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "d"), 0);
    touch(dir, "file");
    want_errno("unlink-file-slash", __wasi_path_unlink_file(dir, "file/"), __WASI_ERRNO_NOTDIR);
    want_errno("unlink-file", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
