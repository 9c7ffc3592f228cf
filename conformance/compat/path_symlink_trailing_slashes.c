/* Official: path_symlink_trailing_slashes. A new link name with a trailing
 * slash that does not exist is ENOENT; an existing name, with or without a
 * slash, EEXIST (official unix values; for an existing file with a slash it
 * accepts NOTDIR, NOENT or EXIST; Linux, and ours, EEXIST). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_symlink_trailing_slashes";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "symlink_slashes.cleanup");
    want_errno("new-with-slash", __wasi_path_symlink("source", dir, "target/"),
               __WASI_ERRNO_NOENT);
    want_errno("new-without-slash", __wasi_path_symlink("source", dir, "target"), 0);
    want_errno("unlink-new", __wasi_path_unlink_file(dir, "target"), 0);

    want_errno("mkdir", __wasi_path_create_directory(dir, "target"), 0);
    want_errno("dir-with-slash", __wasi_path_symlink("source", dir, "target/"), __WASI_ERRNO_EXIST);
    want_errno("dir-without-slash", __wasi_path_symlink("source", dir, "target"),
               __WASI_ERRNO_EXIST);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "target"), 0);

    touch(dir, "target");
    want_errno("file-with-slash", __wasi_path_symlink("source", dir, "target/"),
               __WASI_ERRNO_EXIST);
    want_errno("file-without-slash", __wasi_path_symlink("source", dir, "target"),
               __WASI_ERRNO_EXIST);
    want_errno("unlink-file", __wasi_path_unlink_file(dir, "target"), 0);
    return finish();
}
