// A WebSocket chat room kept in the key-value store (`--kv`), shared by
// every connection: each text message a client sends is appended to the
// room's log (`local/chat`, one line per message), and the client is
// answered with the lines of the log it has not been sent yet, its own
// included, as one text message. Built by `cargo xtask build-guests`.
#include "websocket.h"

#define LOG "/beta/kv/local/chat"

int main(void) {
    static char request[16384];
    if (read_request(request, sizeof request) != 0 || accept_websocket("") != 0) {
        return 1;
    }
    int fd = open("/response/socket", O_RDWR);
    if (fd < 0) {
        perror("wschat: /response/socket");
        return 1;
    }
    // How much of the log this client was sent.
    long seen = 0;
    for (;;) {
        uint8_t kind;
        char *payload;
        uint32_t len;
        int r = ws_read(fd, &kind, &payload, &len);
        if (r <= 0) {
            return r == 0 ? 0 : 1;
        }
        if (kind != WS_TEXT) {
            free(payload);
            continue;
        }
        FILE *log = fopen(LOG, "a");
        if (!log || fprintf(log, "%s\n", payload) < 0 || fclose(log) != 0) {
            perror("wschat: append");
            return 1;
        }
        free(payload);
        log = fopen(LOG, "r");
        if (!log || fseek(log, seen, SEEK_SET) != 0) {
            perror("wschat: read");
            return 1;
        }
        static char news[65536];
        size_t n = fread(news, 1, sizeof news, log);
        fclose(log);
        seen += (long)n;
        if (ws_write(fd, WS_TEXT, news, (uint32_t)n) != 0) {
            return 1;
        }
    }
}
