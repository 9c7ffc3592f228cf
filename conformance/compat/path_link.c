/* Official: path_link. Hard links share the file (same stat, and a
 * descriptor opened through either has the same fdstat); existing targets
 * are EEXIST; a directory source is EPERM (official: PERM or ACCES); a
 * trailing slash on a new name is ENOENT; symlinks are linked, not
 * followed, unless SYMLINK_FOLLOW, which on a dangling link is ENOENT
 * (official: INVAL or NOENT). */
#include "compat.h"

#define LINK_RIGHTS                                                                      \
    (__WASI_RIGHTS_FD_READ | __WASI_RIGHTS_PATH_LINK_SOURCE | __WASI_RIGHTS_PATH_LINK_TARGET | \
     __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_PATH_OPEN | __WASI_RIGHTS_PATH_UNLINK_FILE)

static __wasi_fd_t open_linked(__wasi_fd_t dir, const char *name, __wasi_oflags_t oflags) {
    __wasi_fd_t fd;
    want_errno("open", __wasi_path_open(dir, 0, name, oflags, LINK_RIGHTS, LINK_RIGHTS, 0, &fd), 0);
    want_true("open.fd>2", fd > 2);
    return fd;
}

static void same_file(const char *check, __wasi_fd_t a, __wasi_fd_t b) {
    __wasi_filestat_t x, y;
    want_errno(check, __wasi_fd_filestat_get(a, &x), 0);
    want_errno(check, __wasi_fd_filestat_get(b, &y), 0);
    want_true(check, x.dev == y.dev && x.ino == y.ino && x.size == y.size &&
                         x.nlink == y.nlink && x.filetype == y.filetype && x.atim == y.atim &&
                         x.mtim == y.mtim && x.ctim == y.ctim);
    __wasi_fdstat_t s, t;
    want_errno(check, __wasi_fd_fdstat_get(a, &s), 0);
    want_errno(check, __wasi_fd_fdstat_get(b, &t), 0);
    want_eq("fdstat.flags", t.fs_flags, s.fs_flags);
    want_eq("fdstat.filetype", t.fs_filetype, s.fs_filetype);
    want_eq("fdstat.rights_base", t.fs_rights_base, s.fs_rights_base);
    want_eq("fdstat.rights_inheriting", t.fs_rights_inheriting, s.fs_rights_inheriting);
}

int main(int argc, char **argv) {
    test_name = "path_link";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "path_link.cleanup");
    const __wasi_lookupflags_t follow = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;

    __wasi_fd_t file = open_linked(dir, "file", __WASI_OFLAGS_CREAT);
    want_errno("link-same-dir", __wasi_path_link(dir, 0, "file", dir, "link"), 0);
    __wasi_fd_t link = open_linked(dir, "link", 0);
    same_file("same-dir", file, link);
    want_errno("close-link", __wasi_fd_close(link), 0);
    want_errno("unlink-link", __wasi_path_unlink_file(dir, "link"), 0);

    want_errno("mkdir-sub", __wasi_path_create_directory(dir, "sub"), 0);
    __wasi_fd_t sub = open_linked(dir, "sub", __WASI_OFLAGS_DIRECTORY);
    want_errno("link-other-dir", __wasi_path_link(dir, 0, "file", sub, "link"), 0);
    link = open_linked(sub, "link", 0);
    same_file("other-dir", file, link);
    want_errno("close-link-2", __wasi_fd_close(link), 0);
    want_errno("close-file", __wasi_fd_close(file), 0);
    want_errno("unlink-sub-link", __wasi_path_unlink_file(sub, "link"), 0);
    want_errno("close-sub", __wasi_fd_close(sub), 0);
    want_errno("rmdir-sub", __wasi_path_remove_directory(dir, "sub"), 0);

    touch(dir, "link");
    want_errno("target-exists", __wasi_path_link(dir, 0, "file", dir, "link"), __WASI_ERRNO_EXIST);
    want_errno("unlink-existing", __wasi_path_unlink_file(dir, "link"), 0);
    want_errno("link-to-itself", __wasi_path_link(dir, 0, "file", dir, "file"), __WASI_ERRNO_EXIST);
    want_errno("mkdir-target", __wasi_path_create_directory(dir, "link"), 0);
    want_errno("target-is-dir", __wasi_path_link(dir, 0, "file", dir, "link"), __WASI_ERRNO_EXIST);
    want_errno("rmdir-target", __wasi_path_remove_directory(dir, "link"), 0);
    want_errno("mkdir-sub-2", __wasi_path_create_directory(dir, "sub"), 0);
    want_errno("source-is-dir", __wasi_path_link(dir, 0, "sub", dir, "link"), __WASI_ERRNO_PERM);
    want_errno("rmdir-sub-2", __wasi_path_remove_directory(dir, "sub"), 0);
    want_errno("target-trailing-slash", __wasi_path_link(dir, 0, "file", dir, "link/"),
               __WASI_ERRNO_NOENT);

    want_errno("symlink-dangling", __wasi_path_symlink("target", dir, "sym"), 0);
    want_errno("link-dangling-symlink", __wasi_path_link(dir, 0, "sym", dir, "link"), 0);
    want_errno("unlink-sym", __wasi_path_unlink_file(dir, "sym"), 0);
    want_errno("unlink-hardlink", __wasi_path_unlink_file(dir, "link"), 0);
    want_errno("symlink-loop", __wasi_path_symlink("sym", dir, "sym"), 0);
    want_errno("link-symlink-loop", __wasi_path_link(dir, 0, "sym", dir, "link"), 0);
    want_errno("unlink-sym-2", __wasi_path_unlink_file(dir, "sym"), 0);
    want_errno("unlink-hardlink-2", __wasi_path_unlink_file(dir, "link"), 0);
    want_errno("symlink-dangling-2", __wasi_path_symlink("target", dir, "sym"), 0);
    want_errno("target-is-dangling-symlink", __wasi_path_link(dir, 0, "file", dir, "sym"),
               __WASI_ERRNO_EXIST);
    want_errno("follow-dangling", __wasi_path_link(dir, follow, "sym", dir, "link"),
               __WASI_ERRNO_NOENT);
    want_errno("unlink-sym-3", __wasi_path_unlink_file(dir, "sym"), 0);
    want_errno("unlink-file", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
