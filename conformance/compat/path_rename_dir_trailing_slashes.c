/* Official: path_rename_dir_trailing_slashes. A directory can be renamed
 * with trailing slashes on either or both names. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_rename_dir_trailing_slashes";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "rename_slashes.cleanup");
    want_errno("mkdir", __wasi_path_create_directory(dir, "a"), 0);
    want_errno("slash-source", __wasi_path_rename(dir, "a/", dir, "b"), 0);
    want_errno("slash-target", __wasi_path_rename(dir, "b", dir, "a/"), 0);
    want_errno("slash-both", __wasi_path_rename(dir, "a/", dir, "b/"), 0);
    want_errno("no-slash", __wasi_path_rename(dir, "b", dir, "a"), 0);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "a"), 0);
    return finish();
}
