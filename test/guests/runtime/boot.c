/*
 * Boot: our own GDT (with a TSS) and IDT first, so that every later fault is
 * reported by rt_trap; then boot info, command line, banner, application.
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

static const struct hvt_boot_info *boot_info;
static const char *app_cmdline;
enum rt_log_level rt_log_level = RT_LOG_INFO;

extern void rt_clock_init(void);

static inline void wrmsr(uint32_t msr, uint64_t value)
{
  __asm__ __volatile__("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}

static void cpu_tables_init(void)
{
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

static const struct {
  const char *name;
  enum rt_log_level level;
} log_levels[] = {
    {"quiet", RT_LOG_QUIET}, {"error", RT_LOG_ERROR}, {"warn", RT_LOG_WARN},
    {"info", RT_LOG_INFO},   {"debug", RT_LOG_DEBUG},
};

/*
 * Consumes leading `--solo5:LEVEL` words, as the bindings do, and returns the
 * rest. An unknown level is reported once the level is known.
 */
static const char *parse_solo5_options(const char *cmdline, const char **unknown, size_t *unknown_len)
{
  static const char prefix[] = "--solo5:";
  const char *p = cmdline;
  *unknown = NULL;
  for (;;) {
    while (*p == ' ')
      p++;
    if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
      return p;
    const char *word = p + sizeof(prefix) - 1;
    size_t len = 0;
    while (word[len] != '\0' && word[len] != ' ')
      len++;
    bool known = false;
    for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
      if (strlen(log_levels[i].name) == len && strncmp(word, log_levels[i].name, len) == 0) {
        rt_log_level = log_levels[i].level;
        known = true;
      }
    }
    if (!known) {
      *unknown = word;
      *unknown_len = len;
    }
    p = word + len;
  }
}

/* The stack at the top of memory needs room above the image. */
#define MIN_STACK_ROOM (64 * 1024)

void rt_boot(const struct hvt_boot_info *bi)
{
  /*
   * No FPU set-up: the vCPU's reset state (FCW 0x37f, MXCSR 0x1f80) is what
   * we want, and instructions such as LDMXCSR are missing from KVM's
   * instruction emulator, which runs all of a guest's code on some hosts.
   */
  cpu_tables_init();

  boot_info = bi;
  const char *unknown;
  size_t unknown_len = 0;
  app_cmdline = parse_solo5_options((const char *)(uintptr_t)bi->cmdline, &unknown, &unknown_len);
  rt_clock_init();

  rt_log(RT_LOG_INFO, "hvt.js test runtime, Solo5 hvt ABI 2\n");
  if (unknown != NULL)
    rt_log(RT_LOG_WARN, "unknown log level: %.*s\n", (int)unknown_len, unknown);
  rt_log(RT_LOG_INFO,
         "mem_size=0x%lx cpu_cycle_freq=%lu manifest_entries=%u host_features=0x%x "
         "net_ring=0x%lx\n",
         (unsigned long)bi->mem_size, (unsigned long)bi->cpu_cycle_freq,
         ((const struct mft *)(uintptr_t)bi->mft)->entries, bi->host_features,
         (unsigned long)bi->net_ring);
  rt_log(RT_LOG_INFO, "text 0x%lx-0x%lx rodata 0x%lx-0x%lx data 0x%lx-0x%lx bss 0x%lx-0x%lx\n",
         (unsigned long)__image_start, (unsigned long)__text_end, (unsigned long)__rodata_start,
         (unsigned long)__rodata_end, (unsigned long)__data_start, (unsigned long)__data_end,
         (unsigned long)__bss_start, (unsigned long)_end);

  if (bi->mem_size < (uint64_t)(uintptr_t)_end + MIN_STACK_ROOM)
    rt_abort("Not enough memory");

  int status = guest_main(app_cmdline);
  rt_halt(status, NULL);
}

const struct hvt_boot_info *rt_boot_info(void)
{
  return boot_info;
}

uint64_t rt_mem_size(void)
{
  return boot_info->mem_size;
}

uint64_t rt_cpu_cycle_freq(void)
{
  return boot_info->cpu_cycle_freq;
}

const char *rt_cmdline(void)
{
  return app_cmdline;
}

const struct mft *rt_manifest(void)
{
  return (const struct mft *)(uintptr_t)boot_info->mft;
}
