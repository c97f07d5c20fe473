/*
 * A Type=notify test service that starts in a millisecond (a Bun process can take seconds to
 * start on a loaded machine, longer than the start timeouts the tests exercise). Each
 * argument is one step, run in order; then it waits for a signal.
 *
 *   MSG          sd_notify(MSG) from the main process, e.g. READY=1 or EXTEND_TIMEOUT_USEC=N
 *   sleep=MS     waits MS milliseconds
 *   child=MSG    a forked child sends MSG and stays alive (so the manager can still find
 *                the sender's unit from its pid), as a process that is not the main one
 *
 * Exit status 2 on a bad argument, 1 when sd_notify fails (no $NOTIFY_SOCKET).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static void notify_or_die(const char *msg) {
  int r = sd_notify(0, msg);
  if (r <= 0) {
    fprintf(stderr, "notify-steps: sd_notify(%s) = %d\n", msg, r);
    exit(1);
  }
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "sleep=", 6) == 0) {
      long ms = strtol(a + 6, NULL, 10);
      struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
      while (nanosleep(&ts, &ts) != 0) {}
    } else if (strncmp(a, "child=", 6) == 0) {
      pid_t p = fork();
      if (p < 0) return 1;
      if (p == 0) {
        notify_or_die(a + 6);
        for (;;) pause();
      }
    } else if (strchr(a, '=')) {
      notify_or_die(a);
    } else {
      fprintf(stderr, "notify-steps: bad step %s\n", a);
      return 2;
    }
  }
  for (;;) pause();
}
