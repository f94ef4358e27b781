/*
 * The hvt guest ABI as seen from the guest: boot info, manifest and hypercall
 * argument structs (docs/guest-abi.md sections 4.4, 7, 8, 9). Fields the tender
 * writes are volatile so the compiler re-reads them after the OUT or store
 * that performs the hypercall.
 */
#ifndef HVT_ABI_H
#define HVT_ABI_H

#include <stddef.h>
#include <stdint.h>

#define HVT_BOOT_INFO_GPA 0x10000UL
#define HVT_GUEST_MIN_BASE 0x100000UL
/* Hypercall nr: x86_64 an OUT to port BASE + nr, aarch64 a store to BASE + (nr << 3). */
#define HVT_HYPERCALL_PIO_BASE 0x500
#define HVT_HYPERCALL_MMIO_BASE 0x100000000UL
#define HVT_HALT_COOKIE_MAX 512

enum hvt_hypercall_nr {
  HVT_HYPERCALL_WALLTIME = 1,
  HVT_HYPERCALL_PUTS = 2,
  HVT_HYPERCALL_POLL = 3,
  HVT_HYPERCALL_BLOCK_WRITE = 4,
  HVT_HYPERCALL_BLOCK_READ = 5,
  HVT_HYPERCALL_NET_WRITE = 6,
  HVT_HYPERCALL_NET_READ = 7,
  HVT_HYPERCALL_HALT = 8,
  HVT_HYPERCALL_MAX = 9,
};

/* solo5_result_t values the tender writes into the ret fields. */
enum hvt_result {
  HVT_R_OK = 0,
  HVT_R_AGAIN = 1,
  HVT_R_EINVAL = 2,
  HVT_R_EUNSPEC = 3,
};

struct hvt_boot_info {
  uint64_t mem_size;
  uint64_t kernel_end;
  uint64_t cpu_cycle_freq;
  uint64_t cmdline;
  uint64_t mft;
  uint32_t host_features;
  uint32_t guest_features;
  uint64_t net_ring;
};

struct hvt_hc_walltime {
  volatile uint64_t nsecs;
};

struct hvt_hc_puts {
  uint64_t data;
  uint64_t len;
};

struct hvt_hc_poll {
  uint64_t timeout_nsecs;
  volatile uint64_t ready_set;
  volatile int32_t ret;
};

/* BLOCK_WRITE and BLOCK_READ share one layout. */
struct hvt_hc_block_io {
  uint64_t handle;
  uint64_t offset;
  uint64_t data;
  uint64_t len;
  volatile int32_t ret;
};

struct hvt_hc_net_write {
  uint64_t handle;
  uint64_t data;
  uint64_t len;
  volatile int32_t ret;
};

struct hvt_hc_net_read {
  uint64_t handle;
  uint64_t data;
  volatile uint64_t len;
  volatile int32_t ret;
};

struct hvt_hc_halt {
  uint64_t cookie;
  int32_t exit_status;
};

/* What an x86_64 guest's HALT cookie points at when it dies of a trap (8.8). */
struct trap_regs {
  uint64_t cr2;
  uint64_t ec;
  uint64_t rip;
  uint64_t cs;
  uint64_t rflags;
  uint64_t rsp;
  uint64_t ss;
};

/* What an aarch64 test guest's HALT cookie points at when it dies of a trap. */
struct trap_regs_aarch64 {
  uint64_t far;
  uint64_t esr;
  uint64_t elr;
  uint64_t spsr;
  uint64_t sp;
};

/* Ring I/O for networking (docs/guest-abi.md 10). */
#define HVT_FEATURE_RING_IO 1U
#define HVT_RING_ENTRIES 1024U
#define HVT_RING_MASK (HVT_RING_ENTRIES - 1)
/* Per-slot guest buffer for writes; longer frames go by hypercall. */
#define HVT_RING_BUF_SIZE 2048U
#define HVT_RING_KICK_PIO_BASE 0x600
#define HVT_RING_KICK_MMIO_BASE 0x100000100UL
#define HVT_RING_OP_NET_WRITE 1U
#define HVT_RING_OP_NET_READ 2U

struct hvt_ring_entry {
  uint32_t operation;
  uint32_t handle;
  uint64_t data;
  uint32_t len;
  uint32_t id;
  uint64_t reserved;
};

