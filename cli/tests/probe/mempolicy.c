/* Prints this process's NUMA memory policy as get_mempolicy(2) returns it: the mode with its
 * flags (MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES come back or'ed in) and the first word
 * of the node mask, in hex: "mode 0x8002 nodes 0x1". */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    int mode = -1;
    unsigned long nodes[16] = {0};
    if (syscall(SYS_get_mempolicy, &mode, nodes, 16 * 8 * sizeof(unsigned long), 0, 0) != 0) {
        perror("get_mempolicy");
        return 1;
    }
    printf("mode %#x nodes %#lx\n", (unsigned)mode, nodes[0]);
    return 0;
}
