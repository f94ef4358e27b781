/*
 * CPU exceptions, aarch64: report in the style of the x86_64 runtime, then
 * HALT with status 255 and a cookie pointing at {far, esr, elr, spsr, sp},
 * which a dumpcore-capable tender may use.
 */
#include "rt.h"

/* Layout produced by rt_trap_save in entry.S (lowest address first). */
struct rt_trap_regs {
  uint64_t x[31];
  uint64_t sp;
  uint64_t pad[2];
};

/* The tender validates HVT_HALT_COOKIE_MAX bytes behind the cookie pointer. */
static union {
  struct trap_regs_aarch64 frame;
  uint8_t bytes[HVT_HALT_COOKIE_MAX];
} trap_cookie __attribute__((aligned(16)));

static volatile int in_trap;

/* Entry index / 4 is the source, entry index % 4 the kind. */
static const char *const trap_kinds[4] = {"Synchronous", "IRQ", "FIQ", "SError"};
static const char *const trap_sources[4] = {"EL1t", "EL1h", "EL0_64", "EL0_32"};

#define READ_SYSREG(name)                                                                \
  ({                                                                                     \
    uint64_t v_;                                                                         \
    __asm__ __volatile__("mrs %0, " #name : "=r"(v_));                                   \
    v_;                                                                                  \
  })

void rt_trap(struct rt_trap_regs *regs, uint64_t entry) __attribute__((noreturn));

void rt_trap(struct rt_trap_regs *regs, uint64_t entry)
{
  /* A fault while reporting a fault: skip the report, keep the status. */
  if (in_trap)
    rt_halt(RT_EXIT_ABORT, NULL);
  in_trap = 1;

  struct trap_regs_aarch64 *f = &trap_cookie.frame;
  f->far = READ_SYSREG(far_el1);
  f->esr = READ_SYSREG(esr_el1);
  f->elr = READ_SYSREG(elr_el1);
  f->spsr = READ_SYSREG(spsr_el1);
  f->sp = regs->sp;

  rt_log(RT_LOG_ERROR, "trap: type=%s/%s esr=0x%lx (ec=0x%lx) pc=0x%lx sp=0x%lx spsr=0x%lx far=0x%lx\n",
         trap_kinds[entry % 4], trap_sources[(entry / 4) % 4], (unsigned long)f->esr,
         (unsigned long)(f->esr >> 26), (unsigned long)f->elr, (unsigned long)f->sp,
         (unsigned long)f->spsr, (unsigned long)f->far);
  rt_log(RT_LOG_ERROR, "ABORT: %s:%d: Fatal trap\n", "trap.c", __LINE__);
  rt_halt(RT_EXIT_ABORT, &trap_cookie);
}
