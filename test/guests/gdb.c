/*
 * gdb: a guest to debug (test/kvm/gdb.test.ts). It spins until the debugger
 * clears `gdb_spin` (none: `spin=0`), then prints a global and a local the
 * debugger may have changed and halts with `gdb_status`.
 */
#include "rt.h"

volatile uint64_t gdb_global = 0x1122334455667788UL;
volatile int gdb_spin = 1;
volatile int gdb_status = 0;

/* A call the debugger can put a breakpoint on. */
__attribute__((noinline)) void gdb_checkpoint(uint64_t value)
{
  __asm__ volatile("" : : "r"(value) : "memory");
}

int guest_main(const char *cmdline)
{
  volatile uint64_t gdb_local = 0x4242;
  if (rt_arg(cmdline, "spin", NULL) != NULL) gdb_spin = (int)rt_arg_u64(cmdline, "spin", 1);
  rt_printf("gdb: spinning=%d\n", gdb_spin);
  while (gdb_spin) {
    __asm__ volatile("pause");
  }
  gdb_checkpoint(gdb_global);
  rt_printf("gdb: global=0x%lx local=0x%lx\n", (unsigned long)gdb_global,
            (unsigned long)gdb_local);
  rt_puts("SUCCESS\n");
  return gdb_status;
}
