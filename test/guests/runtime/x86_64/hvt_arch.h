/* x86_64 hypercall (docs/guest-abi.md 7). Included by hvt_abi.h. */
#ifndef HVT_ARCH_H
#define HVT_ARCH_H

/*
 * The argument's GPA travels as the 32-bit value of an OUT to 0x500 + nr;
 * guest RAM is below 4 GiB, so the truncation is exact.
 */
static inline void hvt_hypercall_gpa(unsigned nr, uint32_t gpa)
{
  __asm__ __volatile__("outl %0, %1"
                       :
                       : "a"(gpa), "d"((uint16_t)(HVT_HYPERCALL_PIO_BASE + nr))
                       : "memory");
}

#endif
