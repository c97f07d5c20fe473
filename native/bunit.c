/*
 * libbunit: the system calls Bun lacks, as thin wrappers for bun:ffi.
 *
 * Rules for this file:
 *   - no policy: every function does one system call (or one tiny, fixed sequence);
 *   - every function returns >= 0 on success and -errno on failure, so the TypeScript side
 *     (firmware/native.ts, the only user) never has to read a thread-local errno;
 *   - address structures are built and parsed in TypeScript; here they are opaque bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <mqueue.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/aio_abi.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <unistd.h>

#define RET(expr)                                                                                  \
    do {                                                                                           \
        long _r = (long)(expr);                                                                    \
        return _r < 0 ? -errno : _r;                                                               \
    } while (0)

int bunit_abi_version(void) { return 12; }

/* ---- sockets ---------------------------------------------------------------------------- */

int bunit_socket(int family, int type, int protocol) {
    RET(socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol));
}
int bunit_socket_blocking(int family, int type, int protocol) {
    RET(socket(family, type | SOCK_CLOEXEC, protocol));
}
int bunit_bind(int fd, const void *addr, uint32_t len) { RET(bind(fd, addr, len)); }
int bunit_listen(int fd, int backlog) { RET(listen(fd, backlog)); }
int bunit_connect(int fd, const void *addr, uint32_t len) { RET(connect(fd, addr, len)); }
int bunit_accept4(int fd, void *addr, uint32_t *len, int flags) {
    socklen_t l = len ? *len : 0;
    int r = accept4(fd, addr, addr ? &l : NULL, flags);
    if (r < 0) return -errno;
    if (len) *len = l;
    return r;
}
int bunit_shutdown(int fd, int how) { RET(shutdown(fd, how)); }
int bunit_setsockopt(int fd, int level, int name, const void *val, uint32_t len) {
    RET(setsockopt(fd, level, name, val, len));
}
int bunit_setsockopt_int(int fd, int level, int name, int value) {
    RET(setsockopt(fd, level, name, &value, sizeof value));
}
/* Returns the option length on success. */
int bunit_getsockopt(int fd, int level, int name, void *val, uint32_t len) {
    socklen_t l = len;
    if (getsockopt(fd, level, name, val, &l) < 0) return -errno;
    return (int)l;
}
int bunit_getsockname(int fd, void *addr, uint32_t len) {
    socklen_t l = len;
    if (getsockname(fd, addr, &l) < 0) return -errno;
    return (int)l;
}
int bunit_getpeername(int fd, void *addr, uint32_t len) {
    socklen_t l = len;
    if (getpeername(fd, addr, &l) < 0) return -errno;
    return (int)l;
}
/* out[0]=pid out[1]=uid out[2]=gid */
int bunit_peercred(int fd, int32_t *out) {
    struct ucred c;
    socklen_t l = sizeof c;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &l) < 0) return -errno;
    out[0] = c.pid;
    out[1] = (int32_t)c.uid;
    out[2] = (int32_t)c.gid;
    return 0;
}
int bunit_socketpair(int family, int type, int32_t *out) {
    int sv[2];
    if (socketpair(family, type | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
    out[0] = sv[0];
    out[1] = sv[1];
    return 0;
}
long bunit_send(int fd, const void *buf, uint64_t len, int flags) { RET(send(fd, buf, len, flags)); }
long bunit_recv(int fd, void *buf, uint64_t len, int flags) { RET(recv(fd, buf, len, flags)); }
long bunit_sendto(int fd, const void *buf, uint64_t len, int flags, const void *addr, uint32_t alen) {
    RET(sendto(fd, buf, len, flags, addr, alen));
}

/*
 * Control messages shared by the recvmsg wrappers below. take_creds(): SCM_CREDENTIALS into
 * out[0..3] = pid, uid, gid, 1. take_fds(): SCM_RIGHTS into fds (those beyond maxfds are closed).
 */
static int take_creds(struct cmsghdr *c, int32_t *out) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS ||
        c->cmsg_len != CMSG_LEN(sizeof(struct ucred)))
        return 0;
    struct ucred u;
    memcpy(&u, CMSG_DATA(c), sizeof u);
    out[0] = u.pid;
    out[1] = (int32_t)u.uid;
    out[2] = (int32_t)u.gid;
    out[3] = 1;
    return 1;
}
static int take_fds(struct cmsghdr *c, int32_t *fds, uint32_t maxfds, uint32_t *nfds) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) return 0;
    uint32_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (uint32_t i = 0; i < n; i++) {
        int got;
        memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (*nfds < maxfds) fds[(*nfds)++] = got;
        else close(got);
    }
    return 1;
}

