/*
 * What both smoke programs (smoke.c for x86_64, smoke-aarch64.c) share:
 * reporting a failure, the 30-second watchdog, an ioctl that must succeed,
 * and opening /dev/kvm with the API version checked.
 */
#ifndef HVTJS_SMOKE_COMMON_H
#define HVTJS_SMOKE_COMMON_H

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("kvm smoke: FAILED: ", stdout);
  vprintf(fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  exit(1);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "kvm smoke: FAILED: the vCPU did not exit within 30 s\n";
  ssize_t n = write(STDOUT_FILENO, msg, sizeof msg - 1);
  (void)n;
  _exit(1);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *what) {
  int r = ioctl(fd, req, arg);
  if (r < 0) fail("%s: %s", what, strerror(errno));
  return r;
}

/* Unbuffered output, the watchdog armed, /dev/kvm open and of our API version. */
static int smoke_open_kvm(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  signal(SIGALRM, on_alarm);
  alarm(30);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) fail("open /dev/kvm: %s", strerror(errno));
  int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (api < 0) fail("KVM_GET_API_VERSION: %s (is /dev/kvm really KVM?)", strerror(errno));
  if (api != KVM_API_VERSION) fail("KVM_GET_API_VERSION is %d, expected %d", api, KVM_API_VERSION);
  return kvm;
}

#endif
