/*
 * The C side of the vsock throughput benchmark, both ends:
 *
 *   vsock-sink-source serve [PORT]
 *       The service. With LISTEN_FDS=1 for this pid (an Accept=no socket unit) it accepts on
 *       fd 3; otherwise it binds VMADDR_CID_ANY:PORT itself (the no-activation reference).
 *       Connections are served one after the other. The first byte says what to do:
 *         'S'  sink: read until EOF, then answer the byte count (8 bytes, little endian);
 *         'R'  source: write until the client goes away.
 *
 *   vsock-sink-source client CID PORT send|recv SECONDS
 *       The client: sends (or receives) for SECONDS and prints "BYTES SECONDS" on one line.
 *       For send, the time runs until the service has confirmed the count it read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK 65536

static char buf[CHUNK];

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what) {
	perror(what);
	exit(1);
}

static int write_all(int fd, const void *p, size_t n) {
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, void *p, size_t n) {
	char *c = p;
	while (n) {
		ssize_t r = read(fd, c, n);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) return -1;
		c += r;
		n -= (size_t)r;
	}
	return 0;
}

static void serve_one(int c) {
	char mode;
	if (read_all(c, &mode, 1) < 0) return;
	if (mode == 'S') {
		uint64_t total = 0;
		for (;;) {
			ssize_t r = read(c, buf, sizeof buf);
			if (r < 0 && errno == EINTR) continue;
			if (r <= 0) break;
			total += (uint64_t)r;
		}
		unsigned char le[8];
		for (int i = 0; i < 8; i++) le[i] = (unsigned char)(total >> (8 * i));
		write_all(c, le, sizeof le);
	} else if (mode == 'R') {
		while (write_all(c, buf, sizeof buf) == 0) {}
	}
}

static int serve(int argc, char **argv) {
	int l;
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (pid && fds && atoi(pid) == getpid() && atoi(fds) == 1) {
		l = 3;
	} else {
		if (argc < 3) {
			fprintf(stderr, "serve: no LISTEN_FDS and no PORT\n");
			return 2;
		}
		l = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (l < 0) die("socket");
		struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = (unsigned)atoi(argv[2]) };
		if (bind(l, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
		if (listen(l, 16) < 0) die("listen");
	}
	fprintf(stderr, "vsock-sink-source: running\n");
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED) continue;
			die("accept");
		}
		serve_one(c);
		close(c);
	}
}

static int client(char **argv) {
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = (unsigned)strtoul(argv[2], NULL, 10), .svm_port = (unsigned)atoi(argv[3]) };
	int sending = strcmp(argv[4], "send") == 0;
	double seconds = atof(argv[5]);
	int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) die("socket");
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
	char mode = sending ? 'S' : 'R';
	if (write_all(s, &mode, 1) < 0) die("write");
	uint64_t total = 0;
	double t0 = now(), end = t0 + seconds;
	if (sending) {
		while (now() < end) {
			if (write_all(s, buf, sizeof buf) < 0) die("write");
		}
		if (shutdown(s, SHUT_WR) < 0) die("shutdown");
		unsigned char le[8];
		if (read_all(s, le, sizeof le) < 0) die("reading the count");
		for (int i = 0; i < 8; i++) total |= (uint64_t)le[i] << (8 * i);
	} else {
		while (now() < end) {
			ssize_t r = read(s, buf, sizeof buf);
			if (r < 0 && errno == EINTR) continue;
			if (r < 0) die("read");
			if (r == 0) {
				fprintf(stderr, "client: the service closed early\n");
				return 1;
			}
			total += (uint64_t)r;
		}
	}
	printf("%llu %.6f\n", (unsigned long long)total, now() - t0);
	close(s);
	return 0;
}

int main(int argc, char **argv) {
	signal(SIGPIPE, SIG_IGN);
	memset(buf, 0x5a, sizeof buf);
	if (argc >= 2 && strcmp(argv[1], "serve") == 0) return serve(argc, argv);
	if (argc == 6 && strcmp(argv[1], "client") == 0) return client(argv);
	fprintf(stderr, "usage: %s serve [PORT] | client CID PORT send|recv SECONDS\n", argv[0]);
	return 2;
}
