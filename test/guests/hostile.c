/*
 * hostile: one hostile hypercall or port access per run, chosen by `mode=`.
 * On aarch64 the transport modes (in-port, out8, out16, out-port-400) do the
 * same to the MMIO window: a read, 1- and 2-byte stores, a store outside it.
 * The manifest declares `storage` (block) and `service0` (net) so the block
 * and net handlers exist; a run must attach both.
 *
 * Modes that get a result code back print `<mode>: ret=<n>` and end with
 * SUCCESS (status 0); the test judges the code. In the fatal modes the
 * tender must end the guest; if it does not, the guest prints UNEXPECTED and
 * halts with status 99. An unknown mode lists the modes and halts with 64.
 */
#include "rt.h"

#define EXIT_SURVIVED 99
#define EXIT_USAGE 64

static uint8_t scratch[4096] __attribute__((aligned(16)));
static int block_handle, net_handle;
static uint64_t block_size;

static uint32_t gpa32(uint64_t gpa)
{
  return (uint32_t)gpa;
}

#if defined(__x86_64__)
static void out32(uint16_t port, uint32_t value)
{
  __asm__ __volatile__("outl %0, %1" : : "a"(value), "d"(port) : "memory");
}

static uint32_t transport_read(void)
{
  uint32_t v;
  __asm__ __volatile__("inl %1, %0" : "=a"(v) : "d"((uint16_t)0x501) : "memory");
  return v;
}

static void transport_store8(void)
{
  __asm__ __volatile__("outb %0, %1" : : "a"((uint8_t)0), "d"((uint16_t)0x501) : "memory");
}

static void transport_store16(void)
{
  __asm__ __volatile__("outw %0, %1" : : "a"((uint16_t)0), "d"((uint16_t)0x501) : "memory");
}

static void transport_outside(uint32_t value)
{
  out32(0x400, value);
}

static void say_hypercall(unsigned nr)
{
  rt_printf("out 0x%x\n", HVT_HYPERCALL_PIO_BASE + nr);
}
#elif defined(__aarch64__)
/* The MMIO address of hypercall 1 (WALLTIME), as the x86 modes use port 0x501. */
#define MMIO_WALLTIME (HVT_HYPERCALL_MMIO_BASE + (1UL << 3))

static uint32_t transport_read(void)
{
  uint32_t v;
  __asm__ __volatile__("ldr %w0, [%1]" : "=r"(v) : "r"(MMIO_WALLTIME) : "memory");
  return v;
}

static void transport_store8(void)
{
  __asm__ __volatile__("strb wzr, [%0]" : : "r"(MMIO_WALLTIME) : "memory");
}

static void transport_store16(void)
{
  __asm__ __volatile__("strh wzr, [%0]" : : "r"(MMIO_WALLTIME) : "memory");
}

/* Just past the hypercall window (numbers 0..8, 8 bytes apart). */
static void transport_outside(uint32_t value)
{
  __asm__ __volatile__("str %w0, [%1]"
                       :
                       : "r"(value), "r"(HVT_HYPERCALL_MMIO_BASE + 0x48UL)
                       : "memory");
}

static void say_hypercall(unsigned nr)
{
  rt_printf("store 0x%lx\n", (unsigned long)(HVT_HYPERCALL_MMIO_BASE + ((uint64_t)nr << 3)));
}
#endif

static void puts_struct_at(uint64_t struct_gpa)
{
  rt_printf("puts struct=0x%lx\n", (unsigned long)struct_gpa);
  hvt_hypercall_gpa(HVT_HYPERCALL_PUTS, gpa32(struct_gpa));
}

static void puts_data(uint64_t data, uint64_t len)
{
  struct hvt_hc_puts p = {.data = data, .len = len};
  rt_printf("puts data=0x%lx len=0x%lx\n", (unsigned long)data, (unsigned long)len);
  hvt_hypercall(HVT_HYPERCALL_PUTS, &p);
}

/* --- fatal modes: the tender must not return from these --- */

static void puts_struct_outside(uint64_t mem)
{
  puts_struct_at(mem + 0x1000);
}

static void puts_data_top(uint64_t mem)
{
  /* The 16 bytes under the top are above the initial stack pointer, unused. */
  char *top = (char *)(uintptr_t)(mem - 16);
  memcpy(top, "top of memory!\n", 16);
  puts_data(mem - 16, 16);
}

static void puts_data_outside(uint64_t mem)
{
  puts_data(mem + 0x1000, 1);
}

static void puts_len_overflow(uint64_t mem)
{
  (void)mem;
  uint64_t data = (uint64_t)(uintptr_t)scratch;
  puts_data(data, (uint64_t)0 - data + 16);
}

