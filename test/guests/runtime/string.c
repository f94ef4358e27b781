/*
 * String routines. The mem* ones use string instructions rather than loops,
 * because GCC may turn a byte loop back into a call to the very function it
 * implements; they move 8 bytes per iteration where they can, which matters
 * on hosts that emulate every guest instruction.
 */
#include "rt.h"

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
