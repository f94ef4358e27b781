/*
 * OpenBSD vmm(4) as the kernel sees it on amd64, per release, written from
 * shared/bsd-vmm-abi.md section 2 instead of taken from <dev/vmm/vmm.h> and
 * <machine/vmmvar.h>: OpenBSD keeps no binary compatibility for these ioctls,
 * and this addon picks the release's layout at run time from kern.osrelease.
 * Every size, offset and command number the document gives is asserted below.
 *
 * The TypeScript side keeps the same tables (src/abi.ts); test/native-tables
 * compiles this header for the test host and compares the two.
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
HVT_STATIC_ASSERT(sizeof(struct ob_vm_mem_range) == 32, "vm_mem_range is 32 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_mem_range, va) == 8, "vmr_va @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_mem_range, size) == 16, "vmr_size @16");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_mem_range, type) == 24, "vmr_type @24");
#define OB_VM_MEM_RAM 0

/* The part every release shares. */
struct ob_vcp_head {
  hvt_u64 nmemranges;
  hvt_u64 ncpus;
  struct ob_vm_mem_range memranges[OB_MAX_MEM_RANGES];
  char name[OB_MAX_NAME_LEN];
};
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_head, ncpus) == 8, "vcp_ncpus @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_head, memranges) == 16, "vcp_memranges @16");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_head, name) == 528, "vcp_name @528");

/* 7.4 and 7.5 */
struct ob_vcp_74 {
  struct ob_vcp_head h;
  hvt_u32 id;
};
HVT_STATIC_ASSERT(sizeof(struct ob_vcp_74) == 600, "vm_create_params (7.4-7.5) is 600 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_74, id) == 592, "vcp_id (7.4-7.5) @592");

/* 7.6 and 7.7: SEV fields */
struct ob_vcp_76 {
  struct ob_vcp_head h;
  hvt_i32 sev;
  hvt_u32 id;
  hvt_u32 poscbit;
  hvt_u32 asid[512];
};
HVT_STATIC_ASSERT(sizeof(struct ob_vcp_76) == 2656, "vm_create_params (7.6-7.7) is 2656 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, sev) == 592, "vcp_sev @592");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, id) == 596, "vcp_id (7.6-7.7) @596");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, poscbit) == 600, "vcp_poscbit (7.6-7.7) @600");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, asid) == 604, "vcp_asid (7.6-7.7) @604");

/* 7.8 and later: SEV-ES moves the id */
struct ob_vcp_78 {
  struct ob_vcp_head h;
  hvt_i32 sev;
  hvt_i32 seves;
  hvt_u32 id;
  hvt_u32 poscbit;
  hvt_u32 asid[512];
};
HVT_STATIC_ASSERT(sizeof(struct ob_vcp_78) == 2656, "vm_create_params (7.8+) is 2656 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, seves) == 596, "vcp_seves @596");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, id) == 600, "vcp_id (7.8+) @600");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, poscbit) == 604, "vcp_poscbit (7.8+) @604");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, asid) == 608, "vcp_asid (7.8+) @608");

/* ---- register state ---- */

struct ob_segment_info {
  hvt_u16 sel;
  hvt_u32 limit;
  hvt_u32 ar;
  hvt_u64 base;
};
HVT_STATIC_ASSERT(sizeof(struct ob_segment_info) == 24, "vcpu_segment_info is 24 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_segment_info, limit) == 4, "vsi_limit @4");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_segment_info, ar) == 8, "vsi_ar @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_segment_info, base) == 16, "vsi_base @16");

struct ob_vcpu_reg_state {
  hvt_u64 gprs[18];
  hvt_u64 crs[10];
  hvt_u64 msrs[7];
  hvt_u64 drs[6];
  struct ob_segment_info sregs[8];
  struct ob_segment_info gdtr;
  struct ob_segment_info idtr;
};
HVT_STATIC_ASSERT(sizeof(struct ob_vcpu_reg_state) == 568, "vcpu_reg_state is 568 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, crs) == 144, "vrs_crs @144");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, msrs) == 224, "vrs_msrs @224");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, drs) == 280, "vrs_drs @280");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, sregs) == 328, "vrs_sregs @328");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, gdtr) == 520, "vrs_gdtr @520");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, idtr) == 544, "vrs_idtr @544");

/* GPR indices (every release) */
#define OB_REG_RAX 0
#define OB_REG_RIP 16
#define OB_REG_RFLAGS 17

struct ob_resetcpu_params {
  hvt_u32 vm_id;
  hvt_u32 vcpu_id;
  struct ob_vcpu_reg_state state;
};
HVT_STATIC_ASSERT(sizeof(struct ob_resetcpu_params) == 576, "vm_resetcpu_params is 576 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_resetcpu_params, state) == 8, "vrp_init_state @8");

struct ob_rwregs_params {
  hvt_u32 vm_id;
  hvt_u32 vcpu_id;
  hvt_u64 mask;
  struct ob_vcpu_reg_state regs;
};
HVT_STATIC_ASSERT(sizeof(struct ob_rwregs_params) == 584, "vm_rwregs_params is 584 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_rwregs_params, mask) == 8, "vrwp_mask @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_rwregs_params, regs) == 16, "vrwp_regs @16");
#define OB_RWREGS_ALL 0x1f

struct ob_terminate_params {
  hvt_u32 vm_id;
};
HVT_STATIC_ASSERT(sizeof(struct ob_terminate_params) == 4, "vm_terminate_params is 4 bytes");

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
HVT_STATIC_ASSERT(sizeof(struct ob_exit_inout) == 16, "vm_exit_inout (7.5+) is 16 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, port) == 6, "vei_port @6");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, data) == 8, "vei_data @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, insn_len) == 12, "vei_insn_len @12");
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
HVT_STATIC_ASSERT(sizeof(struct ob_vm_exit) == 600, "vm_exit is 600 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_exit, vrs) == 24, "vm_exit.vrs @24");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_exit, cpl) == 592, "vm_exit.cpl @592");

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
HVT_STATIC_ASSERT(sizeof(struct ob_vrp_74) == 32, "vm_run_params (7.4-7.5) is 32 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, cont) == 8, "vrp_continue @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, irq) == 10, "vrp_irq @10");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, intr_pending) == 12, "vrp_intr_pending (7.4-7.5) @12");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, exit) == 16, "vrp_exit (7.4-7.5) @16");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, exit_reason) == 24, "vrp_exit_reason (7.4-7.5) @24");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, irqready) == 26, "vrp_irqready (7.4-7.5) @26");

