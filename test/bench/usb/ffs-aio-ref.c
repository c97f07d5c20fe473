/*
 * The C reference for the FunctionFS bulk benchmark: what a careful C service does with the
 * same fds bunit passes (LISTEN_FDS: ep0, ep1 bulk OUT, ep2 bulk IN). Linux AIO with DEPTH
 * requests of SIZE bytes in flight per direction, one thread each: ep1 is drained (sink), ep2
 * is fed (source); ep0 events are read and SETUP requests stalled. DEPTH and SIZE come from
 * $FFS_DEPTH and $FFS_SIZE (8 and 65536 by default), as for the TypeScript service.
 */
#define _GNU_SOURCE
#include <linux/aio_abi.h>
#include <linux/usb/functionfs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>

#define MAX_DEPTH 64

static int DEPTH = 8;
static int SIZE = 65536;

static void *pump(void *arg) {
	int fd = (int)(long)arg & 0xffff;
	int write_dir = ((long)arg >> 16) & 1;
	aio_context_t ctx = 0;
	if (syscall(SYS_io_setup, DEPTH, &ctx) < 0) { perror("io_setup"); exit(1); }
	struct iocb cbs[MAX_DEPTH];
	struct iocb *ptrs[1];
	static __thread char *bufs[MAX_DEPTH];
	for (int i = 0; i < DEPTH; i++) {
		if (posix_memalign((void **)&bufs[i], 4096, SIZE)) exit(1);
		memset(bufs[i], 0xa5, SIZE);
	}
	int inflight = 0;
	for (;;) {
		while (inflight < DEPTH) {
			int i = inflight;
			memset(&cbs[i], 0, sizeof cbs[i]);
			cbs[i].aio_fildes = fd;
			cbs[i].aio_lio_opcode = write_dir ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
			cbs[i].aio_buf = (unsigned long)bufs[i];
			cbs[i].aio_nbytes = SIZE;
			cbs[i].aio_data = i;
			ptrs[0] = &cbs[i];
			if (syscall(SYS_io_submit, ctx, 1, ptrs) != 1) {
				/* Not enabled yet or disabled: wait and retry. */
				usleep(10000);
				continue;
			}
			inflight++;
		}
		struct io_event ev[MAX_DEPTH];
		long n = syscall(SYS_io_getevents, ctx, 1, DEPTH, ev, NULL);
		if (n < 0) { if (errno == EINTR) continue; perror("io_getevents"); exit(1); }
		for (long k = 0; k < n; k++) {
			/* Resubmit the finished request in place (its slot is aio_data). */
			int i = (int)ev[k].data;
			ptrs[0] = &cbs[i];
			while (syscall(SYS_io_submit, ctx, 1, ptrs) != 1) usleep(10000);
		}
	}
	return NULL;
}

int main(void) {
	const char *n = getenv("LISTEN_FDS");
	if (!n || atoi(n) < 3) { fprintf(stderr, "ffs-aio-ref: needs LISTEN_FDS with ep0, ep1, ep2\n"); return 1; }
	if (getenv("FFS_DEPTH")) DEPTH = atoi(getenv("FFS_DEPTH"));
	if (getenv("FFS_SIZE")) SIZE = atoi(getenv("FFS_SIZE"));
	if (DEPTH < 1 || DEPTH > MAX_DEPTH || SIZE < 512) { fprintf(stderr, "ffs-aio-ref: FFS_DEPTH 1-%d, FFS_SIZE >= 512\n", MAX_DEPTH); return 1; }
	pthread_t out, in;
	pthread_create(&out, NULL, pump, (void *)(long)(4));
	pthread_create(&in, NULL, pump, (void *)(long)(5 | (1 << 16)));
	fprintf(stderr, "ffs-aio-ref: running (%d x %d bytes)\n", DEPTH, SIZE);
	char buf[sizeof(struct usb_functionfs_event) * 8];
	for (;;) {
		ssize_t r = read(3, buf, sizeof buf);
		if (r < 0) { if (errno == EINTR || errno == EAGAIN) { usleep(10000); continue; } perror("ep0"); return 1; }
		for (ssize_t o = 0; o + (ssize_t)sizeof(struct usb_functionfs_event) <= r; o += sizeof(struct usb_functionfs_event)) {
			struct usb_functionfs_event *e = (void *)(buf + o);
			if (e->type == FUNCTIONFS_SETUP) {
				if (e->u.setup.bRequestType & 0x80) { if (read(3, buf, 0) < 0) {} }
				else if (write(3, buf, 0) < 0) {}
			}
		}
	}
}
