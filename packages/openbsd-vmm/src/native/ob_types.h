/*
 * Fixed-width types from the compiler's own predefined macros, so that the
 * libc-only core needs no system header at all: it compiles identically against
 * every OpenBSD release from 7.4 and can be checked from any host with -nostdinc.
 */
#ifndef HVT_OB_TYPES_H
#define HVT_OB_TYPES_H

typedef __UINT8_TYPE__ ob_u8;
typedef __UINT16_TYPE__ ob_u16;
typedef __UINT32_TYPE__ ob_u32;
typedef __UINT64_TYPE__ ob_u64;
typedef __INT16_TYPE__ ob_i16;
typedef __INT32_TYPE__ ob_i32;
typedef __INT64_TYPE__ ob_i64;
typedef __SIZE_TYPE__ ob_size;

#ifdef __cplusplus
#define OB_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define OB_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

#define OB_OFFSETOF(type, field) __builtin_offsetof(type, field)

/* Every layout below is the amd64 (LP64) one. */
OB_STATIC_ASSERT(sizeof(void *) == 8, "amd64 (LP64) only");
OB_STATIC_ASSERT(sizeof(long) == 8, "amd64 (LP64) only");

#endif
