// clang: -mexec-model=reactor
/*
 * A reactor built with wasi-libc, as the ITK-Wasm pipelines are: wasi-libc's
 * `_initialize` runs the constructors, then the default export `""` runs
 * `main` with the guest's arguments (wasi-libc's `__main_void` reads them),
 * and exits with its status. Built by `cargo xtask build-guests` with the
 * `// clang:` argument above.
 */
#include <stdio.h>
#include <stdlib.h>

int __main_void(void);

static int constructed;

__attribute__((constructor)) static void construct(void) {
    constructed = 1;
}

int main(int argc, char **argv) {
    printf("constructed: %d\n", constructed);
    for (int i = 1; i < argc; i++) {
        printf("argv[%d] = %s\n", i, argv[i]);
    }
    const char *greeting = getenv("GREETING");
    printf("GREETING=%s\n", greeting ? greeting : "(unset)");
    return argc;
}

__attribute__((export_name(""))) void run(void) {
    exit(__main_void());
}
