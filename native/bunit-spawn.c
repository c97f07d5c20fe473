/*
 * bunit_spawn(): starts a service's program, the program being the first and only exec.
 *
 * firmware/exec/spawn.ts decides WHAT the child does (an exec plan: fds, credentials, limits,
 * directory, ...); this file only performs the plan, in the order systemd's exec_child() does,
 * between clone3() and execve(). The process is born in its cgroup (CLONE_INTO_CGROUP: moving
 * it afterwards costs the kernel an RCU grace period, milliseconds per start).
 *
 * Like posix_spawn(), the child shares the daemon's memory (CLONE_VM | CLONE_VFORK: no copy of
 * Bun's page tables; the calling thread waits until the exec) and runs on a small stack of its
 * own, entered through a few lines of assembly on x86_64 and aarch64 (elsewhere: a plain
 * fork-style clone3). Rules for the child, which runs on the daemon thread's memory and TLS:
 *   - no malloc, no stdio, no locks: system calls and their plain glibc wrappers only;
 *   - setgroups/setresgid/setresuid through raw syscall(): glibc's wrappers broadcast the change
 *     to every thread of the process (setxid), which is wrong in a child sharing its memory;
 *   - users and groups are resolved by the caller beforehand (no NSS here);
 *   - every signal is set to SIG_DFL first (raw rt_sigaction, so glibc's internal ones too), and
 *     the mask, full since before the clone, is cleared just before execve: no handler of the
 *     daemon ever runs in the child.
 * A failed step ends the child with systemd's exit code for it (EXIT_CHDIR=200, EXIT_EXEC=203,
 * ...), written first as one byte into the exec status pipe when there is one, and recorded
 * with errno for the caller (out[1], out[2]; the memory is shared), which logs it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/sched.h>
#include <unistd.h>

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL /* Linux 5.5 */
#endif

/* systemd's exit codes for the step that failed (exit-status.h). */
enum {
    EXIT_CHDIR = 200,
    EXIT_NICE = 201,
    EXIT_FDS = 202,
    EXIT_EXEC = 203,
    EXIT_LIMITS = 205,
    EXIT_OOM_ADJUST = 206,
    EXIT_SIGNAL_MASK = 207,
    EXIT_GROUP = 216,
    EXIT_USER = 217,
    EXIT_SETSID = 220,
    EXIT_NETWORK = 225,
};

/* The exec plan: plan[PLAN_*], laid out by firmware/native/processes.ts (keep in step). */
enum {
    PLAN_FLAGS,
    PLAN_LISTEN_FDS,     /* fds 3..3+N-1 are the sockets: O_NONBLOCK set or cleared on them */
    PLAN_UID,
    PLAN_GID,
    PLAN_NGROUPS,        /* supplementary groups: groups[0..N-1] */
    PLAN_UMASK,
    PLAN_NICE,
    PLAN_OOM_SCORE_ADJ,
    PLAN_NLIMITS,        /* limits[3*i..3*i+2]: RLIMIT_* number, soft, hard */
    PLAN_PDEATHSIG,      /* 0: none */
    PLAN_PID_ENV,        /* envp[N..] are "NAME=" entries completed with the child's pid; -1: none */
    PLAN_SLOTS
};
enum {
    PLAN_NONBLOCK = 1 << 0,        /* NonBlocking=yes */
    PLAN_INETD = 1 << 1,           /* fds 0 and 1 are the connection: NonBlocking= applies to them */
    PLAN_IGNORE_SIGPIPE = 1 << 2,
    PLAN_PRIVATE_NETWORK = 1 << 3, /* a network namespace with only loopback, up */
    PLAN_STATUS_FD = 1 << 4,       /* the last fd is the exec status pipe (Type=exec) */
    PLAN_CREDENTIALS = 1 << 5,     /* groups, gid and uid */
    PLAN_UMASK_SET = 1 << 6,
    PLAN_NICE_SET = 1 << 7,
    PLAN_OOM_SET = 1 << 8,
    PLAN_DIR_OPTIONAL = 1 << 9,    /* a missing working directory is not an error ("-" prefix) */
};

struct spawn_child {
    const char *path;
    char *const *argv;
    char **envp;
    const int *fds;
    int *high;
    int nfds;
    const int32_t *plan;
    const uint32_t *groups;
    const uint64_t *limits;
    const char *dir;
    pid_t parent;
    int status_fd;
    int32_t *out; /* out[1]: the failed step's exit code, out[2]: its errno */
};

static int fail(struct spawn_child *c, int code) {
    c->out[1] = code;
    c->out[2] = errno;
    if (c->status_fd >= 0) {
        unsigned char b = (unsigned char)code;
        (void)!write(c->status_fd, &b, 1);
    }
    return code;
}
#define TRY(expr, code)                                                                            \
    do {                                                                                           \
        if ((long)(expr) < 0) return fail(c, code);                                                \
    } while (0)

