/*
 * What the libc-only BSD vmm cores share: fixed-width types from the
 * compiler's own predefined macros, so that a core needs no system header at
 * all (it compiles identically against every release and can be checked from
 * any host with -nostdinc), the assertion and offsetof helpers, and the
 * <sys/ioccom.h> command encoding (FreeBSD and OpenBSD alike).
 */
#ifndef HVT_BSD_TYPES_H
#define HVT_BSD_TYPES_H

typedef __UINT8_TYPE__ hvt_u8;
typedef __UINT16_TYPE__ hvt_u16;
typedef __UINT32_TYPE__ hvt_u32;
typedef __UINT64_TYPE__ hvt_u64;
typedef __INT16_TYPE__ hvt_i16;
typedef __INT32_TYPE__ hvt_i32;
typedef __INT64_TYPE__ hvt_i64;
typedef __SIZE_TYPE__ hvt_size;

#ifdef __cplusplus
#define HVT_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define HVT_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define HVT_OFFSETOF(type, field) __builtin_offsetof(type, field)

/* Every layout the cores use is the amd64 (LP64) one. */
HVT_STATIC_ASSERT(sizeof(void *) == 8, "amd64 (LP64) only");
HVT_STATIC_ASSERT(sizeof(long) == 8, "amd64 (LP64) only");

/* ioctl command encoding: direction, 13-bit argument size, group, number. */
#define HVT_IOC_VOID 0x20000000u
#define HVT_IOC_OUT 0x40000000u
#define HVT_IOC_IN 0x80000000u
#define HVT_IOC_INOUT (HVT_IOC_IN | HVT_IOC_OUT)
#define HVT_IOCPARM_MASK 0x1fffu
#define HVT_IOC(dir, group, nr, len)                                                       \
  ((hvt_u32)((dir) | (((hvt_u32)(len) & HVT_IOCPARM_MASK) << 16) | ((hvt_u32)(group) << 8) | \
             (hvt_u32)(nr)))

#endif
