/* Official: readlink. path_readlink fills at most buf_len bytes, no NUL,
 * and truncates silently. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "readlink";
    __wasi_fd_t base = scratch(argc, argv);
    __wasi_fd_t dir = make_subdir(base, "readlink.cleanup");
    touch(dir, "target");
    want_errno("symlink", __wasi_path_symlink("target", dir, "link"), 0);
    uint8_t big[10] = {0};
    size_t used = 0;
    want_errno("readlink", __wasi_path_readlink(dir, "link", big, sizeof big, &used), 0);
    want_eq("readlink.len", used, 6);
    want_true("readlink.text", memcmp(big, "target", 6) == 0);
    want_true("readlink.rest-untouched", big[6] == 0 && big[7] == 0 && big[8] == 0 && big[9] == 0);
    uint8_t small[4] = {0};
    want_errno("readlink-short", __wasi_path_readlink(dir, "link", small, sizeof small, &used), 0);
    want_eq("readlink-short.len", used, 4);
    want_true("readlink-short.text", memcmp(small, "targ", 4) == 0);
    want_errno("unlink-target", __wasi_path_unlink_file(dir, "target"), 0);
    want_errno("unlink-link", __wasi_path_unlink_file(dir, "link"), 0);
    return finish();
}
