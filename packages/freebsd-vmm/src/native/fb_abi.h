/*
 * FreeBSD vmm(4)'s structs as the kernel sees them on amd64, written from the
 * tables in docs/bsd-vmm.md (section 1) instead of taken from
 * <machine/vmm_dev.h>: the headers of one release describe only that release,
 * and this addon picks the 13.x, 14.x or 15.x layout at run time from
 * kern.osreldate. The numbers (sizes, offsets, command numbers, constants) are
 * written once, in src/abi.ts; fb_abi_gen.h, generated from it, asserts every
 * struct here against them, so a typo fails the build (and `clang
 * -fsyntax-only` from any host).
 */
#ifndef HVT_FB_ABI_H
#define HVT_FB_ABI_H

#include "hvt/bsd_types.h"

/* 13+: SPECNAMELEN(255) - 10 - 15 - 1. */
#define FB_VM_MAX_NAMELEN 229

/* ---- struct vm_exit (136 bytes in 13, 14 and 15) ---- */

struct fb_vm_inout {
  /* bits 0-2: bytes (1/2/4), bit 3: in, bit 4: string, bit 5: rep */
  hvt_u16 flags;
  hvt_u16 port;
  hvt_u32 eax;
};

struct fb_vm_exit_vmx {
  hvt_i32 status;
  hvt_u32 exit_reason;
  hvt_u64 exit_qualification;
  hvt_i32 inst_type;
  hvt_i32 inst_error;
};

struct fb_vm_exit_svm {
  hvt_u64 exitcode;
  hvt_u64 exitinfo1;
  hvt_u64 exitinfo2;
};

struct fb_vm_exit {
  hvt_i32 exitcode;
  hvt_i32 inst_length;
  hvt_u64 rip;
  union {
    struct fb_vm_inout inout;
    struct fb_vm_exit_vmx vmx;
    struct fb_vm_exit_svm svm;
    struct {
      hvt_i32 how;
    } suspended;
    hvt_u64 words[15];
  } u;
};

#define FB_INOUT_BYTES(flags) ((flags) & 0x7u)
#define FB_INOUT_IN(flags) (((flags) >> 3) & 1u)
#define FB_INOUT_STRING(flags) (((flags) >> 4) & 1u)
#define FB_INOUT_REP(flags) (((flags) >> 5) & 1u)

/* ---- struct vm_run ---- */

/* 13.x: the exit is embedded and filled in place. */
struct fb_vm_run_13 {
  hvt_i32 cpuid;
  struct fb_vm_exit vm_exit;
};

/* 14.x and later: pointers; the kernel copies the exit out to *vm_exit. */
struct fb_vm_run_14 {
  hvt_i32 cpuid;
  void *cpuset;
  hvt_size cpusetsize;
  struct fb_vm_exit *vm_exit;
};

/* ---- struct vm_memseg ---- */

struct fb_vm_memseg_14 {
  hvt_i32 segid;
  hvt_size len;
  char name[16];
};

struct fb_vm_memseg_15 {
  hvt_i32 segid;
  hvt_size len;
  char name[16];
  void *ds_mask;
  hvt_size ds_mask_size;
  hvt_i32 ds_policy;
};

/* ---- the other argument structs ---- */

struct fb_vm_memmap {
  hvt_u64 gpa;
  hvt_i32 segid;
  hvt_u64 segoff;
  hvt_size len;
  hvt_i32 prot;
  hvt_i32 flags;
};

struct fb_vm_register {
  hvt_i32 cpuid;
  hvt_i32 regnum;
  hvt_u64 regval;
};

struct fb_seg_desc {
  hvt_u64 base;
  hvt_u32 limit;
  hvt_u32 access;
};
struct fb_vm_seg_desc {
  hvt_i32 cpuid;
  hvt_i32 regnum;
  struct fb_seg_desc desc;
};

struct fb_vm_capability {
  hvt_i32 cpuid;
  hvt_i32 captype;
  hvt_i32 capval;
  hvt_i32 allcpus;
};

struct fb_vm_activate_cpu {
  hvt_i32 vcpuid;
};

struct fb_vm_suspend {
  hvt_i32 how;
};

/* 15+: /dev/vmmctl. reserved[] must be zero (main later made [0] a flags word). */
struct fb_vmmctl_vm_create {
  char name[FB_VM_MAX_NAMELEN + 1];
  hvt_i32 reserved[16];
};

/* ---- constants ---- */

/* enum vm_cap_type */
#define FB_VM_CAP_HALT_EXIT 0
/* System memory is segment 0 in every release. */
#define FB_VM_SYSMEM 0

/*
 * Host networking (not vmm): struct ifreq is 32 bytes on amd64, the name first
 * and the MTU at the start of the union; SIOCGIFMTU = _IOWR('i', 51, ifreq).
 */
#define FB_IFNAMSIZ 16
struct fb_ifreq {
  char name[FB_IFNAMSIZ];
  union {
    hvt_i32 mtu;
    hvt_u8 bytes[16];
  } u;
};

/*
 * Capsicum rights (<sys/capsicum.h>): a version-0 cap_rights_t is two words;
 * bits 57+idx of each right say which word it belongs to, and an empty set
 * has just those index bits.
 */
#define FB_CAPRIGHT(idx, bit) ((1ULL << (57 + (idx))) | (bit))
/* The rights themselves (FB_CAP_READ, ...) are generated from src/capsicum.ts. */

/* The numbers: generated from src/abi.ts. */
#include "fb_abi_gen.h"

#endif
