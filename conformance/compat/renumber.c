/* Official: renumber. fd_renumber moves a descriptor and closes the source. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "renumber";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "renumber.cleanup");
    __wasi_rights_t rw = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE;
    __wasi_fd_t a, b;
    want_errno("create-a", open_at(dir, 0, "a", __WASI_OFLAGS_CREAT, rw, 0, &a), 0);
    want_errno("create-b", open_at(dir, 0, "b", __WASI_OFLAGS_CREAT, rw, 0, &b), 0);
    want_true("fds-above-stdio", a > 2 && b > 2);
    __wasi_fdstat_t sa, sb;
    want_errno("fdstat-a", __wasi_fd_fdstat_get(a, &sa), 0);
    want_errno("renumber", __wasi_fd_renumber(a, b), 0);
    want_errno("source-closed", __wasi_fd_close(a), __WASI_ERRNO_BADF);
    want_errno("fdstat-target", __wasi_fd_fdstat_get(b, &sb), 0);
    want_eq("filetype", sb.fs_filetype, sa.fs_filetype);
    want_eq("flags", sb.fs_flags, sa.fs_flags);
    want_eq("rights-base", sb.fs_rights_base, sa.fs_rights_base);
    want_eq("rights-inheriting", sb.fs_rights_inheriting, sa.fs_rights_inheriting);
    want_errno("renumber-to-closed", __wasi_fd_renumber(b, a), __WASI_ERRNO_BADF);
    want_errno("close", __wasi_fd_close(b), 0);
    want_errno("unlink-a", __wasi_path_unlink_file(dir, "a"), 0);
    want_errno("unlink-b", __wasi_path_unlink_file(dir, "b"), 0);
    return finish();
}