struct ob_inject_event {
  hvt_u8 vector;
  hvt_u32 errorcode;
  hvt_u8 type;
};
HVT_STATIC_ASSERT(sizeof(struct ob_inject_event) == 12, "vcpu_inject_event is 12 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_inject_event, errorcode) == 4, "vie_errorcode @4");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_inject_event, type) == 8, "vie_type @8");
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
HVT_STATIC_ASSERT(sizeof(struct ob_vrp_76) == 40, "vm_run_params (7.6+) is 40 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, inject) == 8, "vrp_inject @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, intr_pending) == 20, "vrp_intr_pending (7.6+) @20");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, exit) == 24, "vrp_exit (7.6+) @24");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, exit_reason) == 32, "vrp_exit_reason (7.6+) @32");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, irqready) == 34, "vrp_irqready (7.6+) @34");

/* Both layouts keep the vCPU id at 4: the signal handler poisons it there. */
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, vcpu_id) == 4, "vrp_vcpu_id @4");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, vcpu_id) == 4, "vrp_vcpu_id @4");

/* ---- exit reasons (2.4) ---- */

#define OB_VM_EXIT_NONE 0xffff
#define OB_VM_EXIT_TERMINATED 0xfffe
#define OB_VMX_EXIT_TRIPLE_FAULT 2
#define OB_VMX_EXIT_HLT 12
#define OB_VMX_EXIT_IO 30
#define OB_VMX_EXIT_EPT_VIOLATION 48
#define OB_SVM_VMEXIT_HLT 0x78
#define OB_SVM_VMEXIT_IOIO 0x7b
#define OB_SVM_VMEXIT_SHUTDOWN 0x7f
#define OB_SVM_VMEXIT_NPF 0x400

/* ---- the commands, per release ---- */

enum ob_ioctl {
  OB_VMM_IOC_CREATE,
  OB_VMM_IOC_RUN,
  OB_VMM_IOC_INFO,
  OB_VMM_IOC_TERM,
  OB_VMM_IOC_RESETCPU,
  OB_VMM_IOC_INTR,
  OB_VMM_IOC_READREGS,
  OB_VMM_IOC_WRITEREGS,
  OB_VMM_IOC_SHAREMEM,
  OB_VMM_IOC_MPROTECT_EPT,
  OB_IOCTL_COUNT
};

