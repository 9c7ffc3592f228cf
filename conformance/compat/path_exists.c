/* Official: path_exists. path_filestat_get reports directories, files and
 * symlinks, and follows symlinks only when asked. */
#include "compat.h"

static void want_type(const char *check, __wasi_fd_t dir, __wasi_lookupflags_t flags,
                      const char *path, __wasi_filetype_t type) {
    __wasi_filestat_t s;
    want_errno(check, __wasi_path_filestat_get(dir, flags, path, &s), 0);
    want_eq(check, s.filetype, type);
}

int main(int argc, char **argv) {
    test_name = "path_exists";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "path_exists.cleanup");
    const __wasi_lookupflags_t follow = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;
    want_errno("mkdir", __wasi_path_create_directory(dir, "sub"), 0);
    want_type("dir", dir, 0, "sub", __WASI_FILETYPE_DIRECTORY);
    want_type("dir-follow", dir, follow, "sub", __WASI_FILETYPE_DIRECTORY);
    touch(dir, "sub/file");
    want_type("file", dir, 0, "sub/file", __WASI_FILETYPE_REGULAR_FILE);
    want_type("file-follow", dir, follow, "sub/file", __WASI_FILETYPE_REGULAR_FILE);
    want_errno("symlink-file", __wasi_path_symlink("sub/file", dir, "l1"), 0);
    want_type("filelink", dir, 0, "l1", __WASI_FILETYPE_SYMBOLIC_LINK);
    want_type("filelink-follow", dir, follow, "l1", __WASI_FILETYPE_REGULAR_FILE);
    want_errno("symlink-dir", __wasi_path_symlink("sub", dir, "l2"), 0);
    want_type("dirlink", dir, 0, "l2", __WASI_FILETYPE_SYMBOLIC_LINK);
    want_type("dirlink-follow", dir, follow, "l2", __WASI_FILETYPE_DIRECTORY);
    want_errno("unlink-l1", __wasi_path_unlink_file(dir, "l1"), 0);
    want_errno("unlink-l2", __wasi_path_unlink_file(dir, "l2"), 0);
    want_errno("unlink-file", __wasi_path_unlink_file(dir, "sub/file"), 0);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "sub"), 0);
    return finish();
}
