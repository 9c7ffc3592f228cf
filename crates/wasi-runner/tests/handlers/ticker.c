// A background daemon (spec/wasi-cloud.md, "Background daemons"): appends
// one byte to the key-value store's `local/ticks` every 20 ms, for ever;
// with an argument-free environment variable TICK_ONCE set it appends one
// byte and traps, to show restarts. Built by `cargo xtask build-guests`.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
    for (;;) {
        FILE *ticks = fopen("/beta/kv/local/ticks", "a");
        if (!ticks) {
            perror("/beta/kv/local/ticks");
            return 1;
        }
        fputc('t', ticks);
        // Closing commits the append.
        if (fclose(ticks) != 0) {
            perror("commit");
            return 1;
        }
        if (getenv("TICK_ONCE")) {
            __builtin_trap();
        }
        usleep(20000);
    }
}