/* "NAME=" + decimal pid into buf (64 bytes). */
static char *pid_entry(char *buf, const char *name_eq, long pid) {
    size_t n = strnlen(name_eq, 40);
    memcpy(buf, name_eq, n);
    char digits[24];
    int d = 0;
    do digits[d++] = (char)('0' + pid % 10); while ((pid /= 10) > 0);
    while (d) buf[n++] = digits[--d];
    buf[n] = 0;
    return buf;
}

/* SIG_DFL or SIG_IGN for every signal, glibc's internal ones included (the kernel's struct, zeroed). */
static long set_disposition(int sig, __sighandler_t handler) {
    struct { __sighandler_t handler; unsigned long flags; void *restorer; uint64_t mask; } k = {handler, 0, NULL, 0};
    return syscall(SYS_rt_sigaction, (long)sig, &k, NULL, (size_t)8);
}

static int set_nonblock(int fd, int on) {
    int st = fcntl(fd, F_GETFL);
    if (st < 0) return -1;
    return fcntl(fd, F_SETFL, on ? (st | O_NONBLOCK) : (st & ~O_NONBLOCK));
}

static void close_from(int first) {
    if (syscall(SYS_close_range, (long)first, (long)~0U, 0L) == 0) return;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        for (rlim_t fd = (rlim_t)first; fd < rl.rlim_cur; fd++) close((int)fd);
}

/* Lowering the score needs CAP_SYS_RESOURCE: where it is withheld systemd goes on (EPERM/EACCES). */
static int write_oom_score_adj(int adj) {
    char text[32];
    pid_entry(text, adj < 0 ? "-" : "", adj < 0 ? -(long)adj : adj);
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno == EPERM || errno == EACCES ? 0 : -1;
    ssize_t w = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    errno = e;
    return w < 0 && e != EPERM && e != EACCES ? -1 : 0;
}

/* PrivateNetwork=: where the machine refuses a namespace (no CAP_SYS_ADMIN) systemd goes on. */
static int private_network(void) {
    if (unshare(CLONE_NEWNET) < 0) return errno == EPERM || errno == EINVAL || errno == ENOSYS ? 0 : -1;
    struct ifreq ifr = {.ifr_name = "lo"};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return -1;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    int r = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return r;
}

static int spawn_child_main(void *arg) {
    struct spawn_child *c = arg;
    const int32_t *p = c->plan;
    const int32_t flags = p[PLAN_FLAGS];
    for (int s = 1; s < _NSIG; s++) set_disposition(s, SIG_DFL);

    /* 1. fds: fds[i] at i; above the target range first, so that no source is overwritten. */
    for (int i = 0; i < c->nfds; i++) {
        c->high[i] = c->fds[i] < 0 ? -1 : fcntl(c->fds[i], F_DUPFD_CLOEXEC, c->nfds);
        if (c->fds[i] >= 0 && c->high[i] < 0) return fail(c, EXIT_FDS);
    }
    for (int i = 0; i < c->nfds; i++) {
        if (c->high[i] < 0) close(i);
        else TRY(dup2(c->high[i], i), EXIT_FDS);
    }
    if (flags & PLAN_STATUS_FD) {
        TRY(fcntl(c->nfds - 1, F_SETFD, FD_CLOEXEC), EXIT_FDS);
        c->status_fd = c->nfds - 1;
    }
    for (int fd = 3; fd < 3 + p[PLAN_LISTEN_FDS]; fd++) TRY(set_nonblock(fd, flags & PLAN_NONBLOCK), EXIT_FDS);
    if (flags & PLAN_INETD)
        for (int fd = 0; fd <= 1; fd++) (void)set_nonblock(fd, flags & PLAN_NONBLOCK);
    close_from(c->nfds);

    /* 2. session, signals, scheduling, limits, namespace */
    TRY(setsid(), EXIT_SETSID);
    if (flags & PLAN_IGNORE_SIGPIPE) TRY(set_disposition(SIGPIPE, SIG_IGN), EXIT_SIGNAL_MASK);
    if (flags & PLAN_NICE_SET) TRY(setpriority(PRIO_PROCESS, 0, p[PLAN_NICE]), EXIT_NICE);
    if (flags & PLAN_OOM_SET) TRY(write_oom_score_adj(p[PLAN_OOM_SCORE_ADJ]), EXIT_OOM_ADJUST);
    for (int i = 0; i < p[PLAN_NLIMITS]; i++) {
        const uint64_t *l = &c->limits[3 * i];
        struct rlimit rl = {.rlim_cur = l[1], .rlim_max = l[2]};
        TRY(setrlimit((int)l[0], &rl), EXIT_LIMITS);
    }
    if (flags & PLAN_PRIVATE_NETWORK) TRY(private_network(), EXIT_NETWORK);

    /* 3. credentials and directory */
    if (flags & PLAN_UMASK_SET) umask((mode_t)p[PLAN_UMASK]);
    if (flags & PLAN_CREDENTIALS) {
        TRY(syscall(SYS_setgroups, (long)p[PLAN_NGROUPS], c->groups), EXIT_GROUP);
        long uid = (uint32_t)p[PLAN_UID], gid = (uint32_t)p[PLAN_GID];
        TRY(syscall(SYS_setresgid, gid, gid, gid), EXIT_GROUP);
        TRY(syscall(SYS_setresuid, uid, uid, uid), EXIT_USER);
    }
    if (c->dir && chdir(c->dir) < 0 && !((flags & PLAN_DIR_OPTIONAL) && errno == ENOENT)) return fail(c, EXIT_CHDIR);

    /* Without a cgroup nothing finds the service again once the daemon is gone: it dies with it
     * (set after the credential change, which clears it; sent at once when the daemon is gone). */
    if (p[PLAN_PDEATHSIG]) {
        TRY(prctl(PR_SET_PDEATHSIG, (unsigned long)p[PLAN_PDEATHSIG]), EXIT_SIGNAL_MASK);
        if (getppid() != c->parent) syscall(SYS_kill, (long)getpid(), (long)p[PLAN_PDEATHSIG]);
    }

    /* 4. LISTEN_PID=, WATCHDOG_PID=: the pid only the child knows */
    char pid_env[4][64];
    for (int i = 0; p[PLAN_PID_ENV] >= 0 && i < 4 && c->envp[p[PLAN_PID_ENV] + i]; i++)
        c->envp[p[PLAN_PID_ENV] + i] = pid_entry(pid_env[i], c->envp[p[PLAN_PID_ENV] + i], getpid());

    /* 5. exec, with no signal blocked */
    sigset_t none;
    sigemptyset(&none);
    TRY(syscall(SYS_rt_sigprocmask, (long)SIG_SETMASK, &none, NULL, (size_t)8), EXIT_SIGNAL_MASK);
    execve(c->path, c->argv, c->envp);
    return fail(c, EXIT_EXEC);
}

