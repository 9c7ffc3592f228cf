/* env: prints its arguments (not argv[0], which is the binary's path
 * natively and the module's under wasirun), the whole environment sorted,
 * selected variables through getenv, and the effect of setenv/unsetenv/
 * putenv. Exits with the number of arguments, to check exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void show(const char *name) {
    const char *v = getenv(name);
    if (v)
        printf("getenv(%s) = \"%s\"\n", name, v);
    else
        printf("getenv(%s) = NULL\n", name);
}

int main(int argc, char **argv) {
    printf("argc = %d\n", argc);
    for (int i = 1; i < argc; i++) printf("argv[%d] = \"%s\" (%zu bytes)\n", i, argv[i], strlen(argv[i]));
    printf("argv[argc] is %s\n", argv[argc] == NULL ? "NULL" : "not NULL");

    size_t n = 0;
    while (environ[n]) n++;
    char **sorted = malloc((n + 1) * sizeof *sorted);
    memcpy(sorted, environ, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp);
    printf("environ: %zu entries\n", n);
    for (size_t i = 0; i < n; i++) printf("  %s\n", sorted[i]);
    free(sorted);

    show("GREETING");
    show("EMPTY");
    show("WITH_EQUALS");
    show("UNICODE");
    show("HOME");
    show("PATH");
    show("");

    setenv("NEW", "fresh", 0);
    setenv("GREETING", "replaced", 1);
    setenv("EMPTY", "not replaced", 0);
    unsetenv("WITH_EQUALS");
    static char put[] = "PUT=by putenv";
    putenv(put);
    show("NEW");
    show("GREETING");
    show("EMPTY");
    show("WITH_EQUALS");
    show("PUT");
    printf("setenv with '=' in the name: %d\n", setenv("A=B", "x", 1));
    return argc - 1;
}
