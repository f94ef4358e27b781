/* aarch64 hypercall (docs/guest-abi.md 7). Included by hvt_abi.h. */
#ifndef HVT_ARCH_H
#define HVT_ARCH_H

/*
 * The argument's GPA travels as the 32-bit data of a store to
 * HVT_HYPERCALL_MMIO_BASE + (nr << 3), an address with no memory behind it, so
 * KVM hands it to the tender as an MMIO exit; guest RAM is below 4 GiB, so the
 * truncation is exact.
 */
static inline void hvt_hypercall_gpa(unsigned nr, uint32_t gpa)
{
  __asm__ __volatile__("str %w0, [%1]"
                       :
                       : "r"(gpa), "r"(HVT_HYPERCALL_MMIO_BASE + ((uint64_t)nr << 3))
                       : "memory");
}

#endif
