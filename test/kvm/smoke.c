/*
 * Proves that /dev/kvm works for what an hvt tender needs, before any tender
 * exists: a VM whose vCPU starts directly in 64-bit long mode (no real-mode
 * trampoline; the tender does the same through KVM_SET_SREGS), does an `out`
 * and a `hlt`, and both exits arrive as expected.
 *
 * Prints "kvm smoke: ok" and exits 0, or says what went wrong and exits 1.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "smoke-common.h"

#define MEM_SIZE 0x200000UL /* one 2 MiB page, identity-mapped */
#define PML4_GPA 0x1000UL
#define PDPT_GPA 0x2000UL
#define PD_GPA 0x3000UL
#define GDT_GPA 0x4000UL
#define CODE_GPA 0x10000UL
#define STACK_TOP 0x100000UL

#define SMOKE_PORT 0x4242
#define SMOKE_VALUE 0xC0FFEE42U

#define PTE_P (1UL << 0)
#define PTE_RW (1UL << 1)
#define PTE_PS (1UL << 7)

#define CR0_PE (1UL << 0)
#define CR0_MP (1UL << 1)
#define CR0_ET (1UL << 4)
#define CR0_NE (1UL << 5)
#define CR0_WP (1UL << 16)
#define CR0_PG (1UL << 31)
#define CR4_PAE (1UL << 5)
#define EFER_LME (1UL << 8)
#define EFER_LMA (1UL << 10)

static const char *exit_name(uint32_t reason) {
  switch (reason) {
  case KVM_EXIT_IO: return "KVM_EXIT_IO";
  case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
  case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
  case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN (triple fault?)";
  case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
  case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
  default: return "another exit";
  }
}

static void run_until_exit(int vcpu, struct kvm_run *run, uint32_t expected) {
  xioctl(vcpu, KVM_RUN, NULL, "KVM_RUN");
  if (run->exit_reason != expected) {
    struct kvm_regs regs;
    xioctl(vcpu, KVM_GET_REGS, &regs, "KVM_GET_REGS");
    fail("expected %s, got exit reason %u (%s) at rip 0x%llx", exit_name(expected),
         run->exit_reason, exit_name(run->exit_reason), (unsigned long long)regs.rip);
  }
}

/* Code of the 64-bit guest. The movabs decodes as `dec eax; mov eax, 0` and
 * then junk in 32-bit mode, so the expected port and value only come out if
 * the vCPU really runs in long mode. */
static const uint8_t guest_code[] = {
    0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, /* movabs rax, SMOKE_VALUE << 32 */
    0x42, 0xee, 0xff, 0xc0,             /* (SMOKE_VALUE, little-endian) */
    0x48, 0xc1, 0xe8, 0x20,             /* shr rax, 32 */
    0x66, 0xba, 0x42, 0x42,             /* mov dx, SMOKE_PORT */
    0xef,                               /* out dx, eax */
    0xf4,                               /* hlt */
};

static void set_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, int code) {
  memset(s, 0, sizeof *s);
  s->base = 0;
  s->limit = 0xffffffff;
  s->selector = selector;
  s->type = type;
  s->present = 1;
  s->dpl = 0;
  s->s = 1;
  s->g = 1;
  s->l = code ? 1 : 0;
  s->db = code ? 0 : 1; /* a long-mode code segment must have D clear */
}

int main(void) {
  int kvm = smoke_open_kvm();

  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) fail("KVM_CREATE_VM: %s", strerror(errno));

  uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) fail("mmap guest memory: %s", strerror(errno));
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uintptr_t)mem};
  xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

  /* Identity map of the first 2 MiB: PML4 -> PDPT -> PD with one large page. */
  uint64_t *pml4 = (uint64_t *)(mem + PML4_GPA);
  uint64_t *pdpt = (uint64_t *)(mem + PDPT_GPA);
  uint64_t *pd = (uint64_t *)(mem + PD_GPA);
  pml4[0] = PDPT_GPA | PTE_P | PTE_RW;
  pdpt[0] = PD_GPA | PTE_P | PTE_RW;
  pd[0] = 0 | PTE_P | PTE_RW | PTE_PS;

  /* The GDT is not read while the hidden segment state set below is valid,
   * but it must match it so that a reload (iret, far jump) would not fault. */
  uint64_t *gdt = (uint64_t *)(mem + GDT_GPA);
  gdt[0] = 0;
  gdt[1] = 0x00af9a000000ffffULL; /* 0x08: 64-bit code, DPL 0 */
  gdt[2] = 0x00cf92000000ffffULL; /* 0x10: data, DPL 0 */

  memcpy(mem + CODE_GPA, guest_code, sizeof guest_code);

  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) fail("KVM_CREATE_VCPU: %s", strerror(errno));

  /* Give the vCPU the host-supported CPUID, as a tender does; long mode
   * needs the LM bit to be visible to the guest. */
  struct kvm_cpuid2 *cpuid = NULL;
  for (uint32_t nent = 64;; nent *= 2) {
    free(cpuid);
    cpuid = calloc(1, sizeof *cpuid + nent * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid) fail("out of memory");
    cpuid->nent = nent;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) break;
    if (errno != E2BIG || nent >= 4096) fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
  }
  xioctl(vcpu, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");

  int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run)) fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
  struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) fail("mmap kvm_run: %s", strerror(errno));

  struct kvm_sregs sregs;
  xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
  set_segment(&sregs.cs, 0x08, 0xb, 1); /* execute/read, accessed */
  set_segment(&sregs.ds, 0x10, 0x3, 0); /* read/write, accessed */
  sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
  sregs.gdt.base = GDT_GPA;
  sregs.gdt.limit = 3 * 8 - 1;
  sregs.cr3 = PML4_GPA;
  sregs.cr4 = CR4_PAE;
  sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
  sregs.efer = EFER_LME | EFER_LMA;
  xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

  struct kvm_regs regs;
  memset(&regs, 0, sizeof regs);
  regs.rip = CODE_GPA;
  regs.rsp = STACK_TOP;
  regs.rflags = 0x2; /* bit 1 is reserved and must be set */
  xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

  run_until_exit(vcpu, run, KVM_EXIT_IO);
  if (run->io.direction != KVM_EXIT_IO_OUT)
    fail("IO exit is not an OUT (direction %u)", run->io.direction);
  if (run->io.port != SMOKE_PORT)
    fail("IO exit on port 0x%x, expected 0x%x", run->io.port, SMOKE_PORT);
  if (run->io.size != 4) fail("IO exit of size %u, expected 4", run->io.size);
  if (run->io.count != 1) fail("IO exit with count %u, expected 1", run->io.count);
  uint32_t out;
  memcpy(&out, (uint8_t *)run + run->io.data_offset, sizeof out);
  if (out != SMOKE_VALUE) fail("OUT wrote 0x%x, expected 0x%x", out, SMOKE_VALUE);

  xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
  if (!(sregs.efer & EFER_LMA)) fail("EFER.LMA is clear after the OUT: not in long mode");

  run_until_exit(vcpu, run, KVM_EXIT_HLT);
  xioctl(vcpu, KVM_GET_REGS, &regs, "KVM_GET_REGS");
  uint64_t after_hlt = CODE_GPA + sizeof guest_code;
  if (regs.rip != after_hlt)
    fail("HLT exit at rip 0x%llx, expected 0x%llx", (unsigned long long)regs.rip,
         (unsigned long long)after_hlt);

  printf("kvm smoke: ok (OUT 0x%x to port 0x%x, then HLT, in long mode)\n", out, SMOKE_PORT);
  return 0;
}
