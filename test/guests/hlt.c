/* hlt: a HLT with interrupts off; no interrupt will ever wake the vCPU. */
#include "rt.h"

int guest_main(const char *cmdline)
{
  (void)cmdline;
  rt_puts("hlt: executing hlt\n");
  __asm__ __volatile__("cli; hlt");
  rt_puts("UNEXPECTED: hlt returned\n");
  return 99;
}
