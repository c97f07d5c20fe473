/*
 * A socket-activated test service built with Debian's libsystemd: it inspects what it was
 * given with sd_listen_fds_with_names() and sd_is_*() and reports one line per fd:
 *
 *   listen_fds=N pid_ok=1|0
 *   fd=3 name=NAME kind=KIND listening=0|1 nonblock=0|1
 *
 * kind: inet-stream, inet-dgram, inet6-stream, ..., unix-stream, unix-dgram, unix-seqpacket,
 * netlink, vsock-stream, fifo, mqueue, special, socket, other.
 *
 * Usage: sd-listen-report [--file PATH] [--serve]
 *   (default)    print the report on stdout
 *   --file PATH  append the report to PATH
 *   --serve      accept one connection on the first listening socket, write the report to it
 *                (or, on a datagram socket, reply to the first datagram with the report)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static const char *kind_of(int fd, char *buf, size_t len) {
    int type = 0, domain = 0;
    socklen_t l = sizeof type;
    if (sd_is_fifo(fd, NULL) > 0) return "fifo";
    if (sd_is_mq(fd, NULL) > 0) return "mqueue";
    if (sd_is_special(fd, NULL) > 0) return "special";
    if (sd_is_socket(fd, AF_UNSPEC, 0, -1) <= 0) return "other";
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
    l = sizeof domain;
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l);
    const char *t = type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : type == SOCK_RAW ? "raw" : "socket";
    const char *d;
    if (sd_is_socket_inet(fd, AF_INET, 0, -1, 0) > 0) d = "inet";
    else if (sd_is_socket_inet(fd, AF_INET6, 0, -1, 0) > 0) d = "inet6";
    else if (sd_is_socket_unix(fd, 0, -1, NULL, 0) > 0) d = "unix";
    else if (domain == AF_NETLINK) return "netlink";
    else if (domain == AF_VSOCK) d = "vsock";
    else d = "socket";
    snprintf(buf, len, "%s-%s", d, t);
    return buf;
}

int main(int argc, char **argv) {
    const char *file = NULL;
    int serve = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) file = argv[++i];
        else if (strcmp(argv[i], "--serve") == 0) serve = 1;
    }
    const char *lp = getenv("LISTEN_PID");
    int pid_ok = lp && atoi(lp) == getpid();
    char **names = NULL;
    int n = sd_listen_fds_with_names(0, &names);
    char *report = NULL;
    size_t rlen = 0;
    FILE *out = open_memstream(&report, &rlen);
    fprintf(out, "listen_fds=%d pid_ok=%d\n", n, pid_ok);
    int first_listen = -1, first_dgram = -1;
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        char buf[64];
        int listening = sd_is_socket(fd, AF_UNSPEC, 0, 1) > 0;
        int nb = (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
        const char *k = kind_of(fd, buf, sizeof buf);
        fprintf(out, "fd=%d name=%s kind=%s listening=%d nonblock=%d\n", fd, names ? names[i] : "?", k, listening, nb);
        if (listening && first_listen < 0) first_listen = fd;
        if (!listening && strstr(k, "dgram") && first_dgram < 0) first_dgram = fd;
    }
    fclose(out);
    if (file) {
        FILE *f = fopen(file, "a");
        if (f) {
            fputs(report, f);
            fclose(f);
        }
    }
    if (!file && !serve) fputs(report, stdout);
    if (serve && first_listen >= 0) {
        int c = accept4(first_listen, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0) {
            (void)!write(c, report, rlen);
            close(c);
        }
    } else if (serve && first_dgram >= 0) {
        char b[512];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ssize_t r = recvfrom(first_dgram, b, sizeof b, 0, (struct sockaddr *)&ss, &sl);
        if (r >= 0) sendto(first_dgram, report, rlen, 0, (struct sockaddr *)&ss, sl);
    }
    free(report);
    return 0;
}
