/* Official: dangling_symlink. Opening a dangling symlink without
 * SYMLINK_FOLLOW: as a directory the official suite accepts NOTDIR or LOOP,
 * as a file only LOOP. spec/preview1.md: ENOTDIR with oflags::directory
 * (as Linux's O_NOFOLLOW | O_DIRECTORY), ELOOP without. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "dangling_symlink";
    __wasi_fd_t dir = scratch(argc, argv);
    want_errno("symlink", __wasi_path_symlink("target", dir, "dangling.cleanup"), 0);
    want_errno("open-as-dir",
               open_at(dir, 0, "dangling.cleanup", __WASI_OFLAGS_DIRECTORY, 0, 0, NULL),
               __WASI_ERRNO_NOTDIR);
    want_errno("open-as-file", open_at(dir, 0, "dangling.cleanup", 0, 0, 0, NULL),
               __WASI_ERRNO_LOOP);
    want_errno("unlink", __wasi_path_unlink_file(dir, "dangling.cleanup"), 0);
    return finish();
}
