/*
 * bunit-exec: the last step between the daemon and a service's program.
 *
 * The daemon (a native clone3(), already in the unit's cgroup) starts this helper with the
 * service's fds already at 3..3+N-1 (and, for StandardInput=socket, the connection on 0/1). The helper, in this order:
 *   1. makes the fd layout exact: fds 3..3+N-1 must be open; everything above is closed;
 *      FD_CLOEXEC is cleared and O_NONBLOCK set or cleared on them (NonBlocking=);
 *   2. starts a new session (setsid) unless told not to, resets signal dispositions and mask;
 *   3. applies the umask, supplementary groups, gid and uid, then the working directory;
 *   4. sets LISTEN_PID to its own pid (which the daemon cannot know before the fork) when
 *      LISTEN_FDS is set, or removes the LISTEN_* variables when N is 0;
 *   5. execs the program with argv[0] as given.
 * On failure it exits with systemd's exit codes (EXIT_FDS=202, EXIT_EXEC=203, ...), after
 * writing one line to stderr, so that the daemon can report "status=203/EXEC" like systemd.
 *
 * Usage: bunit-exec [options] -- PATH ARGV0 [ARGS...]
 *   -n N        number of fds at 3.. (default 0)
 *   -b 0|1      O_NONBLOCK on those fds (default 0: blocking, as systemd's NonBlocking=no)
 *   -u UID      setuid            -g GID   setgid       -G g1,g2,...  supplementary groups
 *   -d DIR      chdir (a leading '-' makes a missing directory not an error)
 *   -m UMASK    octal umask        -S       do not call setsid()
 *   -N NICE     nice value         -O ADJ   /proc/self/oom_score_adj
 *   -i          the program is an inetd service: fd 0 and 1 are the connection (no LISTEN_*)
 *   -p          ignore SIGPIPE (IgnoreSIGPIPE=yes, systemd's default)
 *   -r RES:SOFT:HARD  setrlimit (RES is the RLIMIT_* number; "inf" for no limit)
 *   -x          fd 3+N is an exec status pipe (Type=exec): it is closed by a successful exec;
 *               on failure the helper writes the exit status (one byte) into it first
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
    EXIT_CHDIR = 200,
    EXIT_NICE = 201,
    EXIT_LIMITS = 205,
    EXIT_FDS = 202,
    EXIT_EXEC = 203,
    EXIT_OOM_ADJUST = 206,
    EXIT_SIGNAL_MASK = 207,
    EXIT_GROUP = 216,
    EXIT_USER = 217,
    EXIT_SETSID = 220,
};

static int status_fd = -1;

static void die(int code, const char *what, const char *arg) {
    int e = errno;
    if (status_fd >= 0) {
        unsigned char c = (unsigned char)code;
        (void)!write(status_fd, &c, 1);
    }
    fprintf(stderr, "bunit-exec: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(e));
    _exit(code);
}

static long parse_num(const char *s, int base, int code) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, base);
    if (errno || *end || end == s) {
        errno = EINVAL;
        die(code, "bad number", s);
    }
    return v;
}

static void close_above(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < max; fd++) close((int)fd);
}

static void write_file(const char *path, const char *text, int code) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) die(code, "open", path);
    if (write(fd, text, strlen(text)) < 0) die(code, "write", path);
    close(fd);
}

int main(int argc, char **argv) {
    int nfds = 0, nonblock = 0, do_setsid = 1, inetd = 0, ignore_sigpipe = 0;
    const char *limits[32];
    int nlimits = 0;
    long uid = -1, gid = -1;
    const char *groups = NULL, *dir = NULL, *umask_s = NULL, *nice_s = NULL,
               *oom_s = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) { i++; break; }
        if (a[0] != '-' || a[1] == 0 || a[2] != 0) { errno = EINVAL; die(EXIT_EXEC, "bad option", a); }
        char opt = a[1];
        if (opt == 'S') { do_setsid = 0; continue; }
        if (opt == 'i') { inetd = 1; continue; }
        if (opt == 'p') { ignore_sigpipe = 1; continue; }
        if (opt == 'x') { status_fd = 0; continue; }
        if (i + 1 >= argc) { errno = EINVAL; die(EXIT_EXEC, "missing value for", a); }
        const char *v = argv[++i];
        switch (opt) {
        case 'n': nfds = (int)parse_num(v, 10, EXIT_FDS); break;
        case 'b': nonblock = (int)parse_num(v, 10, EXIT_FDS); break;
        case 'u': uid = parse_num(v, 10, EXIT_USER); break;
        case 'g': gid = parse_num(v, 10, EXIT_GROUP); break;
        case 'G': groups = v; break;
        case 'd': dir = v; break;
        case 'm': umask_s = v; break;
        case 'N': nice_s = v; break;
        case 'O': oom_s = v; break;
        case 'r':
            if (nlimits < 32) limits[nlimits++] = v;
            break;
        default: errno = EINVAL; die(EXIT_EXEC, "unknown option", a);
        }
    }
    if (i + 1 >= argc) { errno = EINVAL; die(EXIT_EXEC, "usage", "bunit-exec [options] -- PATH ARGV0 [ARGS...]"); }
    const char *path = argv[i];
    char **child_argv = &argv[i + 1];

    /* 1. fds */
    if (status_fd == 0) {
        status_fd = 3 + nfds;
        if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0) { status_fd = -1; die(EXIT_FDS, "status fd", NULL); }
    }
    for (int fd = 3; fd < 3 + nfds; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0) die(EXIT_FDS, "fd not open", NULL);
        if (fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0) die(EXIT_FDS, "F_SETFD", NULL);
        int st = fcntl(fd, F_GETFL);
        if (st < 0) die(EXIT_FDS, "F_GETFL", NULL);
        st = nonblock ? (st | O_NONBLOCK) : (st & ~O_NONBLOCK);
        if (fcntl(fd, F_SETFL, st) < 0) die(EXIT_FDS, "F_SETFL", NULL);
    }
    if (inetd) {
        for (int fd = 0; fd <= 1; fd++) {
            int st = fcntl(fd, F_GETFL);
            if (st >= 0) fcntl(fd, F_SETFL, nonblock ? (st | O_NONBLOCK) : (st & ~O_NONBLOCK));
        }
    }
    close_above(3 + nfds + (status_fd >= 0 ? 1 : 0));

    /* 2. session and signals */
    if (do_setsid && setsid() < 0) die(EXIT_SETSID, "setsid", NULL);
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) die(EXIT_SIGNAL_MASK, "sigprocmask", NULL);
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        signal(s, SIG_DFL);
    }
    if (nice_s) {
        errno = 0;
        if (setpriority(PRIO_PROCESS, 0, (int)parse_num(nice_s, 10, EXIT_NICE)) < 0)
            die(EXIT_NICE, "setpriority", nice_s);
    }
    if (ignore_sigpipe) signal(SIGPIPE, SIG_IGN);
    if (oom_s) write_file("/proc/self/oom_score_adj", oom_s, EXIT_OOM_ADJUST);
    for (int l = 0; l < nlimits; l++) {
        char copy[128];
        snprintf(copy, sizeof copy, "%s", limits[l]);
        char *save = NULL, *res = strtok_r(copy, ":", &save), *soft = strtok_r(NULL, ":", &save),
             *hard = strtok_r(NULL, ":", &save);
        if (!res || !soft || !hard) { errno = EINVAL; die(EXIT_LIMITS, "bad limit", limits[l]); }
        struct rlimit rl = {
            .rlim_cur = strcmp(soft, "inf") == 0 ? RLIM_INFINITY : (rlim_t)strtoull(soft, NULL, 10),
            .rlim_max = strcmp(hard, "inf") == 0 ? RLIM_INFINITY : (rlim_t)strtoull(hard, NULL, 10),
        };
        if (setrlimit((int)parse_num(res, 10, EXIT_LIMITS), &rl) < 0) die(EXIT_LIMITS, "setrlimit", limits[l]);
    }

    /* 3. credentials and directory */
    if (umask_s) umask((mode_t)parse_num(umask_s, 8, EXIT_USER));
    if (groups || gid >= 0 || uid >= 0) {
        gid_t list[NGROUPS_MAX];
        size_t n = 0;
        if (groups && *groups) {
            char *copy = strdup(groups), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t && n < NGROUPS_MAX; t = strtok_r(NULL, ",", &save))
                list[n++] = (gid_t)parse_num(t, 10, EXIT_GROUP);
            free(copy);
        }
        if ((groups || uid >= 0) && setgroups(n, list) < 0) die(EXIT_GROUP, "setgroups", NULL);
        if (gid >= 0 && setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0) die(EXIT_GROUP, "setgid", NULL);
        if (uid >= 0 && setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0) die(EXIT_USER, "setuid", NULL);
    }
    if (dir) {
        int graceful = dir[0] == '-';
        const char *d = graceful ? dir + 1 : dir;
        if (chdir(d) < 0 && !(graceful && errno == ENOENT)) die(EXIT_CHDIR, "chdir", d);
    }

    /* 4. the $LISTEN_FDS protocol */
    if (nfds > 0) {
        char pid[32];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("LISTEN_PID", pid, 1);
    } else {
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
    }

    /* sd_watchdog_enabled() checks WATCHDOG_PID against getpid(), which only we know here */
    if (getenv("WATCHDOG_USEC")) {
        char wpid[32];
        snprintf(wpid, sizeof wpid, "%d", (int)getpid());
        setenv("WATCHDOG_PID", wpid, 1);
    }

    /* 5. exec */
    execv(path, child_argv);
    die(EXIT_EXEC, "exec", path);
    return EXIT_EXEC;
}
