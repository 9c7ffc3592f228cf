/* Official: path_open_preopen. A preopened directory has (at least) the
 * rights userland expects, "." can be reopened with any subset, and
 * oflags::directory with fd_read|fd_write is EISDIR (official, non-Windows). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "path_open_preopen";
    __wasi_fd_t pre = preopen_named(argv[1]);
    __wasi_fdstat_t st;
    want_errno("fdstat", __wasi_fd_fdstat_get(pre, &st), 0);
    const __wasi_rights_t base =
        __WASI_RIGHTS_PATH_CREATE_DIRECTORY | __WASI_RIGHTS_PATH_CREATE_FILE |
        __WASI_RIGHTS_PATH_LINK_SOURCE | __WASI_RIGHTS_PATH_LINK_TARGET | __WASI_RIGHTS_PATH_OPEN |
        __WASI_RIGHTS_FD_READDIR | __WASI_RIGHTS_PATH_READLINK | __WASI_RIGHTS_PATH_RENAME_SOURCE |
        __WASI_RIGHTS_PATH_RENAME_TARGET | __WASI_RIGHTS_PATH_SYMLINK |
        __WASI_RIGHTS_PATH_REMOVE_DIRECTORY | __WASI_RIGHTS_PATH_UNLINK_FILE |
        __WASI_RIGHTS_PATH_FILESTAT_GET | __WASI_RIGHTS_PATH_FILESTAT_SET_TIMES |
        __WASI_RIGHTS_FD_FILESTAT_GET | __WASI_RIGHTS_FD_FILESTAT_SET_TIMES;
    const __wasi_rights_t inheriting =
        base | __WASI_RIGHTS_FD_DATASYNC | __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK |
        __WASI_RIGHTS_FD_FDSTAT_SET_FLAGS | __WASI_RIGHTS_FD_SYNC | __WASI_RIGHTS_FD_TELL |
        __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_FD_ALLOCATE |
        __WASI_RIGHTS_FD_FILESTAT_SET_SIZE | __WASI_RIGHTS_POLL_FD_READWRITE;
    want_eq("base-rights-missing", base & ~st.fs_rights_base, 0);
    want_eq("inheriting-rights-missing", inheriting & ~st.fs_rights_inheriting, 0);

    __wasi_fd_t fd;
    want_errno("reopen-same-rights",
               __wasi_path_open(pre, 0, ".", 0, st.fs_rights_base, st.fs_rights_inheriting, 0, &fd),
               0);
    want_errno("reopen-no-rights", __wasi_path_open(pre, 0, ".", 0, 0, 0, 0, &fd), 0);
    want_errno("reopen-directory-no-rights",
               __wasi_path_open(pre, 0, ".", __WASI_OFLAGS_DIRECTORY, 0, 0, 0, &fd), 0);
    want_errno("reopen-directory-read",
               __wasi_path_open(pre, 0, ".", __WASI_OFLAGS_DIRECTORY, __WASI_RIGHTS_FD_READ, 0, 0,
                                &fd),
               0);
    want_errno("reopen-directory-read-write",
               __wasi_path_open(pre, 0, ".", __WASI_OFLAGS_DIRECTORY,
                                __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE, 0, 0, &fd),
               __WASI_ERRNO_ISDIR);
    return finish();
}
