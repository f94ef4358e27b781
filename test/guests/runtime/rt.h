/*
 * The test-guest runtime: what a guest program in test/guests/ may call.
 * A guest defines guest_main(); the runtime boots the CPU tables, parses the
 * boot info and halts with guest_main's return value.
 */
#ifndef RT_H
#define RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hvt_abi.h"

#define RT_EXIT_SUCCESS 0
#define RT_EXIT_FAILURE 1
/* Status of abort and of a fatal CPU exception, as the Solo5 bindings use. */
#define RT_EXIT_ABORT 255

/* Application entry; `cmdline` has the leading --solo5: options removed. */
int guest_main(const char *cmdline);

/* Per architecture (<arch>/cpu.c): exception handling set up, before anything
 * can fault; the CPU stopped for good (HLT / WFI with interrupts off). */
void rt_cpu_init(void);
__attribute__((noreturn)) void rt_cpu_stop(void);

/* Boot info, as the tender wrote it. */
const struct hvt_boot_info *rt_boot_info(void);
uint64_t rt_mem_size(void);
uint64_t rt_cpu_cycle_freq(void);
const char *rt_cmdline(void);
const struct mft *rt_manifest(void);

/* Linker-script symbols describing the image. */
extern char __image_start[], __text_end[], __rodata_start[], __rodata_end[];
extern char __data_start[], __data_end[], __bss_start[], _end[];

enum rt_log_level {
  RT_LOG_QUIET = 0,
  RT_LOG_ERROR = 1,
  RT_LOG_WARN = 2,
  RT_LOG_INFO = 3,
  RT_LOG_DEBUG = 4,
};
extern enum rt_log_level rt_log_level;

/* Console: every call is one PUTS unless the text exceeds the format buffer. */
void rt_puts(const char *s);
void rt_write(const char *buf, size_t len);
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vprintf(const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
/* A "Solo5: "-prefixed line, printed only at or above the given verbosity. */
void rt_log(enum rt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hypercall wrappers; they pass arguments through unchecked on purpose. */
uint64_t rt_walltime(void);
int rt_poll(uint64_t timeout_ns, uint64_t *ready_set);
int rt_block_write(uint64_t handle, uint64_t offset, const void *buf, uint64_t len);
int rt_block_read(uint64_t handle, uint64_t offset, void *buf, uint64_t len);
int rt_net_write(uint64_t handle, const void *buf, uint64_t len);
int rt_net_read(uint64_t handle, void *buf, uint64_t size, uint64_t *len);
__attribute__((noreturn)) void rt_halt(int status, const void *cookie);
__attribute__((noreturn)) void rt_abort_at(const char *file, int line, const char *msg);
#define rt_abort(msg) rt_abort_at(__FILE__, __LINE__, (msg))
#define RT_ASSERT(cond)                                                                  \
  do {                                                                                   \
    if (!(cond))                                                                         \
      rt_abort_at(__FILE__, __LINE__, "Assertion failure: " #cond);                      \
  } while (0)

/*
 * Ring I/O (docs/guest-abi.md 10.4). rt_ring() is the ring the tender offered (both
 * the feature bit and net_ring set), or NULL. The rt_ring_net_* calls follow
 * the Solo5 bindings: a write copies the frame into its slot's buffer and
 * returns at once (frames over HVT_RING_BUF_SIZE go by hypercall); a read,
 * made only after POLL said the device is ready, waits for its completion.
 */
struct hvt_ring *rt_ring(void);
void rt_ring_kick(void);
/* The store->load fence of the needs_kick handshake (a locked instruction). */
void rt_full_barrier(void);
int rt_ring_net_write(uint64_t handle, const void *buf, uint64_t len);
int rt_ring_net_read(uint64_t handle, void *buf, uint64_t size, uint64_t *len);
/* Waits until the host has taken every submitted entry (no-op without a ring). */
void rt_ring_drain(void);

/* Monotonic nanoseconds since boot, from the cycle counter (x86_64: TSC,
 * aarch64: the generic timer's virtual count) and cpu_cycle_freq. */
uint64_t rt_clock_ns(void);
uint64_t rt_cycles(void);

/* Manifest devices. */
struct rt_device {
  int handle;
  uint32_t type;
  uint64_t capacity;
  uint16_t block_size;
  uint8_t mac[6];
  uint16_t mtu;
};
enum {
  RT_DEV_OK = 0,
  RT_DEV_NOT_FOUND = -1,
  RT_DEV_NOT_ATTACHED = -2,
};
/* Returns the handle (manifest index) or RT_DEV_NOT_FOUND / RT_DEV_NOT_ATTACHED. */
int rt_device_lookup(const char *name, uint32_t type, struct rt_device *out);
/* As rt_device_lookup, but aborts with a message naming the device on failure. */
int rt_device_require(const char *name, uint32_t type, struct rt_device *out);

/* Freestanding string functions (the compiler may also call the mem* ones). */
void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/*
 * Command-line arguments are space-separated `key=value` words, looked up
 * anywhere in the application's part of the command line.
 */
const char *rt_arg(const char *cmdline, const char *key, size_t *value_len);
bool rt_arg_str(const char *cmdline, const char *key, char *out, size_t out_size);
/* Parses decimal or 0x-hex; a malformed value aborts. */
uint64_t rt_arg_u64(const char *cmdline, const char *key, uint64_t dflt);
/* Parses a.b.c.d; a malformed value aborts. */
void rt_arg_ipv4(const char *cmdline, const char *key, const uint8_t dflt[4], uint8_t out[4]);
bool rt_parse_u64(const char *s, size_t len, uint64_t *out);

#endif
