// The WebSocket side of a handler (spec/wasi-cloud.md, "WebSocket
// daemons"): accepting the handshake with a 101, and messages through
// /response/socket, each `kind: u8 | length: u32 LE | payload`.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8 };

// Reads the request head into `buf` (at most `cap - 1` bytes, NUL
// terminated). Returns 0, or -1.
static int read_request(char *buf, size_t cap) {
    int fd = open("/request/txt", O_RDONLY);
    if (fd < 0) {
        return -1;
    }
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fd, buf + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
    }
    buf[len] = 0;
    close(fd);
    return 0;
}

// Answers 101 with `extra` fields (each ending in CRLF). Returns 0, or -1.
static int accept_websocket(const char *extra) {
    int fd = open("/response/txt", O_WRONLY);
    if (fd < 0) {
        return -1;
    }
    char head[512];
    int len = snprintf(head, sizeof head, "HTTP/1.1 101 Switching Protocols\r\n%s\r\n", extra);
    ssize_t written = write(fd, head, (size_t)len);
    close(fd);
    return written == len ? 0 : -1;
}

// Reads exactly `len` bytes: 1, 0 at EOF before any, -1 on error or EOF
// midway.
static int read_full(int fd, void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            return got == 0 ? 0 : -1;
        }
        got += (size_t)n;
    }
    return 1;
}

// Writes all of `buf`: 0, or -1.
static int write_full(int fd, const void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

// Reads a message: its kind, its payload (malloc'd, NUL-terminated, to be
// freed) and length. 1, 0 at the stream's end, -1 on error.
static int ws_read(int fd, uint8_t *kind, char **payload, uint32_t *len) {
    uint8_t header[5];
    int r = read_full(fd, header, sizeof header);
    if (r <= 0) {
        return r;
    }
    *kind = header[0];
    *len = (uint32_t)header[1] | (uint32_t)header[2] << 8 | (uint32_t)header[3] << 16 |
           (uint32_t)header[4] << 24;
    *payload = malloc((size_t)*len + 1);
    if (!*payload || read_full(fd, *payload, *len) != 1) {
        free(*payload);
        return -1;
    }
    (*payload)[*len] = 0;
    return 1;
}

// Writes a message: 0, or -1 (errno says why).
static int ws_write(int fd, uint8_t kind, const void *payload, uint32_t len) {
    uint8_t header[5] = {kind, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                         (uint8_t)(len >> 24)};
    if (write_full(fd, header, sizeof header) != 0) {
        return -1;
    }
    return write_full(fd, payload, len);
}

// A close payload's code.
static unsigned close_code(const char *payload, uint32_t len) {
    return len >= 2 ? (unsigned)(uint8_t)payload[0] << 8 | (uint8_t)payload[1] : 0;
}
