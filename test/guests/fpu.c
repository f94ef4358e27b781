/*
 * fpu: SSE and x87 arithmetic with exactly known results (compared as bit
 * patterns), and SSE/x87 state surviving a hypercall.
 */
#include "rt.h"

static int failures;

static uint64_t bits(double d)
{
  uint64_t u;
  memcpy(&u, &d, sizeof(u));
  return u;
}

static void check(const char *what, double got, uint64_t want)
{
  bool ok = bits(got) == want;
  rt_printf("%s: 0x%016lx %s\n", what, (unsigned long)bits(got), ok ? "ok" : "FAILED");
  if (!ok) {
    rt_printf("  expected 0x%016lx\n", (unsigned long)want);
    failures++;
  }
}

/* Volatile so that every operation happens at run time, on the vCPU. */
static volatile double addends[] = {0.5, 1.25, 2.75, 3.5, -1.0};
static volatile double two = 2.0, three = 3.0, nine_quarters = 2.25, frac = 12345.678;

typedef double v2df __attribute__((vector_size(16)));

int guest_main(const char *cmdline)
{
  (void)cmdline;

  /* SSE2 scalar. */
  double sum = 0;
  for (size_t i = 0; i < sizeof(addends) / sizeof(addends[0]); i++)
    sum += addends[i];
  check("sse sum", sum, 0x401c000000000000ULL); /* 7.0 */
  check("sse div", 1.0 / three, 0x3fd5555555555555ULL);

  double root;
  double x = nine_quarters;
  __asm__("sqrtsd %1, %0" : "=x"(root) : "x"(x));
  check("sse sqrtsd(2.25)", root, 0x3ff8000000000000ULL); /* 1.5 */
  x = two;
  __asm__("sqrtsd %1, %0" : "=x"(root) : "x"(x));
  check("sse sqrtsd(2)", root, 0x3ff6a09e667f3bcdULL);

  long truncated = (long)frac;
  rt_printf("sse cvttsd2si: %ld %s\n", truncated, truncated == 12345 ? "ok" : "FAILED");
  if (truncated != 12345)
    failures++;

  /* SSE2 packed. */
  v2df a = {addends[1], addends[2]};
  v2df b = {two, three};
  v2df p = a * b;
  check("sse mulpd[0]", p[0], 0x4004000000000000ULL); /* 2.5 */
  check("sse mulpd[1]", p[1], 0x4020800000000000ULL); /* 8.25 */

  /* x87. */
  double st;
  double in = two;
  __asm__("fldl %1\n\tfsqrt\n\tfstpl %0" : "=m"(st) : "m"(in));
  check("x87 fsqrt(2)", st, 0x3ff6a09e667f3bcdULL);
  double m1 = 1.5, m2 = 4.0;
  __asm__("fldl %1\n\tfmull %2\n\tfstpl %0" : "=m"(st) : "m"(m1), "m"(m2));
  check("x87 fmul", st, 0x4018000000000000ULL); /* 6.0 */
  int32_t one = 1, three_i = 3;
  __asm__("fildl %1\n\tfidivl %2\n\tfstpl %0" : "=m"(st) : "m"(one), "m"(three_i));
  check("x87 fidiv", st, 0x3fd5555555555555ULL);

  /*
   * Register state across a hypercall: one asm statement loads xmm7 and the
   * x87 stack top, performs a PUTS and reads both back, so no compiler code
   * can touch them in between.
   */
  static const char msg[] = "fpu state across hypercall\n";
  struct hvt_hc_puts puts_arg = {.data = (uint64_t)(uintptr_t)msg, .len = sizeof(msg) - 1};
  double kept_in = 3.25, kept_x87 = 0, kept_sse = 0;
  __asm__ __volatile__("movsd %[in], %%xmm7\n\t"
                       "fldl %[in]\n\t"
                       "outl %%eax, %%dx\n\t"
                       "movsd %%xmm7, %[sse]\n\t"
                       "fstpl %[x87]"
                       : [sse] "=m"(kept_sse), [x87] "=m"(kept_x87)
                       : [in] "m"(kept_in), "a"((uint32_t)(uintptr_t)&puts_arg),
                         "d"((uint16_t)(HVT_HYPERCALL_PIO_BASE + HVT_HYPERCALL_PUTS))
                       : "xmm7", "memory");
  bool kept = bits(kept_sse) == bits(kept_in) && bits(kept_x87) == bits(kept_in);
  rt_printf("fpu state kept: %s\n", kept ? "ok" : "FAILED");
  if (!kept)
    failures++;

  if (failures != 0) {
    rt_printf("FAILURE: %d checks failed\n", failures);
    return RT_EXIT_FAILURE;
  }
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
