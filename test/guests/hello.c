/*
 * hello: the smallest useful guest. Prints a greeting and its command line;
 * `exit=N` makes it halt with status N instead of 0.
 */
#include "rt.h"

int guest_main(const char *cmdline)
{
  rt_puts("Hello, World\n");
  rt_printf("cmdline: %s\n", cmdline);
  if (rt_arg(cmdline, "exit", NULL) != NULL) {
    uint64_t status = rt_arg_u64(cmdline, "exit", 0);
    rt_printf("exit: %lu\n", (unsigned long)status);
    return (int)status;
  }
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
