/*
 * The libc calls every BSD core makes whose prototype is the same on FreeBSD
 * (13.x to 15.x) and OpenBSD (7.4 to 7.9) amd64, declared here rather than
 * taken from system headers (see hvt/bsd_types.h): files, memory, and the
 * helper process with its channel (hvt/bsd_helper.h); and the few things the
 * cores write themselves rather than take from <string.h>. A core's own libc
 * shim includes this and adds what is its system's alone: errno's location,
 * the constants, closefrom (void on FreeBSD, int on OpenBSD), sysctl, the
 * sandbox.
 */
#ifndef HVT_BSD_LIBC_H
#define HVT_BSD_LIBC_H

#include "hvt/bsd_types.h"

typedef hvt_i64 hvt_ssize;
typedef hvt_i64 hvt_off;
typedef hvt_i32 hvt_pid;

int open(const char *path, int flags, ...);
int close(int fd);
int ioctl(int fd, unsigned long request, ...);
hvt_ssize write(int fd, const void *buf, hvt_size len);
int dup(int fd);
int dup2(int from, int to);
void *mmap(void *addr, hvt_size len, int prot, int flags, int fd, hvt_off offset);
int munmap(void *addr, hvt_size len);
int mprotect(void *addr, hvt_size len, int prot);
int socket(int domain, int type, int protocol);
int socketpair(int domain, int type, int protocol, int *sv);
hvt_ssize send(int fd, const void *buf, hvt_size len, int flags);
hvt_ssize recv(int fd, void *buf, hvt_size len, int flags);
hvt_pid fork(void);
hvt_pid setsid(void);
hvt_pid waitpid(hvt_pid pid, int *status, int options);
void _exit(int status) __attribute__((noreturn));
void (*signal(int sig, void (*handler)(int)))(int);
void *calloc(hvt_size n, hvt_size size);
void free(void *p);

static inline hvt_size hvt_strlen(const char *s) {
  hvt_size n = 0;
  while (s[n] != '\0') n++;
  return n;
}

static inline void hvt_zero(void *p, hvt_size n) {
  hvt_u8 *b = (hvt_u8 *)p;
  for (hvt_size i = 0; i < n; i++) b[i] = 0;
}

/* Closes *fd when it is open and marks it closed (-1). */
static inline void hvt_close(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

#endif
