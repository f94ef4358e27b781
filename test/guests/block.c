/*
 * block: BLOCK_WRITE/BLOCK_READ against the `storage` device.
 *
 *   mode=rw (default)  write the pattern to each tested sector, read it all
 *                      back and verify, then run the error cases
 *   mode=write         write the pattern only
 *   mode=verify        read and verify only (e.g. in a second run, to check
 *                      the first run's writes reached the backing file)
 *   seed=N             pattern seed (default 0)
 *   sectors=N          sectors to test (default: all, at most 1024)
 *
 * Pattern, in little-endian 64-bit words: word k of sector s is
 * (s << 32 | k) XOR (seed * 0x9e3779b97f4a7c15) (words, not bytes, because
 * some hosts emulate every guest instruction).
 */
#include "rt.h"

#define DEFAULT_MAX_SECTORS 1024
/* The largest sector size the tender accepts (a u16 power of two). */
#define MAX_SECTOR 32768

static uint64_t wbuf[MAX_SECTOR / 8];
static uint64_t rbuf[MAX_SECTOR / 8];

static uint64_t pattern(uint64_t sector, uint64_t word, uint64_t seed)
{
  return ((sector << 32) | word) ^ (seed * 0x9e3779b97f4a7c15ULL);
}

static void fill(uint64_t *buf, uint64_t sector, uint64_t size, uint64_t seed)
{
  for (uint64_t k = 0; k < size / 8; k++)
    buf[k] = pattern(sector, k, seed);
}

static bool matches(const uint64_t *buf, uint64_t sector, uint64_t size, uint64_t seed)
{
  for (uint64_t k = 0; k < size / 8; k++) {
    if (buf[k] != pattern(sector, k, seed))
      return false;
  }
  return true;
}

static int failures;

static void expect_einval(const char *what, int ret)
{
  rt_printf("error case %s: ret=%d (expected %d)\n", what, ret, HVT_R_EINVAL);
  if (ret != HVT_R_EINVAL)
    failures++;
}

int guest_main(const char *cmdline)
{
  struct rt_device dev;
  int h = rt_device_require("storage", MFT_DEV_BLOCK_BASIC, &dev);
  uint64_t bs = dev.block_size;
  rt_printf("storage: handle=%d capacity=%lu block_size=%lu\n", h, (unsigned long)dev.capacity,
            (unsigned long)bs);
  if (bs == 0 || bs > MAX_SECTOR || dev.capacity % bs != 0 || dev.capacity < bs) {
    rt_puts("FAILURE: unusable capacity or block size\n");
    return RT_EXIT_FAILURE;
  }

  char mode[16] = "rw";
  if (rt_arg(cmdline, "mode", NULL) != NULL && !rt_arg_str(cmdline, "mode", mode, sizeof(mode)))
    rt_abort("mode too long");
  bool do_write = strcmp(mode, "rw") == 0 || strcmp(mode, "write") == 0;
  bool do_verify = strcmp(mode, "rw") == 0 || strcmp(mode, "verify") == 0;
  if (!do_write && !do_verify) {
    rt_printf("unknown mode %s (rw, write, verify)\n", mode);
    return RT_EXIT_FAILURE;
  }
  uint64_t seed = rt_arg_u64(cmdline, "seed", 0);
  uint64_t total = dev.capacity / bs;
  uint64_t sectors = rt_arg_u64(cmdline, "sectors", total < DEFAULT_MAX_SECTORS ? total : DEFAULT_MAX_SECTORS);
  if (sectors > total)
    sectors = total;
  rt_printf("mode=%s sectors=%lu of %lu seed=%lu\n", mode, (unsigned long)sectors,
            (unsigned long)total, (unsigned long)seed);

  if (do_write) {
    for (uint64_t s = 0; s < sectors; s++) {
      fill(wbuf, s, bs, seed);
      int ret = rt_block_write((uint64_t)h, s * bs, wbuf, bs);
      if (ret != HVT_R_OK) {
        rt_printf("FAILURE: write sector %lu: ret=%d\n", (unsigned long)s, ret);
        return RT_EXIT_FAILURE;
      }
    }
    rt_printf("wrote %lu sectors\n", (unsigned long)sectors);
  }

  if (do_verify) {
    for (uint64_t s = 0; s < sectors; s++) {
      memset(rbuf, 0, bs);
      int ret = rt_block_read((uint64_t)h, s * bs, rbuf, bs);
      if (ret != HVT_R_OK) {
        rt_printf("FAILURE: read sector %lu: ret=%d\n", (unsigned long)s, ret);
        return RT_EXIT_FAILURE;
      }
      if (!matches(rbuf, s, bs, seed)) {
        rt_printf("FAILURE: sector %lu does not match the pattern\n", (unsigned long)s);
        return RT_EXIT_FAILURE;
      }
    }
    rt_printf("verified %lu sectors\n", (unsigned long)sectors);
  }

  if (strcmp(mode, "rw") == 0) {
    uint64_t entries = rt_manifest()->entries;
    expect_einval("read offset=capacity", rt_block_read((uint64_t)h, dev.capacity, rbuf, bs));
    expect_einval("write offset=capacity", rt_block_write((uint64_t)h, dev.capacity, wbuf, bs));
    expect_einval("read past end", rt_block_read((uint64_t)h, dev.capacity - bs / 2, rbuf, bs));
    expect_einval("read handle=0 (reserved entry)", rt_block_read(0, 0, rbuf, bs));
    expect_einval("read handle=entries", rt_block_read(entries, 0, rbuf, bs));
    expect_einval("write handle=entries", rt_block_write(entries, 0, wbuf, bs));
    expect_einval("read handle=63", rt_block_read(MFT_MAX_ENTRIES - 1, 0, rbuf, bs));
  }

  if (failures != 0) {
    rt_printf("FAILURE: %d checks failed\n", failures);
    return RT_EXIT_FAILURE;
  }
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
