/*
 * The C reference for the uevent parse-rate benchmark: the same checks as
 * firmware/uevent/uevent.ts (header ACTION@DEVPATH, NUL-terminated KEY=VALUE fields, ACTION,
 * DEVPATH, SUBSYSTEM present, header matching the fields, numeric SEQNUM), over a file of
 * length-prefixed messages read into memory, repeated ROUNDS times. Prints messages/s.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int parse(const char *b, size_t n) {
	if (n == 0 || b[n - 1] != '\0') return -1;
	const char *hdr = b, *at = strchr(hdr, '@');
	if (!at || at == hdr) return -1;
	const char *action = NULL, *devpath = NULL, *subsystem = NULL;
	for (const char *p = hdr + strlen(hdr) + 1; p < b + n; p += strlen(p) + 1) {
		const char *eq = strchr(p, '=');
		if (!eq || eq == p) return -1;
		size_t k = (size_t)(eq - p);
		if (k == 6 && !memcmp(p, "ACTION", 6)) action = eq + 1;
		else if (k == 7 && !memcmp(p, "DEVPATH", 7)) devpath = eq + 1;
		else if (k == 9 && !memcmp(p, "SUBSYSTEM", 9)) subsystem = eq + 1;
		else if (k == 6 && !memcmp(p, "SEQNUM", 6)) {
			for (const char *d = eq + 1; *d; d++) if (*d < '0' || *d > '9') return -1;
		}
	}
	if (!action || !devpath || !subsystem || devpath[0] != '/') return -1;
	if ((size_t)(at - hdr) != strlen(action) || memcmp(hdr, action, (size_t)(at - hdr)) || strcmp(at + 1, devpath)) return -1;
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) return 2;
	FILE *f = fopen(argv[1], "rb");
	if (!f) return 1;
	static char buf[1 << 24];
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	long rounds = atol(argv[2]), count = 0, bad = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long r = 0; r < rounds; r++) {
		for (size_t o = 0; o + 4 <= len;) {
			uint32_t n;
			memcpy(&n, buf + o, 4);
			bad += parse(buf + o + 4, n) != 0;
			count++;
			o += 4 + n;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("%.0f %ld\n", (double)count / s, bad);
	return 0;
}
