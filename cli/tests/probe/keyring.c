/* Tries to read the key whose serial is argv[1] and prints the session keyring's serial:
 * "READ <payload>" when the key can be read, "DENIED <errno>" when it cannot. Built static by
 * cli/tests/security.rs: it runs in a busybox rootfs, which has no keyctl. */
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[256];
    long n;

    if (argc < 2)
        return 2;
    n = syscall(SYS_keyctl, KEYCTL_READ, strtol(argv[1], NULL, 10), buf, sizeof buf - 1, 0);
    if (n >= 0) {
        buf[n < (long)sizeof buf - 1 ? n : (long)sizeof buf - 1] = 0;
        printf("READ %s\n", buf);
    } else {
        printf("DENIED %d\n", errno);
    }
    printf("SESSION %ld\n", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    return 0;
}
