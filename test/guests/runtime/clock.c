/*
 * Monotonic time from the TSC, as the Solo5 bindings compute it: the tender
 * reports the TSC frequency in the boot info and never traps RDTSC.
 */
#include "rt.h"

static uint64_t tsc_base;
static uint64_t tsc_freq;

uint64_t rt_rdtsc(void)
{
  uint32_t lo, hi;
  /* LFENCE keeps RDTSC from running ahead of earlier instructions. */
  __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return ((uint64_t)hi << 32) | lo;
}

void rt_clock_init(void)
{
  tsc_freq = rt_cpu_cycle_freq();
  if (tsc_freq == 0)
    rt_abort("cpu_cycle_freq is 0");
  tsc_base = rt_rdtsc();
}

uint64_t rt_clock_ns(void)
{
  uint64_t delta = rt_rdtsc() - tsc_base;
  /* Split so that neither product overflows for any frequency below 18 GHz. */
  return (delta / tsc_freq) * 1000000000ULL + ((delta % tsc_freq) * 1000000000ULL) / tsc_freq;
}