/* Argument sizes of the commands the tender never issues. */
#define OB_INFO_PARAMS_SIZE 24
#define OB_INTR_PARAMS_SIZE 12
#define OB_SHAREMEM_PARAMS_SIZE_74 528
#define OB_SHAREMEM_PARAMS_SIZE_78 656
#define OB_MPROTECT_EPT_PARAMS_SIZE 32

#define OB_V(dir, nr, size) HVT_IOC(dir, 'V', nr, size)
#define OB_REQ_CREATE_74 OB_V(HVT_IOC_INOUT, 1, sizeof(struct ob_vcp_74))
#define OB_REQ_CREATE_76 OB_V(HVT_IOC_INOUT, 1, sizeof(struct ob_vcp_76))
#define OB_REQ_CREATE_78 OB_V(HVT_IOC_INOUT, 1, sizeof(struct ob_vcp_78))
#define OB_REQ_RUN_74 OB_V(HVT_IOC_INOUT, 2, sizeof(struct ob_vrp_74))
#define OB_REQ_RUN_76 OB_V(HVT_IOC_INOUT, 2, sizeof(struct ob_vrp_76))
#define OB_REQ_INFO OB_V(HVT_IOC_INOUT, 3, OB_INFO_PARAMS_SIZE)
#define OB_REQ_TERM OB_V(HVT_IOC_IN, 4, sizeof(struct ob_terminate_params))
#define OB_REQ_RESETCPU OB_V(HVT_IOC_IN, 5, sizeof(struct ob_resetcpu_params))
#define OB_REQ_INTR OB_V(HVT_IOC_IN, 6, OB_INTR_PARAMS_SIZE)
#define OB_REQ_READREGS OB_V(HVT_IOC_INOUT, 7, sizeof(struct ob_rwregs_params))
#define OB_REQ_WRITEREGS OB_V(HVT_IOC_IN, 8, sizeof(struct ob_rwregs_params))
#define OB_REQ_SHAREMEM_74 OB_V(HVT_IOC_IN, 11, OB_SHAREMEM_PARAMS_SIZE_74)
#define OB_REQ_SHAREMEM_78 OB_V(HVT_IOC_INOUT, 11, OB_SHAREMEM_PARAMS_SIZE_78)
#define OB_REQ_MPROTECT_EPT OB_V(HVT_IOC_IN, 11, OB_MPROTECT_EPT_PARAMS_SIZE)

/* The numbers of bsd-vmm-abi.md 2.6, checked against the encoding. */
HVT_STATIC_ASSERT(OB_REQ_CREATE_74 == 0xc2585601u, "VMM_IOC_CREATE (7.4-7.5)");
HVT_STATIC_ASSERT(OB_REQ_CREATE_76 == 0xca605601u, "VMM_IOC_CREATE (7.6-7.7)");
HVT_STATIC_ASSERT(OB_REQ_CREATE_78 == 0xca605601u, "VMM_IOC_CREATE (7.8+)");
HVT_STATIC_ASSERT(OB_REQ_RUN_74 == 0xc0205602u, "VMM_IOC_RUN (7.4-7.5)");
HVT_STATIC_ASSERT(OB_REQ_RUN_76 == 0xc0285602u, "VMM_IOC_RUN (7.6+)");
HVT_STATIC_ASSERT(OB_REQ_INFO == 0xc0185603u, "VMM_IOC_INFO");
HVT_STATIC_ASSERT(OB_REQ_TERM == 0x80045604u, "VMM_IOC_TERM");
HVT_STATIC_ASSERT(OB_REQ_RESETCPU == 0x82405605u, "VMM_IOC_RESETCPU");
HVT_STATIC_ASSERT(OB_REQ_INTR == 0x800c5606u, "VMM_IOC_INTR");
HVT_STATIC_ASSERT(OB_REQ_READREGS == 0xc2485607u, "VMM_IOC_READREGS");
HVT_STATIC_ASSERT(OB_REQ_WRITEREGS == 0x82485608u, "VMM_IOC_WRITEREGS");
HVT_STATIC_ASSERT(OB_REQ_SHAREMEM_74 == 0x8210560bu, "VMM_IOC_SHAREMEM (7.4-7.7)");
HVT_STATIC_ASSERT(OB_REQ_SHAREMEM_78 == 0xc290560bu, "VMM_IOC_SHAREMEM (7.8+)");
HVT_STATIC_ASSERT(OB_REQ_MPROTECT_EPT == 0x8020560bu, "VMM_IOC_MPROTECT_EPT (7.4-7.5)");

