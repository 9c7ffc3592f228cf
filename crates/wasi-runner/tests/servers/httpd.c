// A small HTTP/1.1 server of its own, written for a socket as any C server
// is: it accepts on the listening socket it is given (descriptor 3, as
// `wasirun run --listen` and `wasirun serve --socket` preopen it), reads
// each request head, answers, closes the connection, and exits 0 once
// `accept` fails (the host shut the socket down to drain).
//
// Paths: `/slow` answers after 1 s; `/hang` never does (it sleeps an
// hour, a server that does not drain); `/exit` answers, then exits with code 3;
// `/trap` answers, then traps; anything else answers at once. The body is
// `request N of this instance, PATH\n`. With `MAX_REQUESTS=K` in the
// environment the server exits 0 after K requests. Built by
// `cargo xtask build-guests`.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTENER 3

// Writes all of `data`; 0 on success.
static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

// Reads a request head into `buf` (up to its blank line); its length, or
// -1 if the client closed first or the head is too large.
static int read_head(int fd, char *buf, size_t size) {
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n")) {
            return (int)len;
        }
    }
    return -1;
}

int main(void) {
    const char *max = getenv("MAX_REQUESTS");
    long limit = max ? strtol(max, NULL, 10) : 0;
    long served = 0;
    char head[8192];
    for (;;) {
        int conn = accept(LISTENER, NULL, NULL);
        if (conn < 0) {
            // The listener was shut down (the host drains): done.
            fprintf(stderr, "httpd: accept: %s; exiting\n", strerror(errno));
            return 0;
        }
        if (read_head(conn, head, sizeof head) < 0) {
            close(conn);
            continue;
        }
        // "GET /path HTTP/1.1": the path is the second word.
        char path[256] = "/";
        sscanf(head, "%*s %255s", path);
        served++;
        if (strcmp(path, "/slow") == 0) {
            struct timespec second = {1, 0};
            nanosleep(&second, NULL);
        }
        if (strcmp(path, "/hang") == 0) {
            struct timespec hour = {3600, 0};
            nanosleep(&hour, NULL);
        }
        char body[512];
        int body_len = snprintf(body, sizeof body, "request %ld of this instance, %s\n", served, path);
        char response[1024];
        int len = snprintf(response, sizeof response,
                           "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                           "content-length: %d\r\nconnection: close\r\n\r\n%s",
                           body_len, body);
        write_all(conn, response, (size_t)len);
        close(conn);
        if (strcmp(path, "/exit") == 0) {
            return 3;
        }
        if (strcmp(path, "/trap") == 0) {
            __builtin_trap();
        }
        if (limit > 0 && served >= limit) {
            return 0;
        }
    }
}
