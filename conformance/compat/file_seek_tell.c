/* Official: file_seek_tell. fd_tell/fd_seek follow writes and reads;
 * seeking past the end is fine, before 0 is EINVAL. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "file_seek_tell";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "seek_tell.cleanup");
    __wasi_fd_t fd;
    want_errno("create",
               open_at(dir, 0, "file", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_SEEK |
                           __WASI_RIGHTS_FD_TELL,
                       0, &fd),
               0);
    __wasi_filesize_t pos = 99;
    want_errno("tell-0", __wasi_fd_tell(fd, &pos), 0);
    want_eq("tell-0", pos, 0);
    uint8_t buf[100] = {0};
    want_eq("write", write_bytes("write", fd, buf, sizeof buf), 100);
    want_errno("tell-100", __wasi_fd_tell(fd, &pos), 0);
    want_eq("tell-100", pos, 100);
    want_errno("seek-back-50", __wasi_fd_seek(fd, -50, __WASI_WHENCE_CUR, &pos), 0);
    want_eq("seek-back-50", pos, 50);
    want_errno("seek-start", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
    want_eq("seek-start", pos, 0);
    want_errno("seek-past-end", __wasi_fd_seek(fd, 1000, __WASI_WHENCE_CUR, &pos), 0);
    want_errno("seek-negative", __wasi_fd_seek(fd, -2000, __WASI_WHENCE_CUR, &pos),
               __WASI_ERRNO_INVAL);
    want_errno("seek-start-2", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos), 0);
    want_eq("read", read_bytes("read", fd, buf, sizeof buf), 100);
    want_errno("tell-after-read", __wasi_fd_tell(fd, &pos), 0);
    want_eq("tell-after-read", pos, 100);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
