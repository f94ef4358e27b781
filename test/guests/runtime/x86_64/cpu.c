/*
 * x86_64: our own GDT (with a TSS) and IDT, every exception on IST1; the
 * TSC; stopping the CPU; the ring kick and barrier; the string instructions
 * the mem* routines use.
 */
#include "rt.h"

#define GDT_CODE 0x08
#define GDT_DATA 0x10
#define GDT_TSS 0x18

#define MSR_FS_BASE 0xC0000100U
#define MSR_GS_BASE 0xC0000101U

/* Stack the CPU switches to for every exception (IST1), so that a fault
 * caused by a bad RSP is still reported. */
#define TRAP_STACK_SIZE 16384

struct tss {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss) == 104, "tss size");

struct idt_gate {
  uint16_t offset_lo;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_hi;
  uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "idt gate size");

struct table_register {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

extern const uint64_t rt_trap_vectors[32];

static uint64_t gdt[5] __attribute__((aligned(16)));
static struct tss tss __attribute__((aligned(16)));
static struct idt_gate idt[32] __attribute__((aligned(16)));
static uint8_t trap_stack[TRAP_STACK_SIZE] __attribute__((aligned(16)));

static inline void wrmsr(uint32_t msr, uint64_t value)
{
  __asm__ __volatile__("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

void rt_cpu_init(void)
{
  /*
   * No FPU set-up: the vCPU's reset state (FCW 0x37f, MXCSR 0x1f80) is what
   * we want, and instructions such as LDMXCSR are missing from KVM's
   * instruction emulator, which runs all of a guest's code on some hosts.
   */
  uint64_t tss_base = (uint64_t)(uintptr_t)&tss;
  uint64_t tss_limit = sizeof(tss) - 1;

  gdt[0] = 0;
  /* 64-bit code, execute/read, DPL 0. */
  gdt[1] = 0x00AF9A000000FFFFULL;
  /* Data, read/write, DPL 0. */
  gdt[2] = 0x00CF92000000FFFFULL;
  /* Available 64-bit TSS; a system descriptor takes two slots. */
  gdt[3] = (tss_limit & 0xFFFF) | ((tss_base & 0xFFFFFF) << 16) | (0x9ULL << 40) |
           (1ULL << 47) | (((tss_limit >> 16) & 0xF) << 48) | (((tss_base >> 24) & 0xFF) << 56);
  gdt[4] = tss_base >> 32;

  tss.ist[0] = (uint64_t)(uintptr_t)(trap_stack + TRAP_STACK_SIZE);
  tss.iomap_base = sizeof(tss);

  for (int v = 0; v < 32; v++) {
    uint64_t handler = rt_trap_vectors[v];
    idt[v].offset_lo = handler & 0xFFFF;
    idt[v].selector = GDT_CODE;
    idt[v].ist = 1;
    idt[v].type_attr = 0x8E; /* present, DPL 0, 64-bit interrupt gate */
    idt[v].offset_mid = (handler >> 16) & 0xFFFF;
    idt[v].offset_hi = (uint32_t)(handler >> 32);
    idt[v].reserved = 0;
  }

  struct table_register gdtr = {sizeof(gdt) - 1, (uint64_t)(uintptr_t)gdt};
  struct table_register idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};

  /* CS can only be reloaded with a far transfer; a far return is the simplest. */
  __asm__ __volatile__("lgdt %0\n\t"
                       "pushq %1\n\t"
                       "leaq 1f(%%rip), %%rax\n\t"
                       "pushq %%rax\n\t"
                       "lretq\n"
                       "1:\n\t"
                       "movl %2, %%eax\n\t"
                       "movl %%eax, %%ds\n\t"
                       "movl %%eax, %%es\n\t"
                       "movl %%eax, %%ss\n\t"
                       "movl %%eax, %%fs\n\t"
                       "movl %%eax, %%gs\n\t"
                       "ltr %w3\n\t"
                       "lidt %4"
                       :
                       : "m"(gdtr), "i"(GDT_CODE), "i"(GDT_DATA), "r"((uint16_t)GDT_TSS), "m"(idtr)
                       : "rax", "memory");

  /* As the Solo5 bindings do: TLS use without setup faults in the zero page. */
  wrmsr(MSR_FS_BASE, 0);
  wrmsr(MSR_GS_BASE, 0);
}


uint64_t rt_cycles(void)
{
  uint32_t lo, hi;
  /* LFENCE keeps RDTSC from running ahead of earlier instructions. */
  __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return ((uint64_t)hi << 32) | lo;
}

void rt_cpu_stop(void)
{
  for (;;)
    __asm__ __volatile__("cli; hlt");
}

void rt_ring_kick(void)
{
  /* The value is the ring id, always 0; KVM turns the OUT into an eventfd signal. */
  __asm__ __volatile__("outl %0, %1" : : "a"(0U), "d"((uint16_t)HVT_RING_KICK_PIO_BASE) : "memory");
}

void rt_full_barrier(void)
{
  /*
   * Not MFENCE: some hosts run guests in KVM's instruction emulator, which
   * lacks it; a locked read-modify-write orders stores before loads as well.
   */
  __asm__ __volatile__("lock; orl $0, (%%rsp)" : : : "memory", "cc");
}

void *memset(void *dst, int c, size_t n)
{
  void *d = dst;
  size_t words = n / 8, bytes = n % 8;
  uint64_t v = (uint8_t)c * 0x0101010101010101ULL;
  __asm__ __volatile__("rep stosq\n\t"
                       "movq %3, %%rcx\n\t"
                       "rep stosb"
                       : "+D"(d), "+c"(words)
                       : "a"(v), "r"(bytes)
                       : "memory");
  return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
  void *d = dst;
  size_t words = n / 8, bytes = n % 8;
  __asm__ __volatile__("rep movsq\n\t"
                       "movq %3, %%rcx\n\t"
                       "rep movsb"
                       : "+D"(d), "+S"(src), "+c"(words)
                       : "r"(bytes)
                       : "memory");
  return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
  if ((uintptr_t)dst <= (uintptr_t)src || (uintptr_t)dst >= (uintptr_t)src + n)
    return memcpy(dst, src, n);
  /* Overlapping with dst above src: copy backwards from the last byte. */
  void *d = (char *)dst + n - 1;
  const void *s = (const char *)src + n - 1;
  __asm__ __volatile__("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return dst;
}
