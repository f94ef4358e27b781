// struct kvm_cpuid2 as the kernel lays it out. <asm/kvm.h> declares its entries
// with __DECLARE_FLEX_ARRAY, whose empty placeholder struct has size 1 in C++
// (0 in C): compiled as C++, the struct grows to 12 bytes, the entries move to
// offset 12 and the ioctl numbers (which encode the size) change, so the kernel
// answers EINVAL. Hence this C-layout header and ioctl numbers built from it.
#pragma once

#if defined(__x86_64__)

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace hvt {

struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
  // followed by nent struct kvm_cpuid_entry2
};
static_assert(sizeof(CpuidHeader) == 8, "kvm_cpuid2 header is 8 bytes");
static_assert(sizeof(struct kvm_cpuid_entry2) == 40, "kvm_cpuid_entry2 is 40 bytes");

constexpr unsigned long kIoctlGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kIoctlSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);

}  // namespace hvt

#endif
