/* Helpers shared by the libc conformance programs. Every program here must
 * behave identically when compiled natively (glibc) and for wasm32-wasi
 * (wasi-libc): print errno by name, never by number (the numbers differ),
 * and never print inode numbers, timestamps that were not set explicitly,
 * permission bits or ids (WASI has none of those). */
#ifndef LIBC_COMMON_H
#define LIBC_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The symbolic name of an errno value. */
__attribute__((unused)) static const char *errname(int e) {
    switch (e) {
    case 0: return "OK";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ELOOP: return "ELOOP";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EXDEV: return "EXDEV";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ESPIPE: return "ESPIPE";
    case ERANGE: return "ERANGE";
    case ENOTSUP: return "ENOTSUP";
    default: return "E?";
    }
}

/* "what: ENAME (message)" for the current errno; messages are only printed
 * for errors whose strerror text glibc and musl share. */
__attribute__((unused)) static void report(const char *what, int rc) {
    int e = errno;
    if (rc >= 0) {
        printf("%s: ok\n", what);
        return;
    }
    const char *msg = "-"; /* musl's wording differs from glibc's */
    if (e == ENOENT || e == EEXIST || e == ENOTDIR || e == EISDIR ||
        e == ENOTEMPTY || e == EINVAL || e == EPERM || e == EACCES)
        msg = strerror(e);
    printf("%s: %s (%s)\n", what, errname(e), msg);
}

#endif
