// The aarch64 vCPU (compiled for arm64 only, see binding.gyp): creating it as
// the host prefers, its registers through KVM_{SET,GET}_ONE_REG, and the
// generic timer's frequency. Mechanism only: which values go where is core's
// (arch/aarch64.ts), applied by src/vm.ts. Runs and exits are vcpu.cc's, the
// same for both architectures (MMIO exits arrive there as ExitKind.MMIO).
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstddef>

#include "common.h"

namespace hvt {

namespace {

constexpr uint64_t CoreReg(size_t offset) {
  return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset / sizeof(uint32_t));
}

#define HVT_CORE(field) CoreReg(offsetof(struct kvm_regs, field))

// The registers the state names, by the name core uses for them.
struct NamedReg {
  const char* name;
  uint64_t id;
};
const NamedReg kStateRegs[] = {
    {"cpacr", ARM64_SYS_REG(3, 0, 1, 0, 2)},   // CPACR_EL1
    {"mair", ARM64_SYS_REG(3, 0, 10, 2, 0)},   // MAIR_EL1
    {"tcr", ARM64_SYS_REG(3, 0, 2, 0, 2)},     // TCR_EL1
    {"ttbr0", ARM64_SYS_REG(3, 0, 2, 0, 0)},   // TTBR0_EL1
    {"sctlr", ARM64_SYS_REG(3, 0, 1, 0, 0)},   // SCTLR_EL1
    {"pstate", HVT_CORE(regs.pstate)},
    {"sp", HVT_CORE(sp_el1)},
    {"x0", HVT_CORE(regs.regs[0])},
    {"pc", HVT_CORE(regs.pc)},
};

void SetOneReg(Napi::Env env, int fd, uint64_t id, uint64_t value) {
  struct kvm_one_reg reg = {id, reinterpret_cast<uint64_t>(&value)};
  if (RetryIoctl(fd, KVM_SET_ONE_REG, &reg) < 0) ThrowErrno(env, errno, "ioctl", "KVM_SET_ONE_REG");
}

uint64_t GetOneReg(Napi::Env env, int fd, uint64_t id) {
  uint64_t value = 0;
  struct kvm_one_reg reg = {id, reinterpret_cast<uint64_t>(&value)};
  if (RetryIoctl(fd, KVM_GET_ONE_REG, &reg) < 0) ThrowErrno(env, errno, "ioctl", "KVM_GET_ONE_REG");
  return value;
}

// aarch64VcpuInit(vmFd, vcpuFd): KVM_ARM_PREFERRED_TARGET on the VM, then
// KVM_ARM_VCPU_INIT of the vCPU with that target and no optional features.
Napi::Value VcpuInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int vm = ArgInt32(info, 0, "vmFd");
  int vcpu = ArgInt32(info, 1, "vcpuFd");
  struct kvm_vcpu_init init = {};
  if (RetryIoctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0) {
    ThrowErrno(env, errno, "ioctl", "KVM_ARM_PREFERRED_TARGET");
  }
  if (RetryIoctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0) {
    ThrowErrno(env, errno, "ioctl", "KVM_ARM_VCPU_INIT");
  }
  return env.Undefined();
}

// aarch64SetRegisters(vcpuFd, state): every register of kStateRegs from the
// state's property of that name (a number or bigint).
Napi::Value SetRegisters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int vcpu = ArgInt32(info, 0, "vcpuFd");
  if (info.Length() < 2 || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "state must be an object");
  }
  Napi::Object state = info[1].As<Napi::Object>();
  for (const NamedReg& r : kStateRegs) SetOneReg(env, vcpu, r.id, PropUint64(state, r.name));
  return env.Undefined();
}

// aarch64GetRegisters(vcpuFd): { x: [x0..x30], sp (SP_EL1), pc, pstate } as bigints.
Napi::Value GetRegisters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int vcpu = ArgInt32(info, 0, "vcpuFd");
  Napi::Array x = Napi::Array::New(env, 31);
  for (uint32_t i = 0; i < 31; i++) {
    uint64_t id = CoreReg(offsetof(struct kvm_regs, regs.regs) + i * sizeof(uint64_t));
    x.Set(i, Napi::BigInt::New(env, GetOneReg(env, vcpu, id)));
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("x", x);
  o.Set("sp", Napi::BigInt::New(env, GetOneReg(env, vcpu, HVT_CORE(sp_el1))));
  o.Set("pc", Napi::BigInt::New(env, GetOneReg(env, vcpu, HVT_CORE(regs.pc))));
  o.Set("pstate", Napi::BigInt::New(env, GetOneReg(env, vcpu, HVT_CORE(regs.pstate))));
  return o;
}

// aarch64CounterFrequency(): CNTFRQ_EL0, the generic timer's frequency in Hz,
// which KVM gives guests unchanged.
Napi::Value CounterFrequency(const Napi::CallbackInfo& info) {
  uint64_t hz;
  __asm__ __volatile__("mrs %0, cntfrq_el0" : "=r"(hz));
  return Napi::Number::New(info.Env(), static_cast<double>(hz));
}

#undef HVT_CORE

}  // namespace

void InitVcpuAarch64(Napi::Env env, Napi::Object exports) {
  Napi::Object a = Napi::Object::New(env);
  a.Set("vcpuInit", Napi::Function::New(env, VcpuInit, "aarch64VcpuInit"));
  a.Set("setRegisters", Napi::Function::New(env, SetRegisters, "aarch64SetRegisters"));
  a.Set("getRegisters", Napi::Function::New(env, GetRegisters, "aarch64GetRegisters"));
  a.Set("counterFrequency", Napi::Function::New(env, CounterFrequency, "aarch64CounterFrequency"));
  exports.Set("aarch64", a);
  // After the drop the run loop reads the PC back for its messages.
  Napi::Object requests = exports.Get("vcpuIoctls").As<Napi::Object>();
  requests.Set("KVM_GET_ONE_REG", Napi::Number::New(env, KVM_GET_ONE_REG));
}

}  // namespace hvt
