/*
 * Reference filter builder for the differential test: drives libseccomp the way
 * runc does and exports the BPF program. Used only by tests/libseccomp_diff.rs.
 *
 * argv[1]: output file for the BPF program (seccomp_export_bpf).
 * stdin, one command a line:
 *   default <action>          first line: seccomp_init(action)
 *   arch <token>              add an architecture (if not present)
 *   optimize <level>          SCMP_FLTATR_CTL_OPTIMIZE
 *   rule <action> <name> <n> [<arg> <op> <a> <b>]*n
 *   stubname <name>           a name counted for runc's ENOSYS stub
 *   stubarch <token>          print "max <token> <n>": runc's highest syscall number
 *   resolve <token> <name>    print "nr <name> <n>" (negative: pseudo number, -1: unknown)
 *   rnum <token> <n>          print "name <n> <name>" or "name <n> none"
 * stdout: the answers; exit 3 when libseccomp refuses a rule ("refused ...").
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#define MAX_NAMES 4096

static char *stub_names[MAX_NAMES];
static int stub_cnt;

int main(int argc, char **argv)
{
	char line[4096];
	scmp_filter_ctx ctx = NULL;
	if (argc < 2)
		return 2;
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32], name[256];
		unsigned int act, tok, n;
		int off = 0;
		if (sscanf(line, "%31s%n", cmd, &off) != 1)
			continue;
		char *rest = line + off;
		if (!strcmp(cmd, "default")) {
			sscanf(rest, "%u", &act);
			ctx = seccomp_init(act);
			if (!ctx)
				return 4;
			/* runc: SetNoNewPrivsBit(false) */
			seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
		} else if (!strcmp(cmd, "arch")) {
			sscanf(rest, "%u", &tok);
			if (seccomp_arch_exist(ctx, tok) == -EEXIST) {
				int rc = seccomp_arch_add(ctx, tok);
				if (rc) {
					printf("refused arch %u %d\n", tok, rc);
					return 3;
				}
			}
		} else if (!strcmp(cmd, "optimize")) {
			sscanf(rest, "%u", &n);
			seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, n);
		} else if (!strcmp(cmd, "rule")) {
			struct scmp_arg_cmp cmp[6];
			int used = 0;
			if (sscanf(rest, "%u %255s %u%n", &act, name, &n, &used) != 3)
				return 5;
			rest += used;
			for (unsigned int i = 0; i < n && i < 6; i++) {
				unsigned int arg, op;
				unsigned long long a, b;
				if (sscanf(rest, "%u %u %llu %llu%n", &arg, &op, &a, &b, &used) != 4)
					return 5;
				rest += used;
				cmp[i].arg = arg;
				cmp[i].op = op;
				cmp[i].datum_a = a;
				cmp[i].datum_b = b;
			}
			/* runc: GetSyscallFromName, unknown names are skipped */
			int nr = seccomp_syscall_resolve_name(name);
			if (nr == __NR_SCMP_ERROR)
				continue;
			int rc = seccomp_rule_add_array(ctx, act, nr, n, cmp);
			if (rc) {
				printf("refused %s %d\n", name, rc);
				return 3;
			}
		} else if (!strcmp(cmd, "stubname")) {
			sscanf(rest, "%255s", name);
			if (stub_cnt < MAX_NAMES)
				stub_names[stub_cnt++] = strdup(name);
		} else if (!strcmp(cmd, "stubarch")) {
			sscanf(rest, "%u", &tok);
			int max = 0;
			for (int i = 0; i < stub_cnt; i++) {
				int nr = seccomp_syscall_resolve_name_arch(tok, stub_names[i]);
				if (nr == __NR_SCMP_ERROR)
					continue;
				if (nr > max)
					max = nr;
			}
			printf("max %u %d\n", tok, max);
		} else if (!strcmp(cmd, "resolve")) {
			sscanf(rest, "%u %255s", &tok, name);
			int nr = seccomp_syscall_resolve_name_arch(tok, name);
			printf("nr %s %d\n", name, nr);
		} else if (!strcmp(cmd, "rnum")) {
			int nr;
			sscanf(rest, "%u %d", &tok, &nr);
			char *s = seccomp_syscall_resolve_num_arch(tok, nr);
			printf("name %d %s\n", nr, s ? s : "none");
			free(s);
		}
	}
	if (ctx) {
		int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			return 6;
		int rc = seccomp_export_bpf(ctx, fd);
		close(fd);
		seccomp_release(ctx);
		if (rc)
			return 7;
	}
	fflush(stdout);
	return 0;
}
