/* Official: symlink_filestat. path_filestat_set_times without
 * SYMLINK_FOLLOW changes the link itself, with it the target. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "symlink_filestat";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "symlink_filestat.cleanup");
    const __wasi_lookupflags_t follow = __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW;
    __wasi_fdstat_t st;
    want_errno("fdstat-dir", __wasi_fd_fdstat_get(dir, &st), 0);
    want_true("dir-has-path_filestat_get",
              (st.fs_rights_base & __WASI_RIGHTS_PATH_FILESTAT_GET) != 0);

    __wasi_fd_t fd;
    want_errno("create", open_at(dir, 0, "file", __WASI_OFLAGS_CREAT,
                                 __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0, &fd), 0);
    __wasi_filestat_t file0, link0, s;
    want_errno("stat-file", __wasi_path_filestat_get(dir, 0, "file", &file0), 0);
    want_eq("file-size", file0.size, 0);
    want_errno("symlink", __wasi_path_symlink("file", dir, "link"), 0);
    want_errno("stat-link", __wasi_path_filestat_get(dir, 0, "link", &link0), 0);
    want_eq("link-type", link0.filetype, __WASI_FILETYPE_SYMBOLIC_LINK);

    __wasi_timestamp_t link_mtim = link0.mtim - 200;
    want_errno("set-link-mtim",
               __wasi_path_filestat_set_times(dir, 0, "link", 0, link_mtim, __WASI_FSTFLAGS_MTIM),
               0);
    want_errno("restat-link", __wasi_path_filestat_get(dir, 0, "link", &s), 0);
    want_eq("link-mtim-changed", s.mtim, link_mtim);
    want_errno("restat-file", __wasi_path_filestat_get(dir, 0, "file", &s), 0);
    want_eq("file-mtim-unchanged", s.mtim, file0.mtim);
    want_errno("stat-through-link", __wasi_path_filestat_get(dir, follow, "link", &s), 0);
    want_eq("followed-mtim-is-file", s.mtim, file0.mtim);

    want_errno("set-through-link",
               __wasi_path_filestat_set_times(dir, follow, "link", 0, link0.mtim,
                                              __WASI_FSTFLAGS_MTIM),
               0);
    want_errno("stat-file-after", __wasi_path_filestat_get(dir, 0, "file", &s), 0);
    want_eq("file-mtim-set-through-link", s.mtim, link0.mtim);

    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink-link", __wasi_path_unlink_file(dir, "link"), 0);
    want_errno("unlink-file", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