/*
 * recvmsg with the sender's address and SCM_CREDENTIALS (for netlink uevents and AF_UNIX
 * datagrams). meta[0] = address length, meta[1] = pid, meta[2] = uid, meta[3] = gid,
 * meta[4] = 1 when credentials were present, meta[5] = msg_flags (MSG_TRUNC, MSG_CTRUNC).
 * Returns the number of bytes of the datagram (which may exceed len when truncated: MSG_TRUNC
 * is passed so the kernel reports the real size).
 */
long bunit_recvmsg_creds(int fd, void *buf, uint64_t len, void *addr, uint32_t alen, int32_t *meta,
                         int flags) {
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    struct msghdr msg = {
        .msg_name = addr,
        .msg_namelen = alen,
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &ctl,
        .msg_controllen = sizeof ctl,
    };
    memset(meta, 0, 6 * sizeof(int32_t));
    ssize_t n = recvmsg(fd, &msg, flags | MSG_TRUNC | MSG_CMSG_CLOEXEC);
    if (n < 0) return -errno;
    meta[0] = (int32_t)msg.msg_namelen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) take_creds(c, meta + 1);
    meta[5] = msg.msg_flags;
    return n;
}

/*
 * recvmsg() taking both SCM_CREDENTIALS and SCM_RIGHTS (the notify socket: READY=1 with the
 * sender's pid, FDSTORE=1 with fds). meta: [pid, uid, gid, has_creds, msg_flags].
 */
long bunit_recvmsg_notify(int fd, void *buf, uint64_t len, int32_t *fds, uint32_t maxfds, uint32_t *nfds,
                          int32_t *meta) {
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    size_t space = CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * maxfds);
    char *ctl = calloc(1, space);
    if (!ctl) return -ENOMEM;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = space};
    memset(meta, 0, 5 * sizeof(int32_t));
    *nfds = 0;
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT | MSG_TRUNC);
    int e = errno;
    if (r >= 0) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (!take_creds(c, meta)) take_fds(c, fds, maxfds, nfds);
        meta[4] = msg.msg_flags;
    }
    free(ctl);
    return r < 0 ? -e : r;
}

/* sendmsg with explicit SCM_CREDENTIALS (used by tests that forge uevents). */
long bunit_sendmsg_creds(int fd, const void *buf, uint64_t len, const void *addr, uint32_t alen,
                         int pid, int uid, int gid) {
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr msg = {
        .msg_name = (void *)addr,
        .msg_namelen = alen,
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &ctl,
        .msg_controllen = sizeof ctl,
    };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred u = {.pid = pid, .uid = (uid_t)uid, .gid = (gid_t)gid};
    memcpy(CMSG_DATA(c), &u, sizeof u);
    RET(sendmsg(fd, &msg, MSG_NOSIGNAL));
}

/* Send fds over an AF_UNIX socket (SCM_RIGHTS) with a payload. */
long bunit_send_fds(int fd, const void *buf, uint64_t len, const int32_t *fds, uint32_t nfds) {
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    size_t space = CMSG_SPACE(sizeof(int) * nfds);
    char *ctl = nfds ? calloc(1, space) : NULL;
    if (nfds && !ctl) return -ENOMEM;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                         .msg_controllen = nfds ? space : 0};
    if (nfds) {
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL);
    int e = errno;
    free(ctl);
    return r < 0 ? -e : r;
}

