// A WebSocket echo daemon: accepts every request with a 101 (naming the
// subprotocol `echo` when the client offers it; `nope`, which no client
// offers, under /badproto), then sends back each message it reads from
// /response/socket, text as text, binary as binary. The text `close`
// makes it close with 4000 "bye"; `exit N` makes it exit with code N;
// `big N` makes it send a binary message of N bytes (or say why not). It
// reports the close it reads, and the end of the stream, on stderr. It
// waits for each message with poll() before reading it, as an event loop
// would.
// Built by `cargo xtask build-guests`.
#include <errno.h>
#include <poll.h>
#include "websocket.h"

int main(void) {
    static char request[16384];
    if (read_request(request, sizeof request) != 0) {
        return 1;
    }
    const char *fields = "";
    if (strncmp(request, "GET /badproto", 13) == 0) {
        fields = "sec-websocket-protocol: nope\r\n";
    } else if (strstr(request, "sec-websocket-protocol: echo")) {
        fields = "sec-websocket-protocol: echo\r\n";
    }
    if (accept_websocket(fields) != 0) {
        fprintf(stderr, "wsecho: 101 refused: %s\n", strerror(errno));
        return 0;
    }
    int fd = open("/response/socket", O_RDWR);
    if (fd < 0) {
        perror("wsecho: /response/socket");
        return 1;
    }
    for (;;) {
        struct pollfd ready = {.fd = fd, .events = POLLIN};
        if (poll(&ready, 1, -1) != 1) {
            perror("wsecho: poll");
            return 1;
        }
        uint8_t kind;
        char *payload;
        uint32_t len;
        int r = ws_read(fd, &kind, &payload, &len);
        if (r == 0) {
            fprintf(stderr, "wsecho: eof\n");
            return 0;
        }
        if (r < 0) {
            perror("wsecho: read");
            return 1;
        }
        if (kind == WS_CLOSE) {
            fprintf(stderr, "wsecho: close %u\n", close_code(payload, len));
            free(payload);
            continue;
        }
        if (kind == WS_TEXT && strcmp(payload, "close") == 0) {
            ws_write(fd, WS_CLOSE, "\x0f\xa0" "bye", 5);
        } else if (kind == WS_TEXT && strncmp(payload, "exit ", 5) == 0) {
            return atoi(payload + 5);
        } else if (kind == WS_TEXT && strncmp(payload, "big ", 4) == 0) {
            uint32_t size = (uint32_t)strtoul(payload + 4, NULL, 10);
            char *big = calloc(size, 1);
            if (big && ws_write(fd, WS_BINARY, big, size) != 0) {
                char why[64];
                int n = snprintf(why, sizeof why, "big: %s", strerror(errno));
                ws_write(fd, WS_TEXT, why, (uint32_t)n);
            }
            free(big);
        } else if (ws_write(fd, kind, payload, len) != 0) {
            perror("wsecho: write");
            free(payload);
            return 1;
        }
        free(payload);
    }
}
