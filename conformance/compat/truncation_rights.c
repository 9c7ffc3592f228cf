/* Official: truncation_rights. oflags::trunc needs path_filestat_set_size on
 * the directory (official: PERM or NOTCAPABLE; ours ENOTCAPABLE), not
 * fd_filestat_set_size; a directory never has fd_filestat_set_size. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "truncation_rights";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "trunc_rights.cleanup");
    touch(dir, "file");
    __wasi_fdstat_t st;
    want_errno("fdstat", __wasi_fd_fdstat_get(dir, &st), 0);
    want_eq("filetype", st.fs_filetype, __WASI_FILETYPE_DIRECTORY);
    want_eq("flags", st.fs_flags, 0);
    want_eq("dir-no-fd_filestat_set_size", st.fs_rights_base & __WASI_RIGHTS_FD_FILESTAT_SET_SIZE,
            0);
    want_true("dir-has-path_filestat_set_size",
              (st.fs_rights_base & __WASI_RIGHTS_PATH_FILESTAT_SET_SIZE) != 0);
    want_errno("trunc", open_at(dir, 0, "file", __WASI_OFLAGS_TRUNC, 0, 0, NULL), 0);

    __wasi_rights_t b = st.fs_rights_base, i = st.fs_rights_inheriting;
    want_true("inh-has-fd_filestat_set_size", (i & __WASI_RIGHTS_FD_FILESTAT_SET_SIZE) != 0);
    i &= ~__WASI_RIGHTS_FD_FILESTAT_SET_SIZE;
    want_errno("drop-inheriting", __wasi_fd_fdstat_set_rights(dir, b, i), 0);
    want_errno("trunc-without-fd-right",
               open_at(dir, 0, "file", __WASI_OFLAGS_TRUNC, 0, 0, NULL), 0);
    b &= ~__WASI_RIGHTS_PATH_FILESTAT_SET_SIZE;
    want_errno("drop-base", __wasi_fd_fdstat_set_rights(dir, b, i), 0);
    want_errno("fdstat-2", __wasi_fd_fdstat_get(dir, &st), 0);
    want_eq("dropped", st.fs_rights_base & __WASI_RIGHTS_PATH_FILESTAT_SET_SIZE, 0);
    want_errno("trunc-without-path-right",
               open_at(dir, 0, "file", __WASI_OFLAGS_TRUNC, 0, 0, NULL), __WASI_ERRNO_NOTCAPABLE);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