struct hvt_ring_commit {
  uint32_t id;
  int32_t ret;
  uint32_t len;
  uint32_t reserved;
};

/*
 * Cache line 0 is the guest's (ent_tail, com_head), line 1 the host's. Every
 * field is volatile: the other side changes them while we run.
 */
struct hvt_ring {
  volatile uint32_t ent_tail;
  volatile uint32_t com_head;
  uint8_t pad0[56];
  volatile uint32_t ent_head;
  volatile uint32_t com_tail;
  volatile uint32_t needs_kick;
  uint8_t pad1[52];
  volatile struct hvt_ring_entry entries[HVT_RING_ENTRIES];
  volatile struct hvt_ring_commit commits[HVT_RING_ENTRIES];
};

#define MFT_VERSION 1
#define MFT_MAX_ENTRIES 64
#define MFT_NAME_SIZE 68
#define MFT_DEV_BLOCK_BASIC 1U
#define MFT_DEV_NET_BASIC 2U
#define MFT_RESERVED_FIRST 0x40000000U

struct mft_entry {
  char name[MFT_NAME_SIZE];
  uint32_t type;
  union {
    struct {
      uint64_t capacity;
      uint16_t block_size;
    } block_basic;
    struct {
      uint8_t mac[6];
      uint16_t mtu;
    } net_basic;
  } u;
  uint64_t backing;
  uint8_t attached;
  uint8_t pad[7];
};

struct mft {
  uint32_t version;
  uint32_t entries;
  struct mft_entry e[];
};

/* The layouts are the ABI: a silent change would break every tender test. */
_Static_assert(sizeof(struct hvt_boot_info) == 56, "boot info size");
_Static_assert(offsetof(struct hvt_boot_info, net_ring) == 48, "boot info net_ring");
_Static_assert(sizeof(struct hvt_hc_walltime) == 8, "walltime size");
_Static_assert(sizeof(struct hvt_hc_puts) == 16, "puts size");
_Static_assert(sizeof(struct hvt_hc_poll) == 24, "poll size");
_Static_assert(offsetof(struct hvt_hc_poll, ret) == 16, "poll ret");
_Static_assert(sizeof(struct hvt_hc_block_io) == 40, "block io size");
_Static_assert(offsetof(struct hvt_hc_block_io, ret) == 32, "block io ret");
_Static_assert(sizeof(struct hvt_hc_net_write) == 32, "net write size");
_Static_assert(sizeof(struct hvt_hc_net_read) == 32, "net read size");
_Static_assert(offsetof(struct hvt_hc_net_read, ret) == 24, "net read ret");
_Static_assert(sizeof(struct hvt_hc_halt) == 16, "halt size");
_Static_assert(sizeof(struct trap_regs) == 56, "trap frame size");
_Static_assert(sizeof(struct trap_regs_aarch64) == 40, "aarch64 trap frame size");
_Static_assert(sizeof(struct mft_entry) == 104, "mft entry size");
_Static_assert(offsetof(struct mft_entry, type) == 68, "mft entry type");
_Static_assert(offsetof(struct mft_entry, u) == 72, "mft entry union");
_Static_assert(offsetof(struct mft_entry, backing) == 88, "mft entry backing");
_Static_assert(offsetof(struct mft_entry, attached) == 96, "mft entry attached");
_Static_assert(sizeof(struct mft) == 8, "mft header size");
_Static_assert(sizeof(struct hvt_ring_entry) == 32, "ring entry size");
_Static_assert(sizeof(struct hvt_ring_commit) == 16, "ring commit size");
_Static_assert(offsetof(struct hvt_ring, ent_head) == 64, "ring host line");
_Static_assert(offsetof(struct hvt_ring, entries) == 128, "ring entries");
_Static_assert(offsetof(struct hvt_ring, commits) == 32896, "ring commits");
_Static_assert(sizeof(struct hvt_ring) == 49280, "ring size");

/* hvt_hypercall_gpa(nr, gpa), the transport: per architecture, <arch>/hvt_arch.h. */
#include "hvt_arch.h"

static inline void hvt_hypercall(unsigned nr, volatile void *arg)
{
  hvt_hypercall_gpa(nr, (uint32_t)(uintptr_t)arg);
}

#endif
