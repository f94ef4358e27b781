/*
 * The BSD cores' helper process: a child, started when the VM is created,
 * that can still tear the VM down after the tender has sandboxed itself or
 * died. The tender keeps one end of a socketpair; the helper keeps the other
 * as fd 0 (and the one device fd it needs as fd 1). One byte from the tender
 * asks it to act now and answer with an int (0 or an errno value);
 * end-of-file means the tender is gone, however it ended, and the helper acts
 * anyway. What it does, and how it hardens itself, stays in the core.
 * Header-only, for cores built with -nostdinc.
 *
 * Before including, a core defines, from its own libc shim:
 *   HVT_BSD_LIBC(name)  the shim's constant `name` (EINTR, EIO, AF_UNIX,
 *                       SOCK_STREAM, SOCK_CLOEXEC, MSG_NOSIGNAL, the SIG*
 *                       numbers below, SIG_IGN, NULL);
 *   HVT_BSD_ERRNO       errno, as an lvalue;
 * and declares closefrom (its return type is the system's own).
 */
#ifndef HVT_BSD_HELPER_H
#define HVT_BSD_HELPER_H

#include "hvt/bsd_libc.h"

#if !defined(HVT_BSD_LIBC) || !defined(HVT_BSD_ERRNO)
#error "define HVT_BSD_LIBC(name) and HVT_BSD_ERRNO before including hvt/bsd_helper.h"
#endif

/* What runs in the helper, given its end of the channel; it must not return. */
typedef void (*hvt_helper_main)(int chan, const void *arg);

/* -errno (EIO when errno is 0), with *step set to `what` when step is given. */
static inline int hvt_helper_fail(const char **step, const char *what) {
  int err = HVT_BSD_ERRNO;
  if (step != HVT_BSD_LIBC(NULL)) *step = what;
  return -(err != 0 ? err : HVT_BSD_LIBC(EIO));
}

/*
 * First thing in the helper: a session of its own, deaf to the terminal and
 * job-control signals that reach the tender's group; the channel renumbered
 * to fd 0 and `fd` (when >= 0) to fd 1, every other fd closed, since the
 * tender's stdout pipe or taps held here would outlive the tender. Returns
 * where `fd` is now: 1, or -1 when there is none. Only async-signal-safe
 * calls: the helper is forked from a multi-threaded process.
 */
static inline int hvt_helper_detach(int chan, int fd) {
  setsid();
  static const int ignored[] = {
      HVT_BSD_LIBC(SIGHUP),  HVT_BSD_LIBC(SIGINT),  HVT_BSD_LIBC(SIGQUIT), HVT_BSD_LIBC(SIGPIPE),
      HVT_BSD_LIBC(SIGTERM), HVT_BSD_LIBC(SIGTSTP), HVT_BSD_LIBC(SIGTTIN), HVT_BSD_LIBC(SIGTTOU)};
  for (hvt_size i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
    signal(ignored[i], HVT_BSD_LIBC(SIG_IGN));
  }

  /* fd must not sit on 0, which the channel is about to take. */
  if (fd == 0) fd = dup(fd);
  if (chan != 0 && dup2(chan, 0) != 0) _exit(2);
  if (fd < 0) {
    closefrom(1);
    return -1;
  }
  if (fd != 1 && dup2(fd, 1) != 1) _exit(2);
  closefrom(2);
  return 1;
}

/* Waits for the tender's byte: 1 when it came, 0 at end-of-file or on error. */
static inline int hvt_helper_await(void) {
  char command = 0;
  hvt_ssize n;
  do {
    n = recv(0, &command, 1, 0);
  } while (n < 0 && HVT_BSD_ERRNO == HVT_BSD_LIBC(EINTR));
  return n == 1;
}

/* Sends the action's outcome (0 or -errno) when the tender asked, and exits. */
__attribute__((noreturn)) static inline void hvt_helper_answer(int asked, int result) {
  int reply = -result;
  if (asked) send(0, &reply, sizeof(reply), HVT_BSD_LIBC(MSG_NOSIGNAL));
  _exit(0);
}

/*
 * Starts `run(chan, arg)` in a helper process and returns the tender's end of
 * the channel, or -errno with *step naming the failed call ("socketpair",
 * "fork"). Forked twice, so that init reaps the helper and the tender, which
 * may be sandboxed by the time it exits, never waits for it.
 */
static inline int hvt_helper_spawn(hvt_helper_main run, const void *arg, const char **step) {
  int sv[2];
  if (socketpair(HVT_BSD_LIBC(AF_UNIX), HVT_BSD_LIBC(SOCK_STREAM) | HVT_BSD_LIBC(SOCK_CLOEXEC), 0,
                 sv) != 0) {
    return hvt_helper_fail(step, "socketpair");
  }
  hvt_pid middle = fork();
  if (middle < 0) {
    int err = hvt_helper_fail(step, "fork");
    close(sv[0]);
    close(sv[1]);
    return err;
  }
  if (middle == 0) {
    hvt_pid helper = fork();
    if (helper != 0) _exit(helper < 0 ? 1 : 0);
    close(sv[0]);
    run(sv[1], arg);
    _exit(1);
  }
  close(sv[1]);
  int status = 0;
  hvt_pid got;
  do {
    got = waitpid(middle, &status, 0);
  } while (got < 0 && HVT_BSD_ERRNO == HVT_BSD_LIBC(EINTR));
  if (got != middle || status != 0) {
    close(sv[0]);
    if (step != HVT_BSD_LIBC(NULL)) *step = "fork";
    return -HVT_BSD_LIBC(EIO);
  }
  return sv[0];
}

/*
 * Sends `command` over the tender's end of the channel and waits for the
 * answer: 0 or -errno from the helper, or 1 when the helper is gone (no
 * channel, or it closed) and the caller must act itself.
 */
static inline int hvt_helper_ask(int chanfd, char command) {
  if (chanfd < 0) return 1;
  hvt_ssize n;
  do {
    n = send(chanfd, &command, 1, HVT_BSD_LIBC(MSG_NOSIGNAL));
  } while (n < 0 && HVT_BSD_ERRNO == HVT_BSD_LIBC(EINTR));
  if (n != 1) return 1;
  int result = 0;
  hvt_size got = 0;
  while (got < sizeof(result)) {
    n = recv(chanfd, (char *)&result + got, sizeof(result) - got, 0);
    if (n < 0 && HVT_BSD_ERRNO == HVT_BSD_LIBC(EINTR)) continue;
    if (n <= 0) return 1;
    got += (hvt_size)n;
  }
  return -result;
}

#endif
