/*
 * pagefault: touch an address the guest page tables leave unmapped, so the
 * runtime's trap handler reports a #PF and halts with 255.
 *   addr=A    address to touch (default 0x1000: low pages are not present)
 *   write=1   write instead of read
 */
#include "rt.h"

int guest_main(const char *cmdline)
{
  uint64_t addr = rt_arg_u64(cmdline, "addr", 0x1000);
  bool write = rt_arg_u64(cmdline, "write", 0) != 0;
  rt_printf("pagefault: %s 0x%lx\n", write ? "writing" : "reading", (unsigned long)addr);
  volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)addr;
  if (write) {
    *p = 0x42;
  } else {
    uint64_t v = *p;
    rt_printf("read 0x%lx\n", (unsigned long)v);
  }
  rt_puts("UNEXPECTED: no page fault\n");
  return 99;
}
