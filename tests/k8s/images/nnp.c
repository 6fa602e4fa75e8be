/* The nonewprivs test image's program, installed setuid root: prints its effective uid,
 * 0 when exec could raise it, the caller's uid under no_new_privs. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("Effective uid: %d\n", (int)geteuid());
    return 0;
}
