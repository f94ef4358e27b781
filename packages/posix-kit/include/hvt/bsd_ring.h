/*
 * The network ring as the libc-only BSD cores' run loops see it
 * (docs/guest-abi.md 10.2, 10.3): the ports whose 4-byte OUT is a kick, which
 * the run loop turns into a write to the kick pipe and resumes the guest
 * without returning to JavaScript; and the count of failed device I/O threads
 * not yet joined, while which the run loop ends with the IO_THREAD exit.
 * Header-only, for cores built with -nostdinc (no libc call here).
 */
#ifndef HVT_BSD_RING_H
#define HVT_BSD_RING_H

#include "hvt/bsd_types.h"

/* How many ports may signal an fd without a VM exit reaching JavaScript. */
#define HVT_MAX_KICKS 4
/* What hvt_kicks_set returns besides 0. */
#define HVT_KICK_BAD_ARGUMENT (-1)
#define HVT_KICK_TABLE_FULL (-2)

struct hvt_kicks {
  struct {
    int port;
    int fd;
  } at[HVT_MAX_KICKS];
  int n;
};

/* Port `port` now kicks `fd` (a pipe's write end), or nothing when fd < 0. */
static inline int hvt_kicks_set(struct hvt_kicks *k, int port, int fd) {
  if (port < 0 || port > 0xffff) return HVT_KICK_BAD_ARGUMENT;
  for (int i = 0; i < k->n; i++) {
    if (k->at[i].port != port) continue;
    if (fd >= 0) {
      k->at[i].fd = fd;
    } else {
      k->n--;
      k->at[i] = k->at[k->n];
    }
    return 0;
  }
  if (fd < 0) return 0;
  if (k->n >= HVT_MAX_KICKS) return HVT_KICK_TABLE_FULL;
  k->at[k->n].port = port;
  k->at[k->n].fd = fd;
  k->n++;
  return 0;
}

/* The fd a 4-byte OUT to `port` kicks, or -1 when it is no kick. */
static inline int hvt_kicks_fd(const struct hvt_kicks *k, int port) {
  for (int i = 0; i < k->n; i++) {
    if (k->at[i].port == port) return k->at[i].fd;
  }
  return -1;
}

/* Failed I/O threads not yet joined: +1 from a failing thread before it
   interrupts the vCPU thread, -1 once it has been joined. */
static inline void hvt_io_failures_add(int *count, int delta) {
  __atomic_add_fetch(count, delta, __ATOMIC_SEQ_CST);
}

static inline int hvt_io_failures_pending(int *count) {
  return __atomic_load_n(count, __ATOMIC_SEQ_CST) > 0;
}

#endif
