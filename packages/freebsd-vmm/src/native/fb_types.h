/*
 * Fixed-width types from the compiler's own predefined macros, so that the
 * libc-only core needs no system header at all: it compiles identically against
 * every FreeBSD release and can be checked from any host with -nostdinc.
 */
#ifndef HVT_FB_TYPES_H
#define HVT_FB_TYPES_H

typedef __UINT8_TYPE__ fb_u8;
typedef __UINT16_TYPE__ fb_u16;
typedef __UINT32_TYPE__ fb_u32;
typedef __UINT64_TYPE__ fb_u64;
typedef __INT32_TYPE__ fb_i32;
typedef __INT64_TYPE__ fb_i64;
typedef __SIZE_TYPE__ fb_size;

#ifdef __cplusplus
#define FB_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define FB_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define FB_OFFSETOF(type, field) __builtin_offsetof(type, field)

/* Every layout below is the amd64 (LP64) one. */
FB_STATIC_ASSERT(sizeof(void *) == 8, "amd64 (LP64) only");
FB_STATIC_ASSERT(sizeof(long) == 8, "amd64 (LP64) only");

#endif
