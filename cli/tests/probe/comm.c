/* Renames itself (comm, what /proc/<pid>/stat shows in parentheses) to argv[1] read as octal
 * escapes ("\377\376"), then sleeps: a container process may name itself with any bytes. Built
 * static by cli/tests/security_review_process.rs. */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char name[16] = {0};
    const char *s = argc > 1 ? argv[1] : "";
    size_t n = 0;

    while (*s && n < sizeof name - 1) {
        if (s[0] == '\\' && s[1] && s[2] && s[3]) {
            char oct[4] = {s[1], s[2], s[3], 0};
            name[n++] = (char)strtol(oct, NULL, 8);
            s += 4;
        } else {
            name[n++] = *s++;
        }
    }
    prctl(PR_SET_NAME, name, 0, 0, 0);
    for (;;)
        pause();
}
