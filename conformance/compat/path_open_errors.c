/* Official: path_open_create_existing (creat|excl on an existing file:
 * EEXIST), path_open_dirfd_not_dir (a file as the base descriptor: official
 * NOTDIR or NOTCAPABLE, spec/preview1.md ENOTDIR), path_open_missing
 * (ENOENT). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_open_errors";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "open_errors.cleanup");
    touch(dir, "file");
    want_errno("create-existing",
               open_at(dir, 0, "file", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_EXCL, 0, 0, NULL),
               __WASI_ERRNO_EXIST);
    __wasi_fd_t fd;
    want_errno("open-file", open_at(dir, 0, "file", 0, 0, 0, &fd), 0);
    want_errno("file-as-dirfd", open_at(fd, 0, "foo", __WASI_OFLAGS_CREAT, 0, 0, NULL),
               __WASI_ERRNO_NOTDIR);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    want_errno("missing", open_at(dir, 0, "file", 0, 0, 0, NULL), __WASI_ERRNO_NOENT);
    return finish();
}
