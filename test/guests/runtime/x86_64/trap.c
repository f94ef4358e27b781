/*
 * CPU exceptions: report in the style of the Solo5 bindings, then HALT with
 * status 255 and a cookie pointing at the trap frame {cr2, ec, rip, cs,
 * rflags, rsp, ss}, which a dumpcore-capable tender uses for the registers.
 */
#include "rt.h"

/* Layout produced by rt_trap_common in entry.S (lowest address first). */
struct rt_trap_regs {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, ec, rip, cs, rflags, rsp, ss;
};

struct rt_trap_frame {
  uint64_t cr2, ec, rip, cs, rflags, rsp, ss;
};

/* The tender validates HVT_HALT_COOKIE_MAX bytes behind the cookie pointer. */
static union {
  struct rt_trap_frame frame;
  uint8_t bytes[HVT_HALT_COOKIE_MAX];
} trap_cookie __attribute__((aligned(16)));

static volatile int in_trap;

static const char *const trap_names[32] = {
    "#DE", "#DB", "#NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO", "#TS",
    "#NP", "#SS", "#GP",  "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    "#22", "#23", "#24",  "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

void rt_trap(struct rt_trap_regs *regs) __attribute__((noreturn));

void rt_trap(struct rt_trap_regs *regs)
{
  /* A fault while reporting a fault: skip the report, keep the status. */
  if (in_trap)
    rt_halt(RT_EXIT_ABORT, NULL);
  in_trap = 1;

  uint64_t cr2;
  __asm__ __volatile__("movq %%cr2, %0" : "=r"(cr2));

  struct rt_trap_frame *f = &trap_cookie.frame;
  f->cr2 = cr2;
  f->ec = regs->ec;
  f->rip = regs->rip;
  f->cs = regs->cs;
  f->rflags = regs->rflags;
  f->rsp = regs->rsp;
  f->ss = regs->ss;

  const char *name = regs->vector < 32 ? trap_names[regs->vector] : "#??";
  if (regs->vector == 14) {
    rt_log(RT_LOG_ERROR, "trap: type=%s ec=0x%lx rip=0x%lx rsp=0x%lx rflags=0x%lx cr2=0x%lx\n",
           name, (unsigned long)f->ec, (unsigned long)f->rip, (unsigned long)f->rsp,
           (unsigned long)f->rflags, (unsigned long)f->cr2);
  } else {
    rt_log(RT_LOG_ERROR, "trap: type=%s ec=0x%lx rip=0x%lx rsp=0x%lx rflags=0x%lx\n", name,
           (unsigned long)f->ec, (unsigned long)f->rip, (unsigned long)f->rsp,
           (unsigned long)f->rflags);
  }
  rt_log(RT_LOG_ERROR, "ABORT: %s:%d: Fatal trap\n", "trap.c", __LINE__);
  rt_halt(RT_EXIT_ABORT, &trap_cookie);
}