static void puts_huge_len(uint64_t mem)
{
  (void)mem;
  puts_data((uint64_t)(uintptr_t)scratch, 1ULL << 40);
}

static void puts_straddle(uint64_t mem)
{
  /* data (the top 8 bytes, above the initial stack pointer) is valid; len lies past the end. */
  ((volatile uint64_t *)(uintptr_t)(mem - 8))[0] = (uint64_t)(uintptr_t)scratch;
  puts_struct_at(mem - 8);
}

static void walltime_straddle(uint64_t mem)
{
  rt_printf("walltime struct=0x%lx\n", (unsigned long)(mem - 4));
  hvt_hypercall_gpa(HVT_HYPERCALL_WALLTIME, gpa32(mem - 4));
}

/*
 * The guest's own read-only pages: the tender's mapping of rodata is
 * read-only too, so a tender that wrote there without checking would die
 * of SIGSEGV instead of ending the guest.
 */
static void walltime_rodata(uint64_t mem)
{
  (void)mem;
  uint64_t at = (uint64_t)(uintptr_t)__rodata_start;
  rt_printf("walltime struct=0x%lx\n", (unsigned long)at);
  hvt_hypercall_gpa(HVT_HYPERCALL_WALLTIME, gpa32(at));
}

static void block_read_text(uint64_t mem)
{
  (void)mem;
  uint64_t at = (uint64_t)(uintptr_t)__image_start;
  rt_printf("block read data=0x%lx\n", (unsigned long)at);
  int ret = rt_block_read((uint64_t)block_handle, 0, (void *)(uintptr_t)at, block_size);
  rt_printf("ret=%d\n", ret);
}

static void halt_cookie_top(uint64_t mem)
{
  struct hvt_hc_halt h = {.cookie = mem - HVT_HALT_COOKIE_MAX, .exit_status = 7};
  rt_printf("halt status=7 cookie=0x%lx\n", (unsigned long)h.cookie);
  hvt_hypercall(HVT_HYPERCALL_HALT, &h);
}

static void halt_cookie_outside(uint64_t mem)
{
  struct hvt_hc_halt h = {.cookie = mem + 0x1000, .exit_status = 7};
  rt_printf("halt status=7 cookie=0x%lx\n", (unsigned long)h.cookie);
  hvt_hypercall(HVT_HYPERCALL_HALT, &h);
}

static void block_data_outside(uint64_t mem)
{
  rt_printf("block read data=0x%lx\n", (unsigned long)(mem + 0x1000));
  int ret = rt_block_read((uint64_t)block_handle, 0, (void *)(uintptr_t)(mem + 0x1000), block_size);
  rt_printf("ret=%d\n", ret);
}

static void net_data_outside(uint64_t mem)
{
  rt_printf("net write data=0x%lx\n", (unsigned long)(mem + 0x1000));
  int ret = rt_net_write((uint64_t)net_handle, (void *)(uintptr_t)(mem + 0x1000), 60);
  rt_printf("ret=%d\n", ret);
}

static void hypercall_nr(unsigned nr)
{
  struct hvt_hc_walltime w = {0};
  say_hypercall(nr);
  hvt_hypercall(nr, &w);
}

static void hypercall_0(uint64_t mem)
{
  (void)mem;
  hypercall_nr(0);
}

static void hypercall_9(uint64_t mem)
{
  (void)mem;
  hypercall_nr(HVT_HYPERCALL_MAX);
}

static void hypercall_7f(uint64_t mem)
{
  (void)mem;
  hypercall_nr(0x7f);
}

static void in_port(uint64_t mem)
{
  (void)mem;
  uint32_t v = transport_read();
  rt_printf("in returned 0x%x\n", v);
}

static void out8(uint64_t mem)
{
  (void)mem;
  transport_store8();
}

static void out16(uint64_t mem)
{
  (void)mem;
  transport_store16();
}

static void out_port_400(uint64_t mem)
{
  (void)mem;
  struct hvt_hc_walltime w = {0};
  transport_outside(gpa32((uint64_t)(uintptr_t)&w));
}

/* --- modes that get a result code back --- */

static void report(const char *what, int ret)
{
  rt_printf("%s: ret=%d\n", what, ret);
}

static void block_wrong_type(uint64_t mem)
{
  (void)mem;
  report("block read handle=net", rt_block_read((uint64_t)net_handle, 0, scratch, block_size));
  report("block write handle=net", rt_block_write((uint64_t)net_handle, 0, scratch, block_size));
}

static void block_reserved(uint64_t mem)
{
  (void)mem;
  report("block read handle=0", rt_block_read(0, 0, scratch, block_size));
}

