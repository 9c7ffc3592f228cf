/* Official: close_preopen. A preopen can be closed like any descriptor; a
 * descriptor opened from it stays usable. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "close_preopen";
    __wasi_fd_t pre = preopen_named(argv[1]);
    __wasi_fd_t dir = scratch(argc, argv);
    want_true("fresh-fd-above-preopen", dir > pre);
    want_errno("close-preopen", __wasi_fd_close(pre), 0);
    __wasi_fdstat_t st;
    want_errno("dir-still-open", __wasi_fd_fdstat_get(dir, &st), 0);
    want_eq("dir-filetype", st.fs_filetype, __WASI_FILETYPE_DIRECTORY);
    want_errno("closed-preopen-badf", __wasi_fd_fdstat_get(pre, &st), __WASI_ERRNO_BADF);
    return finish();
}
