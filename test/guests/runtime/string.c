/*
 * String routines. memset, memcpy and memmove are per architecture (cpu.c):
 * GCC may turn a byte loop back into a call to the very function it
 * implements, and they move 8 bytes per iteration where they can, which
 * matters on hosts that emulate every guest instruction.
 */
#include "rt.h"

int memcmp(const void *a, const void *b, size_t n)
{
  const unsigned char *x = a;
  const unsigned char *y = b;
  for (size_t i = 0; i < n; i++) {
    if (x[i] != y[i])
      return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char *s)
{
  size_t n = 0;
  while (s[n] != '\0')
    n++;
  return n;
}

int strcmp(const char *a, const char *b)
{
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (a[i] != b[i] || a[i] == '\0')
      return (unsigned char)a[i] - (unsigned char)b[i];
  }
  return 0;
}
