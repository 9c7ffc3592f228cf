/* Official: nofollow_errors. Without SYMLINK_FOLLOW a symlink is never
 * opened (official: LOOP or NOTDIR with oflags::directory, LOOP or ACCES
 * without; ours: ENOTDIR with oflags::directory, as Linux, ELOOP without);
 * with it, the target's type decides. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "nofollow_errors";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "nofollow.cleanup");
    const __wasi_lookupflags_t follow = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;

    want_errno("mkdir-target", __wasi_path_create_directory(dir, "target"), 0);
    want_errno("symlink", __wasi_path_symlink("target", dir, "link"), 0);
    want_errno("dirlink.nofollow-directory",
               open_at(dir, 0, "link", __WASI_OFLAGS_DIRECTORY, 0, 0, NULL), __WASI_ERRNO_NOTDIR);
    want_errno("dirlink.nofollow", open_at(dir, 0, "link", 0, 0, 0, NULL), __WASI_ERRNO_LOOP);
    want_errno("dirlink.follow-directory",
               open_at(dir, follow, "link", __WASI_OFLAGS_DIRECTORY, 0, 0, NULL), 0);

    want_errno("unlink-link", __wasi_path_unlink_file(dir, "link"), 0);
    want_errno("rmdir-target", __wasi_path_remove_directory(dir, "target"), 0);
    touch(dir, "target");
    want_errno("symlink-2", __wasi_path_symlink("target", dir, "link"), 0);
    want_errno("filelink.nofollow-directory",
               open_at(dir, 0, "link", __WASI_OFLAGS_DIRECTORY, 0, 0, NULL), __WASI_ERRNO_NOTDIR);
    want_errno("filelink.nofollow", open_at(dir, 0, "link", 0, 0, 0, NULL), __WASI_ERRNO_LOOP);
    want_errno("filelink.follow-directory",
               open_at(dir, follow, "link", __WASI_OFLAGS_DIRECTORY, 0, 0, NULL),
               __WASI_ERRNO_NOTDIR);
    want_errno("unlink-target", __wasi_path_unlink_file(dir, "target"), 0);
    want_errno("unlink-link-2", __wasi_path_unlink_file(dir, "link"), 0);
    return finish();
}
