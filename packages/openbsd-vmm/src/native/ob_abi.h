/*
 * OpenBSD vmm(4)'s structs as the kernel sees them on amd64, per release,
 * written from docs/bsd-vmm.md section 2 instead of taken from
 * <dev/vmm/vmm.h> and <machine/vmmvar.h>: OpenBSD keeps no binary
 * compatibility for these ioctls, and this addon picks the release's layout at
 * run time. The numbers (sizes, offsets, command numbers, what changed when)
 * are written once, in src/abi.ts; ob_abi_gen.h, generated from it, asserts
 * every struct here against them and carries the release table.
 */
#ifndef HVT_OB_ABI_H
#define HVT_OB_ABI_H

#include "hvt/bsd_types.h"

#define OB_MAX_MEM_RANGES 16
#define OB_MAX_NAME_LEN 64

/* ---- VMM_IOC_CREATE: struct vm_create_params ---- */

struct ob_vm_mem_range {
  hvt_u64 gpa;
  /* 7.7 and older: our mapping of the range; 7.8+: written back by the kernel. */
  hvt_u64 va;
  hvt_u64 size;
  hvt_i32 type;
};
#define OB_VM_MEM_RAM 0

/* The part every release shares. */
struct ob_vcp_head {
  hvt_u64 nmemranges;
  hvt_u64 ncpus;
  struct ob_vm_mem_range memranges[OB_MAX_MEM_RANGES];
  char name[OB_MAX_NAME_LEN];
};

/* 7.4 and 7.5 */
struct ob_vcp_74 {
  struct ob_vcp_head h;
  hvt_u32 id;
};

/* 7.6 and 7.7: SEV fields */
struct ob_vcp_76 {
  struct ob_vcp_head h;
  hvt_i32 sev;
  hvt_u32 id;
  hvt_u32 poscbit;
  hvt_u32 asid[512];
};

/* 7.8 and later: SEV-ES moves the id */
struct ob_vcp_78 {
  struct ob_vcp_head h;
  hvt_i32 sev;
  hvt_i32 seves;
  hvt_u32 id;
  hvt_u32 poscbit;
  hvt_u32 asid[512];
};

/* ---- register state ---- */

struct ob_segment_info {
  hvt_u16 sel;
  hvt_u32 limit;
  hvt_u32 ar;
  hvt_u64 base;
};

struct ob_vcpu_reg_state {
  hvt_u64 gprs[18];
  hvt_u64 crs[10];
  hvt_u64 msrs[7];
  hvt_u64 drs[6];
  struct ob_segment_info sregs[8];
  struct ob_segment_info gdtr;
  struct ob_segment_info idtr;
};

/* GPR indices (every release) */
#define OB_REG_RAX 0
#define OB_REG_RIP 16
#define OB_REG_RFLAGS 17

struct ob_resetcpu_params {
  hvt_u32 vm_id;
  hvt_u32 vcpu_id;
  struct ob_vcpu_reg_state state;
};

struct ob_rwregs_params {
  hvt_u32 vm_id;
  hvt_u32 vcpu_id;
  hvt_u64 mask;
  struct ob_vcpu_reg_state regs;
};
#define OB_RWREGS_ALL 0x1f

struct ob_terminate_params {
  hvt_u32 vm_id;
};

/* ---- VMM_IOC_RUN: the exit and struct vm_run_params ---- */

struct ob_exit_inout {
  hvt_u8 size;
  hvt_u8 dir;
  hvt_u8 rep;
  hvt_u8 string;
  hvt_u8 encoding;
  hvt_u16 port;
  hvt_u32 data;
  /* 7.5+ only */
  hvt_u8 insn_len;
};
#define OB_VEI_DIR_OUT 0
#define OB_VEI_DIR_IN 1

struct ob_exit_eptviolation {
  hvt_u8 fault_type;
  hvt_u8 insn_info;
  hvt_u8 insn_len;
  hvt_u8 insn_bytes[15];
};
HVT_STATIC_ASSERT(sizeof(struct ob_exit_eptviolation) == 18, "vm_exit_eptviolation is 18 bytes");

struct ob_vm_exit {
  union {
    struct ob_exit_inout vei;
    struct ob_exit_eptviolation vee;
  } u;
  struct ob_vcpu_reg_state vrs;
  hvt_i32 cpl;
};

/* 7.4 and 7.5 */
struct ob_vrp_74 {
  hvt_u32 vm_id;
  hvt_u32 vcpu_id;
  hvt_u8 cont;
  hvt_u16 irq;
  hvt_u8 intr_pending;
  struct ob_vm_exit *exit;
  hvt_u16 exit_reason;
  hvt_u8 irqready;
};

struct ob_inject_event {
  hvt_u8 vector;
  hvt_u32 errorcode;
  hvt_u8 type;
};
#define OB_INJECT_NONE 0

/* 7.6 and later */
struct ob_vrp_76 {
  hvt_u32 vm_id;
  hvt_u32 vcpu_id;
  struct ob_inject_event inject;
  hvt_u8 intr_pending;
  struct ob_vm_exit *exit;
  hvt_u16 exit_reason;
  hvt_u8 irqready;
};

/*
 * Host networking (not vmm): struct ifreq is 32 bytes on amd64;
 * SIOCGIFFLAGS = _IOWR('i', 17, ifreq), SIOCGIFMTU = _IOWR('i', 126, ifreq).
 */
#define OB_IFNAMSIZ 16
struct ob_ifreq {
  char name[OB_IFNAMSIZ];
  union {
    hvt_i16 flags;
    hvt_i32 mtu;
    hvt_u8 bytes[16];
  } u;
};
#define OB_IFF_UP 0x1

/* The numbers: generated from src/abi.ts. */
#include "ob_abi_gen.h"

#endif
