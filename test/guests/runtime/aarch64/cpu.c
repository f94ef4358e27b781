/*
 * aarch64: exception handling (the vector table is installed by _start,
 * before anything can fault), the generic timer's virtual count, stopping the
 * CPU, the ring kick and barrier, and the mem* routines.
 */
#include "rt.h"

void rt_cpu_init(void)
{
  /*
   * Nothing left to do: _start installed the vectors, and the tender leaves
   * FP/SIMD untrapped (CPACR_EL1.FPEN) with the MMU and caches on.
   */
}

uint64_t rt_cycles(void)
{
  uint64_t v;
  /* The ISB keeps the counter read from running ahead of earlier instructions. */
  __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
  return v;
}

void rt_cpu_stop(void)
{
  for (;;)
    __asm__ __volatile__("msr daifset, #0xf\n\twfi");
}

void rt_ring_kick(void)
{
  /* The value is the ring id, always 0; KVM turns the store into an eventfd signal. */
  __asm__ __volatile__("str wzr, [%0]" : : "r"(HVT_RING_KICK_MMIO_BASE) : "memory");
}

void rt_full_barrier(void)
{
  __asm__ __volatile__("dmb ish" : : : "memory");
}

/*
 * Plain loops, 8 bytes at a time where both ends allow it; build.mjs compiles
 * the runtime with -fno-tree-loop-distribute-patterns, so GCC does not turn
 * them back into calls to themselves.
 */
void *memset(void *dst, int c, size_t n)
{
  uint8_t *d = dst;
  uint64_t v = (uint8_t)c * 0x0101010101010101ULL;
  for (; n > 0 && ((uintptr_t)d & 7) != 0; n--)
    *d++ = (uint8_t)c;
  for (; n >= 8; n -= 8, d += 8)
    *(uint64_t *)(void *)d = v;
  for (; n > 0; n--)
    *d++ = (uint8_t)c;
  return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
  uint8_t *d = dst;
  const uint8_t *s = src;
  if ((((uintptr_t)d ^ (uintptr_t)s) & 7) == 0) {
    for (; n > 0 && ((uintptr_t)d & 7) != 0; n--)
      *d++ = *s++;
    for (; n >= 8; n -= 8, d += 8, s += 8)
      *(uint64_t *)(void *)d = *(const uint64_t *)(const void *)s;
  }
  for (; n > 0; n--)
    *d++ = *s++;
  return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
  if ((uintptr_t)dst <= (uintptr_t)src || (uintptr_t)dst >= (uintptr_t)src + n)
    return memcpy(dst, src, n);
  /* Overlapping with dst above src: copy backwards from the last byte. */
  uint8_t *d = (uint8_t *)dst + n;
  const uint8_t *s = (const uint8_t *)src + n;
  while (n-- > 0)
    *--d = *--s;
  return dst;
}
