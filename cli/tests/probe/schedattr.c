/* Prints this process's scheduling attributes as sched_getattr(2) gives them:
 * "policy P flags F nice N priority R runtime U deadline D period T". */
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

struct attr {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
    uint32_t util_min, util_max;
};

int main(void) {
    struct attr a = {0};
    if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0) {
        perror("sched_getattr");
        return 1;
    }
    printf("policy %u flags %#llx nice %d priority %u runtime %llu deadline %llu period %llu\n", a.policy,
           (unsigned long long)a.flags, a.nice, a.priority, (unsigned long long)a.runtime,
           (unsigned long long)a.deadline, (unsigned long long)a.period);
    return 0;
}