/* How a release differs (2.1). */
struct ob_release_abi {
  const char *release;
  /* The OpenBSD macro of <sys/param.h> for the release. */
  hvt_i32 osrev;
  /* 74, 76 or 78: which struct vm_create_params */
  hvt_u8 create_layout;
  /* 74 or 76: which struct vm_run_params */
  hvt_u8 run_layout;
  /* ES, CS, SS, DS, FS, GS (7.5+) instead of CS, DS, ES, FS, GS, SS */
  hvt_u8 new_segment_order;
  /* The tender adds vei_insn_len to RIP after an I/O exit (7.5+). */
  hvt_u8 userland_rip_advance;
  /* vmm allocates guest memory and maps it into the creator (7.8+). */
  hvt_u8 kernel_memory;
  hvt_u32 request[OB_IOCTL_COUNT];
};

#define OB_RELEASE_COUNT 6
static const struct ob_release_abi ob_releases[OB_RELEASE_COUNT] = {
    {"7.4", 202310, 74, 74, 0, 0, 0,
     {OB_REQ_CREATE_74, OB_REQ_RUN_74, OB_REQ_INFO, OB_REQ_TERM, OB_REQ_RESETCPU, OB_REQ_INTR,
      OB_REQ_READREGS, OB_REQ_WRITEREGS, OB_REQ_SHAREMEM_74, OB_REQ_MPROTECT_EPT}},
    {"7.5", 202404, 74, 74, 1, 1, 0,
     {OB_REQ_CREATE_74, OB_REQ_RUN_74, OB_REQ_INFO, OB_REQ_TERM, OB_REQ_RESETCPU, OB_REQ_INTR,
      OB_REQ_READREGS, OB_REQ_WRITEREGS, OB_REQ_SHAREMEM_74, OB_REQ_MPROTECT_EPT}},
    {"7.6", 202409, 76, 76, 1, 1, 0,
     {OB_REQ_CREATE_76, OB_REQ_RUN_76, OB_REQ_INFO, OB_REQ_TERM, OB_REQ_RESETCPU, OB_REQ_INTR,
      OB_REQ_READREGS, OB_REQ_WRITEREGS, OB_REQ_SHAREMEM_74, 0}},
    {"7.7", 202504, 76, 76, 1, 1, 0,
     {OB_REQ_CREATE_76, OB_REQ_RUN_76, OB_REQ_INFO, OB_REQ_TERM, OB_REQ_RESETCPU, OB_REQ_INTR,
      OB_REQ_READREGS, OB_REQ_WRITEREGS, OB_REQ_SHAREMEM_74, 0}},
    {"7.8", 202510, 78, 76, 1, 1, 1,
     {OB_REQ_CREATE_78, OB_REQ_RUN_76, OB_REQ_INFO, OB_REQ_TERM, OB_REQ_RESETCPU, OB_REQ_INTR,
      OB_REQ_READREGS, OB_REQ_WRITEREGS, OB_REQ_SHAREMEM_78, 0}},
    /* 7.9 changed nothing at this interface (the document's last row: vm_dying, internal). */
    {"7.9", 202605, 78, 76, 1, 1, 1,
     {OB_REQ_CREATE_78, OB_REQ_RUN_76, OB_REQ_INFO, OB_REQ_TERM, OB_REQ_RESETCPU, OB_REQ_INTR,
      OB_REQ_READREGS, OB_REQ_WRITEREGS, OB_REQ_SHAREMEM_78, 0}},
};

static const char *const ob_ioctl_names[OB_IOCTL_COUNT] = {
    "VMM_IOC_CREATE",   "VMM_IOC_RUN",       "VMM_IOC_INFO",      "VMM_IOC_TERM",
    "VMM_IOC_RESETCPU", "VMM_IOC_INTR",      "VMM_IOC_READREGS",  "VMM_IOC_WRITEREGS",
    "VMM_IOC_SHAREMEM", "VMM_IOC_MPROTECT_EPT",
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
HVT_STATIC_ASSERT(sizeof(struct ob_ifreq) == 32, "ifreq is 32 bytes");
#define OB_SIOCGIFFLAGS HVT_IOC(HVT_IOC_INOUT, 'i', 17, sizeof(struct ob_ifreq))
#define OB_SIOCGIFMTU HVT_IOC(HVT_IOC_INOUT, 'i', 126, sizeof(struct ob_ifreq))
HVT_STATIC_ASSERT(OB_SIOCGIFFLAGS == 0xc0206911u, "SIOCGIFFLAGS");
HVT_STATIC_ASSERT(OB_SIOCGIFMTU == 0xc020697eu, "SIOCGIFMTU");
#define OB_IFF_UP 0x1

#endif