/* clone3(); the child calls fn(arg) on the stack in ca and exits with its result. -errno on failure. */
static long clone3_run(struct clone_args *ca, int (*fn)(void *), void *arg) {
#if defined(__x86_64__)
    register long r10 __asm__("r10") = (long)fn;
    register long r8 __asm__("r8") = (long)arg;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r8, %%rdi\n\t"
                     "call *%%r10\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov $60, %%eax\n\t" /* SYS_exit */
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "=a"(ret)
                     : "0"((long)SYS_clone3), "D"(ca), "S"(sizeof *ca), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_clone3;
    register long x0 __asm__("x0") = (long)ca;
    register long x1 __asm__("x1") = (long)sizeof *ca;
    register long x2 __asm__("x2") = (long)fn;
    register long x3 __asm__("x3") = (long)arg;
    __asm__ volatile("svc #0\n\t"
                     "cbnz x0, 1f\n\t"
                     "mov x29, xzr\n\t"
                     "mov x0, x3\n\t"
                     "blr x2\n\t"
                     "mov x8, #93\n\t" /* SYS_exit */
                     "svc #0\n"
                     "1:"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
                     : "memory");
    return x0;
#else
    ca->flags &= ~(uint64_t)(CLONE_VM | CLONE_VFORK);
    ca->stack = 0;
    ca->stack_size = 0;
    long pid = syscall(SYS_clone3, ca, sizeof *ca);
    if (pid == 0) _exit(fn(arg));
    return pid < 0 ? -errno : pid;
#endif
}

/*
 * Starts path with fds[i] at fd i (-1: closed), in the cgroup v2 directory open as cgroup_fd
 * (-1: the caller's), doing plan (above) in between. Returns the pid; out[0] gets a pidfd
 * (CLONE_PIDFD), out[1] and out[2] the exit code and errno of a failed step (0: the exec
 * happened; with the fork-style fallback they stay 0 and only the exit status tells).
 */
int bunit_spawn(const char *path, char *const *argv, char **envp, const int *fds, int nfds, int cgroup_fd,
                const int32_t *plan, const uint32_t *groups, const uint64_t *limits, const char *dir, int32_t *out) {
    if (nfds < 3 || nfds > 1024) return -EINVAL;
    enum { STACK = 64 * 1024 };
    int high[nfds];
    struct spawn_child c = {path, argv, envp, fds, high, nfds, plan, groups, limits, dir, getpid(), -1, out};
    out[1] = out[2] = 0;
    void *stack = malloc(STACK);
    if (!stack) return -ENOMEM;
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    /* CLONE_CLEAR_SIGHAND: the child starts with no handler of the daemon's installed. Bun's
     * crash handler, run by a child that faults on the daemon's memory, would report the
     * daemon crashed and leave it in the state of a crash; the child just dies of the signal. */
    ca.flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | CLONE_CLEAR_SIGHAND | (cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
    ca.pidfd = (uint64_t)(uintptr_t)&out[0];
    ca.exit_signal = SIGCHLD;
    ca.stack = (uint64_t)(uintptr_t)stack;
    ca.stack_size = STACK;
    ca.cgroup = cgroup_fd >= 0 ? (uint64_t)cgroup_fd : 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    long pid = clone3_run(&ca, spawn_child_main, &c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(stack);
    return (int)pid;
}
