/*
 * The aarch64 counterpart of smoke.c: proves that /dev/kvm runs an arm64
 * guest the way an hvt tender will, before any tender does: the vCPU comes
 * from KVM_ARM_PREFERRED_TARGET and KVM_ARM_VCPU_INIT (with PSCI 0.2), its
 * registers are set with KVM_SET_ONE_REG, the guest's stores to an address
 * outside its memory arrive as MMIO exits (the way aarch64 guests make
 * hypercalls), and its PSCI SYSTEM_OFF (hvc) as a system event.
 *
 *   smoke-aarch64 [EXITS]     (default 1000)
 *
 * The guest stores EXITS times; the time those exits took is printed, so the
 * cost of one exit where this runs is measured too. Prints "kvm smoke: ok"
 * and exits 0, or says what went wrong and exits 1.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "smoke-common.h"

#define MEM_GPA 0x40000000UL /* the guest's RAM: one page of code */
#define MEM_SIZE 0x10000UL
#define MMIO_GPA 0x10000000UL /* no memory there: stores exit */
#define SMOKE_VALUE 0xC0FFEE42U
#define PSCI_SYSTEM_OFF 0x84000008U

/* loop: str w2, [x1]; subs x0, x0, #1; b.ne loop;
 *       mov x0, #PSCI_SYSTEM_OFF; hvc #0; b . */
static const uint32_t guest_code[] = {
    0xb9000022, 0xf1000400, 0x54ffffc1, 0xd2800100, 0xf2b08000, 0xd4000002, 0x14000000,
};

#define CORE_REG(field)                                                                   \
  (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |                                  \
   (offsetof(struct kvm_regs, field) / sizeof(uint32_t)))

static void set_reg(int vcpu, uint64_t id, uint64_t value, const char *what) {
  struct kvm_one_reg reg = {.id = id, .addr = (uintptr_t)&value};
  xioctl(vcpu, KVM_SET_ONE_REG, &reg, what);
}

static uint64_t get_reg(int vcpu, uint64_t id, const char *what) {
  uint64_t value = 0;
  struct kvm_one_reg reg = {.id = id, .addr = (uintptr_t)&value};
  xioctl(vcpu, KVM_GET_ONE_REG, &reg, what);
  return value;
}

int main(int argc, char **argv) {
  long exits = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
  if (exits < 1 || exits > 10000000) fail("EXITS must be 1..10000000, got '%s'", argv[1]);
  int kvm = smoke_open_kvm();

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) fail("KVM_CREATE_VM: %s", strerror(errno));
  uint8_t *mem =
      mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) fail("mmap guest memory: %s", strerror(errno));
  memcpy(mem, guest_code, sizeof guest_code);
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = MEM_GPA, .memory_size = MEM_SIZE, .userspace_addr = (uintptr_t)mem};
  xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) fail("KVM_CREATE_VCPU: %s", strerror(errno));
  struct kvm_vcpu_init init;
  xioctl(vm, KVM_ARM_PREFERRED_TARGET, &init, "KVM_ARM_PREFERRED_TARGET");
  init.features[0] |= 1U << KVM_ARM_VCPU_PSCI_0_2;
  xioctl(vcpu, KVM_ARM_VCPU_INIT, &init, "KVM_ARM_VCPU_INIT");

  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) fail("mmap kvm_run: %s", strerror(errno));

  set_reg(vcpu, CORE_REG(regs.pc), MEM_GPA, "KVM_SET_ONE_REG pc");
  set_reg(vcpu, CORE_REG(regs.regs[0]), (uint64_t)exits, "KVM_SET_ONE_REG x0");
  set_reg(vcpu, CORE_REG(regs.regs[1]), MMIO_GPA, "KVM_SET_ONE_REG x1");
  set_reg(vcpu, CORE_REG(regs.regs[2]), SMOKE_VALUE, "KVM_SET_ONE_REG x2");

  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (long i = 0; i < exits; i++) {
    xioctl(vcpu, KVM_RUN, NULL, "KVM_RUN");
    if (run->exit_reason != KVM_EXIT_MMIO)
      fail("exit %ld: reason %u, expected KVM_EXIT_MMIO (%u) at pc 0x%llx", i, run->exit_reason,
           KVM_EXIT_MMIO, (unsigned long long)get_reg(vcpu, CORE_REG(regs.pc), "pc"));
    uint32_t data;
    memcpy(&data, run->mmio.data, sizeof data);
    if (!run->mmio.is_write || run->mmio.phys_addr != MMIO_GPA || run->mmio.len != 4 ||
        data != SMOKE_VALUE)
      fail("MMIO exit %ld: %s of %u bytes at 0x%llx (0x%x), expected a 4-byte write of 0x%x at 0x%lx",
           i, run->mmio.is_write ? "write" : "read", run->mmio.len,
           (unsigned long long)run->mmio.phys_addr, data, SMOKE_VALUE, MMIO_GPA);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);

  xioctl(vcpu, KVM_RUN, NULL, "KVM_RUN");
  if (run->exit_reason != KVM_EXIT_SYSTEM_EVENT ||
      run->system_event.type != KVM_SYSTEM_EVENT_SHUTDOWN)
    fail("expected the PSCI SYSTEM_OFF as KVM_EXIT_SYSTEM_EVENT (shutdown), got exit reason %u",
         run->exit_reason);
  uint64_t pc = get_reg(vcpu, CORE_REG(regs.pc), "KVM_GET_ONE_REG pc");
  if (pc != MEM_GPA + 6 * 4)
    fail("SYSTEM_OFF at pc 0x%llx, expected 0x%lx", (unsigned long long)pc, MEM_GPA + 6 * 4);

  double us = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3 / exits;
  printf("kvm smoke: ok (%ld MMIO writes of 0x%x to 0x%lx, then PSCI SYSTEM_OFF; %.1f us per exit)\n",
         exits, SMOKE_VALUE, MMIO_GPA, us);
  return 0;
}
