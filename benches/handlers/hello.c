// The serve benchmark's handler as users write one (spec/wasi-cloud.md,
// "HTTP functions"): plain wasi-libc stdio, it reads the request line from
// /request/txt and writes a 14-byte answer to /response/txt. Built by
// `cargo xtask build-guests` into hello.wasm; benches/native/hello_epoll.c
// gives the same answer natively.
#include <stdio.h>
#include <string.h>

static const char BODY[] = "Hello, world!\n";

int main(void) {
    FILE *in = fopen("/request/txt", "r");
    if (!in) {
        perror("/request/txt");
        return 1;
    }
    char line[1024], method[16], target[512];
    if (!fgets(line, sizeof line, in) || sscanf(line, "%15s %511s", method, target) != 2) {
        fputs("bad request line\n", stderr);
        return 1;
    }
    FILE *out = fopen("/response/txt", "w");
    if (!out) {
        perror("/response/txt");
        return 1;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        fputs("HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n", out);
    } else {
        fprintf(out,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n\r\n%s",
                sizeof BODY - 1, BODY);
    }
    // Closing /response/txt completes the response.
    return fclose(out) != 0;
}
