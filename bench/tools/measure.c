/*
 * measure CMD [ARGS...]: runs CMD and reports, on file descriptor 3 (stderr
 * when 3 is not open), how long it ran from fork to reaped exit and what
 * wait4() says about it:
 *
 *   pid <pid>              as soon as the child exists
 *   wall_ns <ns>           CLOCK_MONOTONIC, fork() to wait4() returning
 *   maxrss_kib <KiB>       the child's peak resident set (ru_maxrss)
 *   utime_us <us>          user CPU time
 *   stime_us <us>          system CPU time
 *   status <n>             exit status, or
 *   signal <n>             the signal that ended it
 *
 * Timing here rather than in the Node runner keeps the runner's own spawn and
 * event-loop latency out of start-to-exit numbers. The exit status is passed
 * on (128 + signal for a signal).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_us(struct timeval tv)
{
  return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: measure CMD [ARGS...]\n");
    return 125;
  }
  int report = fcntl(3, F_GETFD) == -1 ? 2 : 3;
  /* The child must not inherit the report channel: the runner waits for its EOF. */
  if (report == 3)
    fcntl(3, F_SETFD, FD_CLOEXEC);

  long long start = now_ns();
  pid_t pid = fork();
  if (pid < 0) {
    perror("measure: fork");
    return 125;
  }
  if (pid == 0) {
    execvp(argv[1], argv + 1);
    fprintf(stderr, "measure: cannot run %s: %s\n", argv[1], strerror(errno));
    _exit(127);
  }
  dprintf(report, "pid %d\n", (int)pid);

  int status;
  struct rusage ru;
  pid_t got;
  do {
    got = wait4(pid, &status, 0, &ru);
  } while (got < 0 && errno == EINTR);
  long long wall = now_ns() - start;
  if (got < 0) {
    perror("measure: wait4");
    return 125;
  }
  dprintf(report, "wall_ns %lld\nmaxrss_kib %ld\nutime_us %lld\nstime_us %lld\n", wall,
          ru.ru_maxrss, tv_us(ru.ru_utime), tv_us(ru.ru_stime));
  if (WIFSIGNALED(status)) {
    dprintf(report, "signal %d\n", WTERMSIG(status));
    return 128 + WTERMSIG(status);
  }
  dprintf(report, "status %d\n", WEXITSTATUS(status));
  return WEXITSTATUS(status);
}
