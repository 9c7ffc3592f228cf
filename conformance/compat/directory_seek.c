/* Official: directory_seek. A directory opened asking for fd_seek does not
 * get it, and seeking fails (official: ISDIR, NOTCAPABLE or BADF; ours
 * EBADF). */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "directory_seek";
    __wasi_fd_t base = scratch(argc, argv);
    want_errno("mkdir", __wasi_path_create_directory(base, "dirseek.cleanup"), 0);
    __wasi_fd_t fd;
    want_errno("open", __wasi_path_open(base, 0, "dirseek.cleanup", __WASI_OFLAGS_DIRECTORY,
                                        __WASI_RIGHTS_FD_SEEK, 0, 0, &fd), 0);
    want_true("fd>2", fd > 2);
    __wasi_filesize_t pos;
    want_errno("seek", __wasi_fd_seek(fd, 0, __WASI_WHENCE_CUR, &pos), __WASI_ERRNO_BADF);
    __wasi_fdstat_t st;
    want_errno("fdstat", __wasi_fd_fdstat_get(fd, &st), 0);
    want_eq("filetype", st.fs_filetype, __WASI_FILETYPE_DIRECTORY);
    want_eq("no-seek-right", st.fs_rights_base & __WASI_RIGHTS_FD_SEEK, 0);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("rmdir", __wasi_path_remove_directory(base, "dirseek.cleanup"), 0);
    return finish();
}