/* Receive a payload and up to maxfds fds (SCM_RIGHTS, received close-on-exec). *nfds gets the count. */
long bunit_recv_fds(int fd, void *buf, uint64_t len, int32_t *fds, uint32_t maxfds, uint32_t *nfds) {
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    size_t space = CMSG_SPACE(sizeof(int) * maxfds);
    char *ctl = calloc(1, space ? space : 1);
    if (!ctl) return -ENOMEM;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                         .msg_controllen = space};
    ssize_t r = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    int e = errno;
    *nfds = 0;
    if (r >= 0) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) take_fds(c, fds, maxfds, nfds);
    }
    free(ctl);
    return r < 0 ? -e : r;
}

/* ---- files, FIFOs, message queues ------------------------------------------------------- */

int bunit_open(const char *path, int flags, int mode) { RET(open(path, flags | O_CLOEXEC, mode)); }
int bunit_openat(int dirfd, const char *path, int flags, int mode) {
    RET(openat(dirfd, path, flags | O_CLOEXEC, mode));
}
int bunit_close(int fd) { RET(close(fd)); }
long bunit_read(int fd, void *buf, uint64_t len) { RET(read(fd, buf, len)); }
long bunit_write(int fd, const void *buf, uint64_t len) { RET(write(fd, buf, len)); }
int bunit_mkfifo(const char *path, int mode) { RET(mkfifo(path, mode)); }
int bunit_fcntl(int fd, int cmd, long arg) { RET(fcntl(fd, cmd, arg)); }
int bunit_pipe(int32_t *out) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -errno;
    out[0] = p[0];
    out[1] = p[1];
    return 0;
}
int bunit_dup_cloexec(int fd) { RET(fcntl(fd, F_DUPFD_CLOEXEC, 3)); }
/* Whether two fds of this process refer to the same open file description (kcmp KCMP_FILE):
 * 1 same, 0 different, -errno when the kernel cannot tell (no kcmp). */
int bunit_same_file(int a, int b) {
    pid_t self = getpid();
    long r = syscall(SYS_kcmp, self, self, 0 /* KCMP_FILE */, (unsigned long)a, (unsigned long)b);
    if (r < 0) return -errno;
    return r == 0 ? 1 : 0;
}
int bunit_ioctl(int fd, unsigned long req, void *arg) { RET(ioctl(fd, req, arg)); }
int bunit_fchown(int fd, int uid, int gid) { RET(fchown(fd, (uid_t)uid, (gid_t)gid)); }
int bunit_lchown(const char *path, int uid, int gid) { RET(lchown(path, (uid_t)uid, (gid_t)gid)); }
int bunit_fchmod(int fd, int mode) { RET(fchmod(fd, mode)); }
int bunit_fsetxattr(int fd, const char *name, const void *value, uint32_t len) {
    RET(fsetxattr(fd, name, value, len, 0));
}
int bunit_lsetxattr(const char *path, const char *name, const void *value, uint32_t len) {
    RET(lsetxattr(path, name, value, len, 0));
}
/* out[0]=st_mode out[1]=st_uid out[2]=st_gid; out64[0]=st_ino out64[1]=st_dev out64[2]=st_rdev */
int bunit_fstat(int fd, uint32_t *out, uint64_t *out64) {
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    out[0] = st.st_mode;
    out[1] = st.st_uid;
    out[2] = st.st_gid;
    out64[0] = st.st_ino;
    out64[1] = st.st_dev;
    out64[2] = st.st_rdev;
    return 0;
}
/* Wait up to timeout_ms for the fd to be readable (used only by blocking helpers and tests). */
int bunit_poll1(int fd, int events, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = (short)events};
    int r = poll(&p, 1, timeout_ms);
    if (r < 0) return -errno;
    return r == 0 ? 0 : p.revents;
}

