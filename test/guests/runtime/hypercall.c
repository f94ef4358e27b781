/*
 * Thin wrappers around the hypercalls. They check nothing, so that guests can
 * hand the tender exactly the arguments a test wants it to see.
 */
#include "rt.h"

uint64_t rt_walltime(void)
{
  struct hvt_hc_walltime wc = {0};
  hvt_hypercall(HVT_HYPERCALL_WALLTIME, &wc);
  return wc.nsecs;
}

void rt_write(const char *buf, size_t len)
{
  struct hvt_hc_puts p = {.data = (uint64_t)(uintptr_t)buf, .len = len};
  hvt_hypercall(HVT_HYPERCALL_PUTS, &p);
}

void rt_puts(const char *s)
{
  rt_write(s, strlen(s));
}

int rt_poll(uint64_t timeout_ns, uint64_t *ready_set)
{
  struct hvt_hc_poll p = {.timeout_nsecs = timeout_ns};
  hvt_hypercall(HVT_HYPERCALL_POLL, &p);
  if (ready_set != NULL)
    *ready_set = p.ready_set;
  return p.ret;
}

int rt_block_write(uint64_t handle, uint64_t offset, const void *buf, uint64_t len)
{
  struct hvt_hc_block_io w = {
      .handle = handle, .offset = offset, .data = (uint64_t)(uintptr_t)buf, .len = len, .ret = -1};
  hvt_hypercall(HVT_HYPERCALL_BLOCK_WRITE, &w);
  return w.ret;
}

int rt_block_read(uint64_t handle, uint64_t offset, void *buf, uint64_t len)
{
  struct hvt_hc_block_io r = {
      .handle = handle, .offset = offset, .data = (uint64_t)(uintptr_t)buf, .len = len, .ret = -1};
  hvt_hypercall(HVT_HYPERCALL_BLOCK_READ, &r);
  return r.ret;
}

int rt_net_write(uint64_t handle, const void *buf, uint64_t len)
{
  struct hvt_hc_net_write w = {
      .handle = handle, .data = (uint64_t)(uintptr_t)buf, .len = len, .ret = -1};
  hvt_hypercall(HVT_HYPERCALL_NET_WRITE, &w);
  return w.ret;
}

int rt_net_read(uint64_t handle, void *buf, uint64_t size, uint64_t *len)
{
  struct hvt_hc_net_read r = {
      .handle = handle, .data = (uint64_t)(uintptr_t)buf, .len = size, .ret = -1};
  hvt_hypercall(HVT_HYPERCALL_NET_READ, &r);
  if (len != NULL)
    *len = r.len;
  return r.ret;
}

void rt_halt(int status, const void *cookie)
{
  struct hvt_hc_halt h = {.cookie = (uint64_t)(uintptr_t)cookie, .exit_status = status};
  hvt_hypercall(HVT_HYPERCALL_HALT, &h);
  /* A tender that returns from HALT is broken; stopping the CPU makes it say so. */
  rt_cpu_stop();
}

void rt_abort_at(const char *file, int line, const char *msg)
{
  const char *base = file;
  for (const char *p = file; *p != '\0'; p++) {
    if (*p == '/')
      base = p + 1;
  }
  rt_log(RT_LOG_ERROR, "ABORT: %s:%d: %s\n", base, line, msg);
  rt_halt(RT_EXIT_ABORT, NULL);
}
