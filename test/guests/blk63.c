/*
 * blk63: the largest manifest, 63 block devices blk1..blk63. Writes a
 * distinct pattern to sector 0 of every device, then reads all back, so a
 * mix-up of handles or backing files shows as a mismatch.
 * Pattern: byte j of device i's sector 0 is (i * 37 + j) mod 256.
 */
#include "rt.h"

#define DEVICES 63
#define MAX_SECTOR 32768

static uint8_t buf[MAX_SECTOR] __attribute__((aligned(16)));
static uint8_t expect[MAX_SECTOR] __attribute__((aligned(16)));

static void fill(uint8_t *b, int dev, uint64_t size)
{
  for (uint64_t j = 0; j < size; j++)
    b[j] = (uint8_t)(dev * 37 + j);
}

int guest_main(const char *cmdline)
{
  (void)cmdline;
  struct rt_device devs[DEVICES + 1];
  char name[8];

  for (int i = 1; i <= DEVICES; i++) {
    rt_snprintf(name, sizeof(name), "blk%d", i);
    rt_device_require(name, MFT_DEV_BLOCK_BASIC, &devs[i]);
    uint64_t bs = devs[i].block_size;
    if (bs == 0 || bs > MAX_SECTOR || devs[i].capacity < bs) {
      rt_printf("FAILURE: %s: unusable capacity or block size\n", name);
      return RT_EXIT_FAILURE;
    }
    fill(buf, i, bs);
    int ret = rt_block_write((uint64_t)devs[i].handle, 0, buf, bs);
    if (ret != HVT_R_OK) {
      rt_printf("FAILURE: %s: write: ret=%d\n", name, ret);
      return RT_EXIT_FAILURE;
    }
  }

  for (int i = 1; i <= DEVICES; i++) {
    rt_snprintf(name, sizeof(name), "blk%d", i);
    uint64_t bs = devs[i].block_size;
    memset(buf, 0, bs);
    int ret = rt_block_read((uint64_t)devs[i].handle, 0, buf, bs);
    fill(expect, i, bs);
    bool ok = ret == HVT_R_OK && memcmp(buf, expect, bs) == 0;
    rt_printf("%s: handle=%d capacity=%lu block_size=%lu %s\n", name, devs[i].handle,
              (unsigned long)devs[i].capacity, (unsigned long)bs, ok ? "ok" : "FAILED");
    if (!ok) {
      rt_printf("FAILURE: %s: read ret=%d\n", name, ret);
      return RT_EXIT_FAILURE;
    }
  }
  rt_printf("verified %d devices\n", DEVICES);
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