int bunit_mq_open(const char *name, int oflag, int mode, long maxmsg, long msgsize) {
    struct mq_attr attr = {0};
    struct mq_attr *ap = NULL;
    if (maxmsg > 0 && msgsize > 0) {
        attr.mq_maxmsg = maxmsg;
        attr.mq_msgsize = msgsize;
        ap = &attr;
    }
    RET(mq_open(name, oflag | O_CLOEXEC, (mode_t)mode, ap));
}
int bunit_mq_unlink(const char *name) { RET(mq_unlink(name)); }
/* out[0]=flags out[1]=maxmsg out[2]=msgsize out[3]=curmsgs */
int bunit_mq_getattr(int fd, int64_t *out) {
    struct mq_attr a;
    if (mq_getattr(fd, &a) < 0) return -errno;
    out[0] = a.mq_flags;
    out[1] = a.mq_maxmsg;
    out[2] = a.mq_msgsize;
    out[3] = a.mq_curmsgs;
    return 0;
}
long bunit_mq_receive(int fd, void *buf, uint64_t len) { RET(mq_receive(fd, buf, len, NULL)); }
int bunit_mq_send(int fd, const void *buf, uint64_t len, unsigned prio) {
    RET(mq_send(fd, buf, len, prio));
}

/* ---- names ------------------------------------------------------------------------------ */

int bunit_if_nametoindex(const char *name) {
    unsigned r = if_nametoindex(name);
    return r ? (int)r : -errno;
}
int bunit_strerror(int err, char *buf, uint32_t len) {
    const char *s = strerror(err);
    strncpy(buf, s, len - 1);
    buf[len - 1] = 0;
    return 0;
}
/* Resolves a user; out[0]=uid out[1]=gid; home and shell are copied into the buffers. */
int bunit_getpwnam(const char *name, int32_t *out, char *home, uint32_t homelen, char *shell,
                   uint32_t shelllen) {
    struct passwd pw, *res = NULL;
    char buf[4096];
    int r = getpwnam_r(name, &pw, buf, sizeof buf, &res);
    if (r) return -r;
    if (!res) return -ESRCH;
    out[0] = (int32_t)pw.pw_uid;
    out[1] = (int32_t)pw.pw_gid;
    if (home && homelen) { strncpy(home, pw.pw_dir ? pw.pw_dir : "", homelen - 1); home[homelen - 1] = 0; }
    if (shell && shelllen) { strncpy(shell, pw.pw_shell ? pw.pw_shell : "", shelllen - 1); shell[shelllen - 1] = 0; }
    return 0;
}
int bunit_getpwuid(int uid, char *name, uint32_t namelen, char *home, uint32_t homelen) {
    struct passwd pw, *res = NULL;
    char buf[4096];
    int r = getpwuid_r((uid_t)uid, &pw, buf, sizeof buf, &res);
    if (r) return -r;
    if (!res) return -ESRCH;
    strncpy(name, pw.pw_name, namelen - 1); name[namelen - 1] = 0;
    strncpy(home, pw.pw_dir ? pw.pw_dir : "", homelen - 1); home[homelen - 1] = 0;
    return (int)pw.pw_gid;
}
int bunit_getgrnam(const char *name) {
    struct group gr, *res = NULL;
    char buf[8192];
    int r = getgrnam_r(name, &gr, buf, sizeof buf, &res);
    if (r) return -r;
    if (!res) return -ESRCH;
    return (int)gr.gr_gid;
}
int bunit_getgrgid(int gid, char *name, uint32_t namelen) {
    struct group gr, *res = NULL;
    char buf[8192];
    int r = getgrgid_r((gid_t)gid, &gr, buf, sizeof buf, &res);
    if (r) return -r;
    if (!res) return -ESRCH;
    strncpy(name, gr.gr_name, namelen - 1); name[namelen - 1] = 0;
    return 0;
}

