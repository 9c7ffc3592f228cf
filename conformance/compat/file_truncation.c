/* Official: file_truncation. oflags::trunc empties an existing file. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "file_truncation";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "truncation.cleanup");
    __wasi_fd_t fd;
    want_errno("create", open_at(dir, 0, "t.txt", __WASI_OFLAGS_CREAT, __WASI_RIGHTS_FD_WRITE, 0, &fd),
               0);
    const char text[] = "soon to be truncated";
    want_eq("write", write_bytes("write", fd, text, sizeof text - 1), sizeof text - 1);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("open-trunc",
               open_at(dir, 0, "t.txt", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
                       __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_READ, 0, &fd),
               0);
    uint8_t buf[100];
    want_eq("read-empty", read_bytes("read", fd, buf, sizeof buf), 0);
    want_errno("close-2", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "t.txt"), 0);
    return finish();
}
