/* abort: the solo5_abort path: a message, then HALT with 255 and no cookie. */
#include "rt.h"

int guest_main(const char *cmdline)
{
  (void)cmdline;
  rt_puts("abort: calling abort\n");
  rt_abort("guest called abort");
}
