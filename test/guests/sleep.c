/*
 * sleep: five 1-second POLLs with no devices, each timed with the TSC clock,
 * so a test can compare the tender's timeout with the guest's notion of time.
 */
#include "rt.h"

#define SLEEPS 5
#define SLEEP_NS 1000000000ULL

int guest_main(const char *cmdline)
{
  (void)cmdline;
  bool ok = true;
  for (int i = 1; i <= SLEEPS; i++) {
    uint64_t ready = ~0ULL;
    uint64_t start = rt_clock_ns();
    int ret = rt_poll(SLEEP_NS, &ready);
    uint64_t elapsed = rt_clock_ns() - start;
    rt_printf("sleep %d: %lu ms\n", i, (unsigned long)(elapsed / 1000000));
    if (ret != 0 || ready != 0) {
      rt_printf("FAILURE: poll returned ret=%d ready_set=0x%lx\n", ret, (unsigned long)ready);
      ok = false;
    }
  }
  if (!ok)
    return RT_EXIT_FAILURE;
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
