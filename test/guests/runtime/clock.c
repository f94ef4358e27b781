/*
 * Monotonic time from the cycle counter (rt_cycles, per architecture: the TSC
 * or the generic timer's virtual count), as the Solo5 bindings compute it: the
 * tender reports the counter's frequency in the boot info and never traps reads.
 */
#include "rt.h"

static uint64_t cycles_base;
static uint64_t cycles_freq;

void rt_clock_init(void)
{
  cycles_freq = rt_cpu_cycle_freq();
  if (cycles_freq == 0)
    rt_abort("cpu_cycle_freq is 0");
  cycles_base = rt_cycles();
}

uint64_t rt_clock_ns(void)
{
  uint64_t delta = rt_cycles() - cycles_base;
  /* Split so that neither product overflows for any frequency below 18 GHz. */
  return (delta / cycles_freq) * 1000000000ULL + ((delta % cycles_freq) * 1000000000ULL) / cycles_freq;
}
