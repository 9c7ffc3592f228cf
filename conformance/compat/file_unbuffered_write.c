/* Official: file_unbuffered_write. A write through one descriptor is seen
 * at once through another one on the same file. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "file_unbuffered_write";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "unbuffered.cleanup");
    __wasi_fd_t r, w;
    want_errno("create-reader", open_at(dir, 0, "file", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_READ, 0, &r),
               0);
    want_errno("open-writer", open_at(dir, 0, "file", 0, __WASI_RIGHTS_FD_WRITE, 0, &w), 0);
    want_true("fds>2", r > 2 && w > 2);
    uint8_t one = 1, got = 0;
    want_eq("write", write_bytes("write", w, &one, 1), 1);
    want_eq("read", read_bytes("read", r, &got, 1), 1);
    want_eq("read.data", got, 1);
    want_errno("close-w", __wasi_fd_close(w), 0);
    want_errno("close-r", __wasi_fd_close(r), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
