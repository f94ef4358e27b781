/*
 * Big-endian 16-bit fields and the Internet checksum (RFC 1071), for the
 * guests' echo responder (netecho.c) and the host's flood verifier
 * (test/vm/echo-flood.c). Header-only; needs only <stdint.h> and <stddef.h>.
 */
#ifndef HVTJS_INET_H
#define HVTJS_INET_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t get16(const uint8_t *p)
{
  return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* The one's complement sum, complemented: 0 over a packet whose checksum is right. */
static inline uint16_t inet_checksum(const uint8_t *p, size_t len)
{
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2)
    sum += get16(p + i);
  if (len & 1)
    sum += (uint32_t)p[len - 1] << 8;
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

#endif
