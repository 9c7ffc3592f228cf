/* Official: stdio. Each standard stream can be renumbered onto another
 * descriptor, which then works while the stdio number is closed. Nothing is
 * printed (stdout is moved away); the exit code tells. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "stdio";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "stdio.cleanup");
    for (__wasi_fd_t from = 0; from <= 2; from++) {
        __wasi_fd_t to;
        if (__wasi_path_open(dir, 0, "f", __WASI_OFLAGS_CREAT, 0, 0, 0, &to) != 0)
            exit(10 + from);
        if (__wasi_fd_renumber(from, to) != 0)
            exit(20 + from);
        __wasi_fdstat_t st;
        if (__wasi_fd_fdstat_get(to, &st) != 0)
            exit(30 + from);
        if (__wasi_fd_fdstat_get(from, &st) != __WASI_ERRNO_BADF)
            exit(40 + from);
        if (__wasi_path_unlink_file(dir, "f") != 0)
            exit(50 + from);
    }
    if (__wasi_fd_close(dir) != 0 || __wasi_path_remove_directory(base, "stdio.cleanup") != 0)
        exit(60);
    return 0;
}
