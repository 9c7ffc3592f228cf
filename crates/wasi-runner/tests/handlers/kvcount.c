// An HTTP function that answers with the length of the key-value store's
// `local/ticks` (0 if it does not exist), which a background daemon
// (ticker.c) grows. Built by `cargo xtask build-guests`.
#include <stdio.h>

int main(void) {
    long length = 0;
    FILE *ticks = fopen("/beta/kv/local/ticks", "r");
    if (ticks) {
        while (fgetc(ticks) != EOF) {
            length++;
        }
        fclose(ticks);
    }
    FILE *out = fopen("/response/txt", "w");
    if (!out) {
        perror("/response/txt");
        return 1;
    }
    fprintf(out, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n%ld", length);
    return fclose(out) != 0;
}
