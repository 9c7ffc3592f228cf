/* Official: interesting_paths. Absolute paths and ".." above the descriptor
 * are refused (official: PERM or NOTCAPABLE; ours ENOTCAPABLE); ".", "..",
 * repeated and trailing slashes work inside; a trailing NUL (official:
 * INVAL, ILSEQ or NOENT; ours EINVAL); a file with a trailing slash
 * (official: NOTDIR or NOENT; ours ENOTDIR). */
#include "compat.h"

/* path_open with an explicit path length, to pass a path holding a NUL. */
__attribute__((import_module("wasi_snapshot_preview1"), import_name("path_open"))) extern int32_t
raw_path_open(int32_t fd, int32_t dirflags, int32_t path, int32_t path_len, int32_t oflags,
              int64_t base, int64_t inheriting, int32_t fdflags, int32_t out);

int main(int argc, char **argv) {
    test_name = "interesting_paths";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "interesting.cleanup");
    want_errno("mkdir", __wasi_path_create_directory(dir, "d"), 0);
    want_errno("mkdir-nested", __wasi_path_create_directory(dir, "d/n"), 0);
    touch(dir, "d/n/file");

    want_errno("absolute", open_at(dir, 0, "/d/n/file", 0, 0, 0, NULL), __WASI_ERRNO_NOTCAPABLE);
    __wasi_fd_t fd;
    want_errno("dots", open_at(dir, 0, "d/.//n/../../d/n/../n///./file", 0, 0, 0, &fd), 0);
    want_true("dots.fd>2", fd > 2);
    want_errno("dots.close", __wasi_fd_close(fd), 0);
    static const char nul_path[] = "d/n/file\0";
    __wasi_fd_t out;
    want_errno("trailing-nul",
               raw_path_open(dir, 0, (int32_t)(intptr_t)nul_path, sizeof nul_path - 1, 0, 0, 0, 0,
                             (int32_t)(intptr_t)&out),
               __WASI_ERRNO_INVAL);
    want_errno("file-slash", open_at(dir, 0, "d/n/file/", 0, 0, 0, NULL), __WASI_ERRNO_NOTDIR);
    want_errno("file-slashes", open_at(dir, 0, "d/n/file///", 0, 0, 0, NULL), __WASI_ERRNO_NOTDIR);
    want_errno("dir-slash", open_at(dir, 0, "d/n/", 0, 0, 0, NULL), 0);
    want_errno("dir-slashes", open_at(dir, 0, "d/n///", 0, 0, 0, NULL), 0);
    char escape[256];
    snprintf(escape, sizeof escape, "d/n/../../../%s/d/n/file", argv[1]);
    want_errno("too-many-dotdots", open_at(dir, 0, escape, 0, 0, 0, NULL), __WASI_ERRNO_NOTCAPABLE);
    want_errno("unlink", __wasi_path_unlink_file(dir, "d/n/file"), 0);
    want_errno("rmdir-nested", __wasi_path_remove_directory(dir, "d/n"), 0);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "d"), 0);
    return finish();
}
