/* Official: dangling_fd. A file or directory can be recreated after being
 * removed. */
#include "compat.h"

int main(int argc, char **argv) {
    test_name = "dangling_fd";
    __wasi_fd_t dir = scratch(argc, argv);
    __wasi_fd_t fd;
    touch(dir, "dangling.file.cleanup");
    want_errno("open-file", open_at(dir, 0, "dangling.file.cleanup", 0, 0, 0, &fd), 0);
    want_true("file-fd>2", fd > 2);
    want_errno("close-file", __wasi_fd_close(fd), 0);
    want_errno("unlink-file", __wasi_path_unlink_file(dir, "dangling.file.cleanup"), 0);
    touch(dir, "dangling.file.cleanup");
    want_errno("unlink-again", __wasi_path_unlink_file(dir, "dangling.file.cleanup"), 0);

    want_errno("mkdir", __wasi_path_create_directory(dir, "dangling.dir.cleanup"), 0);
    want_errno("open-dir",
               open_at(dir, 0, "dangling.dir.cleanup", __WASI_OFLAGS_DIRECTORY, 0, 0, &fd), 0);
    want_errno("close-dir", __wasi_fd_close(fd), 0);
    want_errno("rmdir", __wasi_path_remove_directory(dir, "dangling.dir.cleanup"), 0);
    want_errno("mkdir-again", __wasi_path_create_directory(dir, "dangling.dir.cleanup"), 0);
    return finish();
}
