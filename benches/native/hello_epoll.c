// The serve benchmark's native anchor: an HTTP/1.1 keep-alive server in C
// on epoll, one event loop per CPU on SO_REUSEPORT listeners, answering
// every request as benches/handlers/hello.c does (it parses the request
// line; GET and HEAD get the 14-byte hello, anything else 405). Pipelined
// requests are answered in order. Built by the serve benchmark with the
// host's C compiler: `cc -O2 hello_epoll.c -o hello_epoll -lpthread`.
//
// Usage: hello_epoll PORT [THREADS]; port 0 picks a free one. Prints the
// port on stdout, then runs until killed.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 16384

static const char BODY[] = "Hello, world!\n";
static int port;

struct conn {
    int fd;
    size_t len;
    char buf[BUF];
};

static int listener(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, 1024)) {
        perror("listen");
        exit(1);
    }
    return fd;
}

// Answers every whole request in `c`; returns -1 if the connection is done.
static int answer(struct conn *c) {
    char out[BUF];
    size_t used = 0, start = 0;
    for (;;) {
        char *end = memmem(c->buf + start, c->len - start, "\r\n\r\n", 4);
        if (!end) break;
        char method[16], target[512];
        if (sscanf(c->buf + start, "%15s %511s", method, target) != 2) return -1;
        int n;
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            n = snprintf(out + used, sizeof out - used,
                         "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
        else
            n = snprintf(out + used, sizeof out - used,
                         "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                         "content-length: %zu\r\n\r\n%s",
                         sizeof BODY - 1, BODY);
        if (n < 0 || (size_t)n >= sizeof out - used) return -1;
        used += n;
        start = end + 4 - c->buf;
    }
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
    if (c->len == sizeof c->buf) return -1;
    for (size_t sent = 0; sent < used;) {
        ssize_t n = write(c->fd, out + sent, used - sent);
        if (n <= 0) return -1;
        sent += n;
    }
    return 0;
}

static void *serve(void *arg) {
    int lfd = (int)(long)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, events[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c = malloc(sizeof *c);
                    c->fd = fd;
                    c->len = 0;
                    struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            ssize_t got;
            int done = 0;
            while ((got = read(c->fd, c->buf + c->len, sizeof c->buf - c->len)) > 0) {
                c->len += got;
                if (answer(c) < 0) {
                    done = 1;
                    break;
                }
            }
            if (done || got == 0 || (got < 0 && errno != EAGAIN)) {
                close(c->fd);
                free(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs("usage: hello_epoll PORT [THREADS]\n", stderr);
        return 2;
    }
    port = atoi(argv[1]);
    int threads = argc > 2 ? atoi(argv[2]) : (int)sysconf(_SC_NPROCESSORS_ONLN);
    // The first listener fixes the port; the others share it.
    int first = listener();
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    getsockname(first, (struct sockaddr *)&bound, &len);
    port = ntohs(bound.sin_port);
    printf("%d\n", port);
    fflush(stdout);
    pthread_t t;
    for (int i = 1; i < threads; i++) pthread_create(&t, NULL, serve, (void *)(long)listener());
    serve((void *)(long)first);
}
