/*
 * writetext: write to the guest's own read-only image. The guest page
 * tables allow it; the tender's host mapping does not, so on KVM the run
 * ends with a host/guest translation fault.
 *   target=text (default) | rodata
 */
#include "rt.h"

static const uint8_t rodata_byte[64] = {1};

int guest_main(const char *cmdline)
{
  char target[16] = "text";
  if (rt_arg(cmdline, "target", NULL) != NULL && !rt_arg_str(cmdline, "target", target, sizeof(target)))
    rt_abort("target too long");
  volatile uint8_t *p;
  if (strcmp(target, "text") == 0) {
    p = (volatile uint8_t *)(uintptr_t)&guest_main;
  } else if (strcmp(target, "rodata") == 0) {
    p = (volatile uint8_t *)(uintptr_t)rodata_byte;
  } else {
    rt_printf("unknown target %s (text, rodata)\n", target);
    return RT_EXIT_FAILURE;
  }
  rt_printf("writetext: writing to %s at %p\n", target, (void *)(uintptr_t)p);
  /* The same value: if the write is wrongly allowed, the code still runs. */
  *p = *p;
  rt_puts("UNEXPECTED: write succeeded\n");
  return 99;
}
