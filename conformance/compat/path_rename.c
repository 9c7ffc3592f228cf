/* Official: path_rename. Renaming dirs onto nothing or an empty dir works;
 * onto a non-empty dir ENOTEMPTY, onto a file ENOTDIR (official also allows
 * success, Windows); files onto nothing or a file work, onto a dir EISDIR
 * (official unix values). */
#include "compat.h"

static void want_gone(const char *check, __wasi_fd_t dir, const char *name) {
    want_errno(check, open_at(dir, 0, name, 0, 0, 0, NULL), __WASI_ERRNO_NOENT);
}

int main(int argc, char **argv) {
    test_name = "path_rename";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "path_rename.cleanup");
    const __wasi_oflags_t D = __WASI_OFLAGS_DIRECTORY;

    want_errno("dir.mkdir", __wasi_path_create_directory(dir, "src"), 0);
    want_errno("dir.rename", __wasi_path_rename(dir, "src", dir, "dst"), 0);
    want_errno("dir.source-gone", open_at(dir, 0, "src", D, 0, 0, NULL), __WASI_ERRNO_NOENT);
    want_errno("dir.target-there", open_at(dir, 0, "dst", D, 0, 0, NULL), 0);
    want_errno("dir.rmdir", __wasi_path_remove_directory(dir, "dst"), 0);

    want_errno("empty.mkdir-src", __wasi_path_create_directory(dir, "src"), 0);
    want_errno("empty.mkdir-dst", __wasi_path_create_directory(dir, "dst"), 0);
    want_errno("empty.rename", __wasi_path_rename(dir, "src", dir, "dst"), 0);
    want_errno("empty.source-gone", open_at(dir, 0, "src", D, 0, 0, NULL), __WASI_ERRNO_NOENT);
    want_errno("empty.target-there", open_at(dir, 0, "dst", D, 0, 0, NULL), 0);
    want_errno("empty.rmdir", __wasi_path_remove_directory(dir, "dst"), 0);

    want_errno("full.mkdir-src", __wasi_path_create_directory(dir, "src"), 0);
    want_errno("full.mkdir-dst", __wasi_path_create_directory(dir, "dst"), 0);
    touch(dir, "dst/file");
    want_errno("full.rename", __wasi_path_rename(dir, "src", dir, "dst"), __WASI_ERRNO_NOTEMPTY);
    want_errno("dir-onto-file", __wasi_path_rename(dir, "src", dir, "dst/file"),
               __WASI_ERRNO_NOTDIR);
    want_errno("full.unlink", __wasi_path_unlink_file(dir, "dst/file"), 0);
    want_errno("full.rmdir-src", __wasi_path_remove_directory(dir, "src"), 0);
    want_errno("full.rmdir-dst", __wasi_path_remove_directory(dir, "dst"), 0);

    touch(dir, "src");
    want_errno("file.rename", __wasi_path_rename(dir, "src", dir, "dst"), 0);
    want_gone("file.source-gone", dir, "src");
    want_errno("file.target-there", open_at(dir, 0, "dst", 0, 0, 0, NULL), 0);
    want_errno("file.unlink", __wasi_path_unlink_file(dir, "dst"), 0);

    touch(dir, "src");
    touch(dir, "dst");
    want_errno("file-onto-file", __wasi_path_rename(dir, "src", dir, "dst"), 0);
    want_gone("file-onto-file.source-gone", dir, "src");
    want_errno("file-onto-file.target-there", open_at(dir, 0, "dst", 0, 0, 0, NULL), 0);
    want_errno("file-onto-file.unlink", __wasi_path_unlink_file(dir, "dst"), 0);

    touch(dir, "src");
    want_errno("file-onto-dir.mkdir", __wasi_path_create_directory(dir, "dst"), 0);
    want_errno("file-onto-dir", __wasi_path_rename(dir, "src", dir, "dst"), __WASI_ERRNO_ISDIR);
    want_errno("file-onto-dir.rmdir", __wasi_path_remove_directory(dir, "dst"), 0);
    want_errno("file-onto-dir.unlink", __wasi_path_unlink_file(dir, "src"), 0);
    return finish();
}
