/*
 * Accept=no benchmark service: accepts one connection on the listening fd 3 (sd_listen_fds
 * protocol), writes "x", closes and exits, so that every measurement is a fresh activation.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
	const char *n = getenv("LISTEN_FDS");
	if (!n || atoi(n) < 1) return 1;
	int c = accept(3, NULL, NULL);
	if (c < 0) return 1;
	if (write(c, "x", 1) != 1) return 1;
	close(c);
	return 0;
}
