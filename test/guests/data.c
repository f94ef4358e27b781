/*
 * data: the tender loaded .data and .rodata from the file and left .bss
 * (a PT_LOAD with no file contents) zeroed. Reads go through volatile
 * pointers so the compiler cannot answer them from the initialisers.
 */
#include "rt.h"

#define BSS_WORDS 16384

static uint64_t data_words[4] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL, 42, 0};
static uint32_t data_small = 0xdeadbeef;
static uint64_t bss_words[BSS_WORDS];
static const char rodata_text[] = "The quick brown fox jumps over the lazy dog";

static int failures;

static void check(bool ok, const char *what)
{
  rt_printf("%s: %s\n", what, ok ? "ok" : "FAILED");
  if (!ok)
    failures++;
}

int guest_main(const char *cmdline)
{
  (void)cmdline;
  volatile uint64_t *dw = data_words;
  volatile uint32_t *ds = &data_small;
  volatile uint64_t *bw = bss_words;
  const volatile char *ro = rodata_text;

  rt_printf("data at %p, bss at %p, rodata at %p\n", (void *)data_words, (void *)bss_words,
            (void *)rodata_text);
  check(dw[0] == 0x0123456789abcdefULL && dw[1] == 0xfedcba9876543210ULL && dw[2] == 42 &&
            dw[3] == 0,
        "data initialised");
  check(*ds == 0xdeadbeef, "data u32 initialised");

  bool zero = true;
  for (size_t i = 0; i < BSS_WORDS; i++) {
    if (bw[i] != 0)
      zero = false;
  }
  check(zero, "bss zeroed");

  static const char expect[] = "The quick brown fox jumps over the lazy dog";
  bool same = true;
  for (size_t i = 0; i < sizeof(expect); i++) {
    if (ro[i] != expect[i])
      same = false;
  }
  check(same, "rodata string");

  uintptr_t d = (uintptr_t)data_words, b = (uintptr_t)bss_words, r = (uintptr_t)rodata_text;
  check(d >= (uintptr_t)__data_start && d < (uintptr_t)__data_end, "data in data segment");
  check(b >= (uintptr_t)__bss_start && b < (uintptr_t)_end, "bss in bss segment");
  check(r >= (uintptr_t)__rodata_start && r < (uintptr_t)__rodata_end, "rodata in rodata segment");

  /* Data and bss are writable. */
  dw[3] = 7;
  bw[BSS_WORDS - 1] = 0x5555;
  check(dw[3] == 7 && bw[BSS_WORDS - 1] == 0x5555, "data and bss writable");

  if (failures != 0) {
    rt_printf("FAILURE: %d checks failed\n", failures);
    return RT_EXIT_FAILURE;
  }
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
