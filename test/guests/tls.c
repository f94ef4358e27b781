/*
 * tls: point IA32_FS_BASE at a block with WRMSR (as a TLS-using unikernel
 * does) and access it through %fs-relative addressing.
 */
#include "rt.h"

#define MSR_FS_BASE 0xC0000100U

static uint64_t tls_block[8] __attribute__((aligned(64)));

static void wrmsr(uint32_t msr, uint64_t v)
{
  __asm__ __volatile__("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t rdmsr(uint32_t msr)
{
  uint32_t lo, hi;
  __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}

int guest_main(const char *cmdline)
{
  (void)cmdline;
  int failures = 0;
  tls_block[1] = 0x1111222233334444ULL;
  tls_block[2] = 0;

  wrmsr(MSR_FS_BASE, (uint64_t)(uintptr_t)tls_block);
  uint64_t base = rdmsr(MSR_FS_BASE);
  rt_printf("fs_base: 0x%lx (block at %p)\n", (unsigned long)base, (void *)tls_block);
  if (base != (uint64_t)(uintptr_t)tls_block)
    failures++;

  uint64_t v;
  __asm__ __volatile__("movq %%fs:8, %0" : "=r"(v) : : "memory");
  rt_printf("read %%fs:8: 0x%lx\n", (unsigned long)v);
  if (v != 0x1111222233334444ULL)
    failures++;

  __asm__ __volatile__("movq %0, %%fs:16" : : "r"(0xa5a5a5a55a5a5a5aULL) : "memory");
  volatile uint64_t *block = tls_block;
  rt_printf("wrote %%fs:16, block[2]: 0x%lx\n", (unsigned long)block[2]);
  if (block[2] != 0xa5a5a5a55a5a5a5aULL)
    failures++;

  /* The base survives a hypercall (the tender must not reset segment state). */
  rt_puts("hypercall\n");
  __asm__ __volatile__("movq %%fs:16, %0" : "=r"(v) : : "memory");
  if (v != 0xa5a5a5a55a5a5a5aULL || rdmsr(MSR_FS_BASE) != (uint64_t)(uintptr_t)tls_block)
    failures++;

  wrmsr(MSR_FS_BASE, 0);
  if (failures != 0) {
    rt_printf("FAILURE: %d checks failed\n", failures);
    return RT_EXIT_FAILURE;
  }
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