static void block_handle_range(uint64_t mem)
{
  (void)mem;
  uint64_t entries = rt_manifest()->entries;
  report("block read handle=entries", rt_block_read(entries, 0, scratch, block_size));
  report("block read handle=64", rt_block_read(MFT_MAX_ENTRIES, 0, scratch, block_size));
  report("block read handle=0xffffffff", rt_block_read(0xffffffffULL, 0, scratch, block_size));
}

static void block_handle_high(uint64_t mem)
{
  (void)mem;
  /* The reference tender truncates handles to 32 bits: this one names `storage`. */
  uint64_t h = (1ULL << 32) | (uint64_t)block_handle;
  rt_printf("handle=0x%lx\n", (unsigned long)h);
  report("block read handle=high", rt_block_read(h, 0, scratch, block_size));
}

static void block_offset_wrap(uint64_t mem)
{
  (void)mem;
  uint64_t off = (uint64_t)0 - block_size;
  rt_printf("offset=0x%lx\n", (unsigned long)off);
  report("block read offset=2^64-bs", rt_block_read((uint64_t)block_handle, off, scratch, block_size));
  report("block write offset=2^64-bs",
         rt_block_write((uint64_t)block_handle, off, scratch, block_size));
}

static void block_len_overflow(uint64_t mem)
{
  (void)mem;
  report("block read len=2^63", rt_block_read((uint64_t)block_handle, 0, scratch, 1ULL << 63));
  report("block read offset=bs len=2^63-1",
         rt_block_read((uint64_t)block_handle, block_size, scratch, (1ULL << 63) - 1));
}

static void net_wrong_type(uint64_t mem)
{
  (void)mem;
  uint64_t len = 0;
  report("net write handle=block", rt_net_write((uint64_t)block_handle, scratch, 60));
  report("net read handle=block", rt_net_read((uint64_t)block_handle, scratch, sizeof(scratch), &len));
}

static void net_handle_range(uint64_t mem)
{
  (void)mem;
  uint64_t entries = rt_manifest()->entries;
  uint64_t len = 0;
  report("net write handle=entries", rt_net_write(entries, scratch, 60));
  report("net read handle=entries", rt_net_read(entries, scratch, sizeof(scratch), &len));
}

static void none(uint64_t mem)
{
  (void)mem;
}

static const struct mode {
  const char *name;
  void (*run)(uint64_t mem);
  bool fatal;
} modes[] = {
    {"none", none, false},
    {"puts-struct-outside", puts_struct_outside, true},
    {"puts-data-top", puts_data_top, true},
    {"puts-data-outside", puts_data_outside, true},
    {"puts-len-overflow", puts_len_overflow, true},
    {"puts-huge-len", puts_huge_len, true},
    {"puts-straddle", puts_straddle, true},
    {"walltime-straddle", walltime_straddle, true},
    {"walltime-rodata", walltime_rodata, true},
    {"block-read-text", block_read_text, true},
    {"halt-cookie-top", halt_cookie_top, true},
    {"halt-cookie-outside", halt_cookie_outside, true},
    {"block-data-outside", block_data_outside, true},
    {"net-data-outside", net_data_outside, true},
    {"hypercall-0", hypercall_0, true},
    {"hypercall-9", hypercall_9, true},
    {"hypercall-7f", hypercall_7f, true},
    {"in-port", in_port, true},
    {"out8", out8, true},
    {"out16", out16, true},
    {"out-port-400", out_port_400, true},
    {"block-wrong-type", block_wrong_type, false},
    {"block-reserved", block_reserved, false},
    {"block-handle-range", block_handle_range, false},
    {"block-handle-high", block_handle_high, false},
    {"block-offset-wrap", block_offset_wrap, false},
    {"block-len-overflow", block_len_overflow, false},
    {"net-wrong-type", net_wrong_type, false},
    {"net-handle-range", net_handle_range, false},
};

int guest_main(const char *cmdline)
{
  char name[32] = "";
  rt_arg_str(cmdline, "mode", name, sizeof(name));

  struct rt_device dev;
  block_handle = rt_device_require("storage", MFT_DEV_BLOCK_BASIC, &dev);
  block_size = dev.block_size;
  net_handle = rt_device_require("service0", MFT_DEV_NET_BASIC, NULL);
  uint64_t mem = rt_mem_size();

  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    if (strcmp(modes[i].name, name) != 0)
      continue;
    rt_printf("hostile: mode=%s mem_size=0x%lx\n", name, (unsigned long)mem);
    modes[i].run(mem);
    if (modes[i].fatal) {
      rt_printf("UNEXPECTED: survived %s\n", name);
      return EXIT_SURVIVED;
    }
    rt_puts("SUCCESS\n");
    return RT_EXIT_SUCCESS;
  }

  rt_printf("hostile: unknown mode '%s'; modes:", name);
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
    rt_printf(" %s", modes[i].name);
  rt_puts("\n");
  return EXIT_USAGE;
}
