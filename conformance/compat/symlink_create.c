/* Official: symlink_create. Symlinks to a file and to a directory can be
 * followed; a symlink to an absolute path is refused (spec: ENOTCAPABLE). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "symlink_create";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "symlink_create.cleanup");
    const __wasi_lookupflags_t follow = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;
    __wasi_fd_t fd;

    touch(dir, "file");
    want_errno("symlink-file", __wasi_path_symlink("file", dir, "link"), 0);
    want_errno("follow-to-file", open_at(dir, follow, "link", 0, 0, 0, &fd), 0);
    want_true("file-fd>2", fd > 2);
    want_errno("close-file", __wasi_fd_close(fd), 0);
    want_errno("unlink-link", __wasi_path_unlink_file(dir, "link"), 0);
    want_errno("unlink-file", __wasi_path_unlink_file(dir, "file"), 0);

    want_errno("mkdir", __wasi_path_create_directory(dir, "sub"), 0);
    want_errno("symlink-dir", __wasi_path_symlink("sub", dir, "link"), 0);
    want_errno("follow-to-dir",
               open_at(dir, follow, "link", __WASI_OFLAGS_DIRECTORY, 0, 0, &fd), 0);
    want_errno("close-dir", __wasi_fd_close(fd), 0);
    want_errno("unlink-dirlink", __wasi_path_unlink_file(dir, "link"), 0);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "sub"), 0);

    want_errno("symlink-absolute", __wasi_path_symlink("/", dir, "link"),
               __WASI_ERRNO_NOTCAPABLE);
    return finish();
}
