/* walltime: two WALLTIME hypercalls; the clock must be sane and not go back. */
#include "rt.h"

/* 2020-01-01T00:00:00Z in nanoseconds since the epoch. */
#define NS_2020 1577836800000000000ULL

int guest_main(const char *cmdline)
{
  (void)cmdline;
  uint64_t t1 = rt_walltime();
  uint64_t t2 = rt_walltime();
  rt_printf("walltime 1: %lu ns\n", (unsigned long)t1);
  rt_printf("walltime 2: %lu ns\n", (unsigned long)t2);
  bool ok = true;
  if (t1 < NS_2020 || t2 < NS_2020) {
    rt_puts("FAILURE: walltime before 2020\n");
    ok = false;
  }
  if (t2 < t1) {
    rt_puts("FAILURE: walltime went backwards\n");
    ok = false;
  }
  if (!ok)
    return RT_EXIT_FAILURE;
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