/* ---- processes -------------------------------------------------------------------------- */

int bunit_kill(int pid, int sig) { RET(kill(pid, sig)); }
int bunit_getpid(void) { return getpid(); }
int bunit_getuid(void) { return (int)getuid(); }
/*
 * Non-blocking reap of one child of ours that Bun did not spawn (Type=forking daemons that were
 * re-parented to us as subreaper). Returns the pid (0 when none); *status gets the wait status.
 */
int bunit_waitpid_nohang(int pid, int32_t *status) {
    int st = 0;
    int r = waitpid(pid, &st, WNOHANG);
    if (r < 0) return -errno;
    *status = st;
    return r;
}
int bunit_prctl_subreaper(int on) {
#ifndef PR_SET_CHILD_SUBREAPER
#define PR_SET_CHILD_SUBREAPER 36
#endif
    extern int prctl(int, ...);
    RET(prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0));
}

/*
 * RLIMIT_NOFILE of the calling process: out[0..1] get the old soft and hard limits; when set is
 * non-zero the new ones are soft and hard. One call, no process to spawn (spawning needs fds).
 */
int bunit_prlimit_nofile(int set, uint64_t soft, uint64_t hard, uint64_t *out) {
    struct rlimit nw = {.rlim_cur = soft, .rlim_max = hard}, old;
    if (prlimit(0, RLIMIT_NOFILE, set ? &nw : NULL, &old) < 0) return -errno;
    out[0] = old.rlim_cur;
    out[1] = old.rlim_max;
    return 0;
}
/* A pidfd for a process (readable once it exits): how bunit watches processes Bun did not spawn. */
int bunit_pidfd_open(int pid) {
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
    RET(syscall(SYS_pidfd_open, pid, 0));
}
/* Clears or sets FD_CLOEXEC (fds handed over across daemon-reexec). */
int bunit_set_cloexec(int fd, int on) {
    int f = fcntl(fd, F_GETFD);
    if (f < 0) return -errno;
    RET(fcntl(fd, F_SETFD, on ? (f | FD_CLOEXEC) : (f & ~FD_CLOEXEC)));
}
/* execve() of the calling process: replaces the daemon in place, same pid, children kept. */
int bunit_execve(const char *path, char *const *argv, char *const *envp) {
    execve(path, argv, envp);
    return -errno;
}

/* bunit_spawn(), the clone3() of every service process: native/bunit-spawn.c */

/* ---- the readiness poller --------------------------------------------------------------- */
/*
 * Bun's event loop cannot watch an arbitrary fd (a listening socket it did not create, netlink,
 * a FIFO, an mqueue, FunctionFS ep0). What it can watch is a pipe: Bun.file(fd).stream() on a
 * non-blocking pipe is driven by Bun's own epoll. So one native thread waits in epoll_wait()
 * on every fd we care about, registered EPOLLONESHOT, and writes one 8-byte record
 * (le32 token, le32 revents) per ready fd into that pipe. The JavaScript side dispatches the
 * record and re-arms the fd when it wants more. The thread never calls into JavaScript.
 * See firmware/native.ts for the measured alternatives.
 */
static int poller_epfd = -1;
static int poller_wfd = -1;

static void *poller_main(void *arg) {
    (void)arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(poller_epfd, evs, 64, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < n; i++) {
            uint32_t rec[2] = {evs[i].data.u32, evs[i].events};
            const char *p = (const char *)rec;
            size_t left = sizeof rec;
            while (left) {
                ssize_t w = write(poller_wfd, p, left);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    if (errno == EAGAIN) {
                        struct pollfd pf = {.fd = poller_wfd, .events = POLLOUT};
                        poll(&pf, 1, -1);
                        continue;
                    }
                    return NULL;
                }
                p += w;
                left -= (size_t)w;
            }
        }
    }
    return NULL;
}

