/* A stand-in for the web servers of critest's images, nginx and httpd (no registry here):
 * answers every HTTP request with 200 on the port given (default 80) and logs its command
 * line to stderr, as httpd does (the multi-container spec looks for "httpd -D FOREGROUND"). Installed as
 * nginx, it also does what critest's pid namespace specs look for: it writes
 * /var/run/nginx.pid and runs as "nginx: master process ..." (/proc/1/cmdline, `pidof nginx`).
 * It ends on SIGTERM. Usage: nginx|httpd [ARG...] [PORT] */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char TITLE[] = "nginx: master process nginx";

int main(int argc, char **argv) {
    const char *port = argc > 1 && strspn(argv[argc - 1], "0123456789") == strlen(argv[argc - 1]) ? argv[argc - 1] : "80";
    const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int nginx = strcmp(name, "nginx") == 0 || strcmp(argv[0], TITLE) == 0;
    if (nginx && strcmp(argv[0], TITLE) != 0) {
        /* The process title nginx sets, by exec'ing itself under it; its path, not
         * /proc/self/exe, so that the command name stays "nginx". */
        char self[4096];
        ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
        if (len < 0) {
            perror("nginx: readlink /proc/self/exe");
            return 1;
        }
        self[len] = 0;
        char *args[] = {(char *)TITLE, (char *)port, NULL};
        execv(self, args);
        perror("nginx: exec");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    int s = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(atoi(port)), .sin6_addr = in6addr_any};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) {
        perror("nginx: listen");
        return 1;
    }
    if (nginx) {
        FILE *f = fopen("/var/run/nginx.pid", "w");
        if (f) {
            fprintf(f, "%d\n", getpid());
            fclose(f);
        }
    }
    fprintf(stderr, "%s: answering HTTP 200 on port %s; command line: '", nginx ? "nginx" : name, port);
    for (int i = 0; i < argc; i++)
        fprintf(stderr, i ? " %s" : "%s", argv[i]);
    fprintf(stderr, "'\n");
    static const char page[] = "<html><head><title>Welcome to nginx!</title></head><body>ocirun k8s test</body></html>\n";
    char resp[512], buf[4096];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s", strlen(page), page);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        /* One read takes the request line and headers of the small GETs the tests send. */
        if (read(c, buf, sizeof buf) > 0)
            (void)!write(c, resp, n);
        close(c);
    }
}
