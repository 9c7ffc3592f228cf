// A WAGI module (CGI: the request in the environment, the response on
// stdout) for manifests' tests: it answers with the request's method,
// `SCRIPT_NAME` (its route's path) and `PATH_INFO` (the rest), `$MODE`, the first line of `/data/greeting` (a volume), and the
// length of the key-value store's `local/ticks`, which a background daemon
// (ticker.c) grows. Built by `cargo xtask build-guests`.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *method = getenv("REQUEST_METHOD");
    const char *script = getenv("SCRIPT_NAME");
    const char *path = getenv("PATH_INFO");
    const char *mode = getenv("MODE");
    char greeting[128] = "none";
    FILE *file = fopen("/data/greeting", "r");
    if (file) {
        if (fgets(greeting, sizeof greeting, file)) {
            greeting[strcspn(greeting, "\n")] = '\0';
        }
        fclose(file);
    }
    long ticks = 0;
    FILE *kv = fopen("/beta/kv/local/ticks", "r");
    if (kv) {
        while (fgetc(kv) != EOF) {
            ticks++;
        }
        fclose(kv);
    }
    printf("content-type: text/plain\n\n");
    printf("wagi %s script=%s path=%s mode=%s greeting=%s ticks=%ld\n", method ? method : "?",
           script ? script : "?", path ? path : "?", mode ? mode : "none", greeting, ticks);
    return 0;
}