/* Starts the poller thread once; returns the read end of the record pipe. */
int bunit_poller_start(void) {
    static int rfd = -1;
    if (rfd >= 0) return rfd;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    /* The writer blocks (via poll) when the pipe is full rather than dropping records. */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return -e;
    }
    poller_epfd = ep;
    poller_wfd = p[1];
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    /* Born with every signal blocked (the mask is inherited): no signal of the process, whose
     * handlers are Bun's, is ever delivered on this thread, not even before its first line. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int r = pthread_create(&t, &attr, poller_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r) return -r;
    pthread_detach(t);
    rfd = p[0];
    return rfd;
}

/* Arms (or re-arms) fd for one readiness report with the given events. */
int bunit_poller_watch(int fd, uint32_t events, uint32_t token) {
    struct epoll_event e = {.events = events | EPOLLONESHOT, .data.u32 = token};
    if (epoll_ctl(poller_epfd, EPOLL_CTL_MOD, fd, &e) == 0) return 0;
    if (errno != ENOENT) return -errno;
    RET(epoll_ctl(poller_epfd, EPOLL_CTL_ADD, fd, &e));
}
int bunit_poller_unwatch(int fd) {
    struct epoll_event e = {0};
    if (epoll_ctl(poller_epfd, EPOLL_CTL_DEL, fd, &e) < 0 && errno != ENOENT && errno != EBADF)
        return -errno;
    return 0;
}

/* ---- mounts, eventfd, Linux AIO (FunctionFS endpoints) ---------------------------------- */

int bunit_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data) {
    RET(mount(src, target, fstype, flags, data));
}
int bunit_umount(const char *target, int flags) { RET(umount2(target, flags)); }
int bunit_eventfd(unsigned initval, int flags) { RET(eventfd(initval, flags | EFD_CLOEXEC)); }

/* Buffers and iocbs that the kernel uses asynchronously live outside the JavaScript heap. */
void *bunit_alloc(uint64_t size) {
    void *p = NULL;
    if (posix_memalign(&p, 4096, size ? size : 1)) return NULL;
    memset(p, 0, size);
    return p;
}
void bunit_free(void *p) { free(p); }

/*
 * A shared read-write mapping of fd (a vhost-user front-end's guest memory); *out gets the
 * address, which TypeScript wraps with toArrayBuffer(). Unmapped with bunit_munmap.
 */
int bunit_mmap_shared(int fd, uint64_t len, uint64_t off, uint64_t *out) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
    if (p == MAP_FAILED) return -errno;
    *out = (uint64_t)(uintptr_t)p;
    return 0;
}
int bunit_munmap(uint64_t addr, uint64_t len) { RET(munmap((void *)(uintptr_t)addr, len)); }

int bunit_aio_setup(unsigned nr, uint64_t *ctx) {
    aio_context_t c = 0;
    if (syscall(SYS_io_setup, nr, &c) < 0) return -errno;
    *ctx = (uint64_t)c;
    return 0;
}
int bunit_aio_destroy(uint64_t ctx) { RET(syscall(SYS_io_destroy, (aio_context_t)ctx)); }
/* Submits one iocb (prepared by the caller in memory from bunit_alloc). */
int bunit_aio_submit(uint64_t ctx, void *iocb) {
    struct iocb *list[1] = {iocb};
    RET(syscall(SYS_io_submit, (aio_context_t)ctx, 1L, list));
}
/* Collects up to max finished events (struct io_event, 32 bytes each) without waiting. */
int bunit_aio_getevents(uint64_t ctx, long max, void *events) {
    struct timespec zero = {0, 0};
    RET(syscall(SYS_io_getevents, (aio_context_t)ctx, 0L, max, events, &zero));
}
int bunit_aio_cancel(uint64_t ctx, void *iocb, void *result) {
    RET(syscall(SYS_io_cancel, (aio_context_t)ctx, iocb, result));
}
