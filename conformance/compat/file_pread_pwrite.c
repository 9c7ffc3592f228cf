/* Official: file_pread_pwrite. Positional reads and writes, with one and
 * several iovecs, do not move the offset. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "file_pread_pwrite";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "pread_pwrite.cleanup");
    __wasi_fd_t fd;
    want_errno("create",
               open_at(dir, 0, "file", __WASI_OFLAGS_CREAT,
                       __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_WRITE, 0,
                       &fd),
               0);
    const uint8_t data[4] = {0, 1, 2, 3};
    uint8_t got[4];
    size_t n;
    __wasi_ciovec_t one = {data, 4};
    want_errno("pwrite-0", __wasi_fd_pwrite(fd, &one, 1, 0, &n), 0);
    want_eq("pwrite-0", n, 4);
    __wasi_iovec_t rd = {got, 4};
    memset(got, 9, 4);
    want_errno("pread-0", __wasi_fd_pread(fd, &rd, 1, 0, &n), 0);
    want_eq("pread-0", n, 4);
    want_true("pread-0.data", memcmp(got, data, 4) == 0);

    size_t off = 0;
    while (off < 4) {
        __wasi_ciovec_t two[2] = {{data + off, 4 - off > 2 ? 2 : 4 - off}, {0, 0}};
        size_t cnt = 1;
        if (4 - off > 2) {
            two[1].buf = data + off + 2;
            two[1].buf_len = 4 - off - 2;
            cnt = 2;
        }
        want_errno("pwrite-iovecs", __wasi_fd_pwrite(fd, two, cnt, off, &n), 0);
        want_true("pwrite-iovecs.progress", n > 0);
        off += n;
    }
    want_eq("pwrite-iovecs.total", off, 4);

    memset(got, 9, 4);
    off = 0;
    for (;;) {
        uint8_t tmp[4];
        __wasi_iovec_t two[2] = {{tmp, 2}, {tmp + 2, 2}};
        want_errno("pread-iovecs", __wasi_fd_pread(fd, two, 2, off, &n), 0);
        if (n == 0)
            break;
        want_true("pread-iovecs.bound", off + n <= 4);
        memcpy(got + off, tmp, n);
        off += n;
    }
    want_eq("pread-iovecs.total", off, 4);
    want_true("pread-iovecs.data", memcmp(got, data, 4) == 0);

    memset(got, 0, 4);
    want_errno("pread-2", __wasi_fd_pread(fd, &rd, 1, 2, &n), 0);
    want_eq("pread-2", n, 2);
    want_true("pread-2.data", got[0] == 2 && got[1] == 3 && got[2] == 0 && got[3] == 0);
    const uint8_t patch[2] = {1, 0};
    __wasi_ciovec_t p = {patch, 2};
    want_errno("pwrite-2", __wasi_fd_pwrite(fd, &p, 1, 2, &n), 0);
    want_eq("pwrite-2", n, 2);
    want_errno("pread-all", __wasi_fd_pread(fd, &rd, 1, 0, &n), 0);
    want_eq("pread-all", n, 4);
    want_true("pread-all.data", got[0] == 0 && got[1] == 1 && got[2] == 1 && got[3] == 0);
    __wasi_filesize_t pos;
    want_errno("offset-untouched", __wasi_fd_seek(fd, 0, __WASI_WHENCE_CUR, &pos), 0);
    want_eq("offset-untouched", pos, 0);
    want_errno("close", __wasi_fd_close(fd), 0);
    want_errno("unlink", __wasi_path_unlink_file(dir, "file"), 0);
    return finish();
}
