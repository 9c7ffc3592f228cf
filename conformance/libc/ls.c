/* ls: recursively lists each directory named on the command line with
 * opendir/readdir, sorted by name, one entry a line:
 *   TYPE SIZE PATH [-> TARGET]
 * TYPE is d, f or l (from lstat, checked against d_type); SIZE is printed for
 * regular files and symlinks only (directory sizes depend on the filesystem).
 * Errors go to stderr as "ls: PATH: message" and make the exit code 2. */
#include "common.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int status = 0;

static void fail(const char *path) {
    fprintf(stderr, "ls: %s: %s\n", path, strerror(errno));
    status = 2;
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char type_of(mode_t mode) {
    if (S_ISDIR(mode)) return 'd';
    if (S_ISREG(mode)) return 'f';
    if (S_ISLNK(mode)) return 'l';
    return '?';
}

static char type_of_dirent(unsigned char t) {
    switch (t) {
    case DT_DIR: return 'd';
    case DT_REG: return 'f';
    case DT_LNK: return 'l';
    case DT_UNKNOWN: return 'u';
    default: return '?';
    }
}

static void list(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fail(dir);
        return;
    }
    char **names = NULL;
    char *dtypes = NULL;
    size_t n = 0, cap = 0;
    int dot = 0, dotdot = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0) { dot++; continue; }
        if (strcmp(e->d_name, "..") == 0) { dotdot++; continue; }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            names = realloc(names, cap * sizeof *names);
            dtypes = realloc(dtypes, cap);
        }
        /* Keep "name\0t" so the d_type travels with the name when sorted. */
        names[n] = malloc(strlen(e->d_name) + 1);
        strcpy(names[n], e->d_name);
        dtypes[n] = type_of_dirent(e->d_type);
        n++;
    }
    if (errno != 0) fail(dir);
    closedir(d);
    printf("%s: %zu entries, . seen %d, .. seen %d\n", dir, n, dot, dotdot);

    /* Sort names, carrying d_type along. */
    char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    for (size_t i = 0; i < n; i++) sorted[i] = names[i];
    qsort(sorted, n, sizeof *sorted, cmp);

    char **subdirs = malloc((n ? n : 1) * sizeof *subdirs);
    size_t nsub = 0;
    for (size_t i = 0; i < n; i++) {
        char dt = '?';
        for (size_t j = 0; j < n; j++)
            if (names[j] == sorted[i]) dt = dtypes[j];
        size_t len = strlen(dir) + strlen(sorted[i]) + 2;
        char *path = malloc(len);
        snprintf(path, len, "%s/%s", dir, sorted[i]);
        struct stat st;
        if (lstat(path, &st) != 0) {
            fail(path);
            free(path);
            continue;
        }
        char t = type_of(st.st_mode);
        if (dt != 'u' && dt != t)
            printf("  d_type %c disagrees with lstat %c for %s\n", dt, t, path);
        if (t == 'f' || t == 'l')
            printf("%c %6lld %s", t, (long long)st.st_size, path);
        else
            printf("%c %6s %s", t, "-", path);
        if (t == 'l') {
            char target[256];
            ssize_t k = readlink(path, target, sizeof target - 1);
            if (k < 0) {
                fail(path);
            } else {
                target[k] = '\0';
                printf(" -> %s", target);
            }
        }
        printf("\n");
        if (t == 'd')
            subdirs[nsub++] = path;
        else
            free(path);
    }
    for (size_t i = 0; i < nsub; i++) {
        list(subdirs[i]);
        free(subdirs[i]);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(dtypes);
    free(sorted);
    free(subdirs);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: ls DIR...\n");
        return 64;
    }
    for (int i = 1; i < argc; i++) list(argv[i]);
    return status;
}
