/* A syscall probe for the seccomp tests: `probe NAME [ARG...]` makes one raw
 * system call and prints "NAME RET ERRNO". An argument is an integer (any base
 * strtoul takes) or, prefixed with "s:", a pointer to the string after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
    const char *name;
    long nr;
} table[] = {
    {"unshare", SYS_unshare},   {"mount", SYS_mount},     {"keyctl", SYS_keyctl},
    {"personality", SYS_personality}, {"mkdirat", SYS_mkdirat}, {"getppid", SYS_getppid},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: probe NAME [ARG...]\n");
        return 2;
    }
    long nr = -1;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, argv[1]) == 0)
            nr = table[i].nr;
    if (nr < 0) {
        fprintf(stderr, "probe: unknown syscall %s\n", argv[1]);
        return 2;
    }
    long a[6] = {0};
    for (int i = 2; i < argc && i < 8; i++)
        a[i - 2] = strncmp(argv[i], "s:", 2) == 0 ? (long)(argv[i] + 2) : (long)strtoul(argv[i], NULL, 0);
    errno = 0;
    long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    printf("%s %ld %d\n", argv[1], r, r < 0 ? errno : 0);
    return 0;
}
