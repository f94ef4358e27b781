/*
 * halt: HALT with a chosen status, optionally with a cookie.
 *   status=N   exit status (default 0)
 *   cookie=1   pass a 512-byte cookie (byte i = i mod 256)
 */
#include "rt.h"

static uint8_t cookie[HVT_HALT_COOKIE_MAX] __attribute__((aligned(16)));

int guest_main(const char *cmdline)
{
  uint64_t status = rt_arg_u64(cmdline, "status", 0);
  bool with_cookie = rt_arg_u64(cmdline, "cookie", 0) != 0;
  for (size_t i = 0; i < sizeof(cookie); i++)
    cookie[i] = (uint8_t)i;
  rt_printf("halt: status=%lu cookie=%p\n", (unsigned long)status,
            with_cookie ? (void *)cookie : NULL);
  rt_halt((int)status, with_cookie ? cookie : NULL);
}
