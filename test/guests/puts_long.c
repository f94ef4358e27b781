/*
 * puts_long: a single PUTS of 5000 bytes, to check the tender writes a whole
 * buffer in one go. Byte i is 'a' + i % 26, except the last, which is '\n'.
 */
#include "rt.h"

#define LONG_LEN 5000

static char text[LONG_LEN];

int guest_main(const char *cmdline)
{
  (void)cmdline;
  for (size_t i = 0; i < LONG_LEN - 1; i++)
    text[i] = (char)('a' + i % 26);
  text[LONG_LEN - 1] = '\n';
  rt_write(text, LONG_LEN);
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
