// An HTTP function in C (spec/wasi-cloud.md): echoes the request it reads
// from /request/txt, head and body, as the body of its response, with
// plain stdio. Built by `cargo xtask build-guests` into echo.wasm.
#include <stdio.h>

int main(void) {
    FILE *in = fopen("/request/txt", "r");
    FILE *out = fopen("/response/txt", "w");
    if (!in || !out) {
        perror("open");
        return 1;
    }
    fputs("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n", out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        fwrite(buf, 1, n, out);
    }
    // Closing /response/txt completes the response.
    return fclose(out) != 0;
}
