/*
 * FreeBSD vmm(4) as the kernel sees it on amd64, written from the tables in
 * shared/bsd-vmm-abi.md (section 1) instead of taken from <machine/vmm_dev.h>:
 * the headers of one release describe only that release, and this addon picks
 * the 13.x, 14.x or 15.x layout at run time from kern.osreldate. Every size,
 * offset and command number the document gives is asserted below, so a typo
 * here fails the build (and `clang -fsyntax-only` from any host).
 *
 * The TypeScript side keeps the same tables (src/abi.ts); test/native-tables
 * compiles this header for the test host and compares the two.
 */
#ifndef HVT_FB_ABI_H
#define HVT_FB_ABI_H

#include "hvt/bsd_types.h"

/* Release lines whose interfaces differ (bsd-vmm-abi.md 1.1). */
enum fb_line { FB_LINE_13 = 0, FB_LINE_14 = 1, FB_LINE_15 = 2, FB_LINE_COUNT = 3 };
#define FB_OSRELDATE_13 1300000
#define FB_OSRELDATE_14 1400000
#define FB_OSRELDATE_15 1500000

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

HVT_STATIC_ASSERT(sizeof(struct fb_vm_exit) == 136, "vm_exit is 136 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, exitcode) == 0, "vm_exit.exitcode @0");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, inst_length) == 4, "vm_exit.inst_length @4");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, rip) == 8, "vm_exit.rip @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u) == 16, "vm_exit.u @16");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.inout.port) == 18, "inout.port @18");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.inout.eax) == 20, "inout.eax @20");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.exit_reason) == 20, "vmx.exit_reason @20");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.exit_qualification) == 24,
                 "vmx.exit_qualification @24");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.inst_type) == 32, "vmx.inst_type @32");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.inst_error) == 36, "vmx.inst_error @36");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.svm.exitinfo1) == 24, "svm.exitinfo1 @24");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.svm.exitinfo2) == 32, "svm.exitinfo2 @32");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.suspended.how) == 16, "suspended.how @16");

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
HVT_STATIC_ASSERT(sizeof(struct fb_vm_run_13) == 144, "vm_run (13) is 144 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_13, vm_exit) == 8, "vm_run_13.vm_exit @8");

/* 14.x and later: pointers; the kernel copies the exit out to *vm_exit. */
struct fb_vm_run_14 {
  hvt_i32 cpuid;
  void *cpuset;
  hvt_size cpusetsize;
  struct fb_vm_exit *vm_exit;
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_run_14) == 32, "vm_run (14+) is 32 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_14, cpuset) == 8, "vm_run.cpuset @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_14, cpusetsize) == 16, "vm_run.cpusetsize @16");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_14, vm_exit) == 24, "vm_run.vm_exit @24");

/* ---- struct vm_memseg ---- */

struct fb_vm_memseg_14 {
  hvt_i32 segid;
  hvt_size len;
  char name[16];
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_memseg_14) == 32, "vm_memseg (13/14) is 32 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_14, len) == 8, "vm_memseg.len @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_14, name) == 16, "vm_memseg.name @16");

struct fb_vm_memseg_15 {
  hvt_i32 segid;
  hvt_size len;
  char name[16];
  void *ds_mask;
  hvt_size ds_mask_size;
  hvt_i32 ds_policy;
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_memseg_15) == 56, "vm_memseg (15) is 56 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, ds_mask) == 32, "vm_memseg.ds_mask @32");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, ds_mask_size) == 40,
                 "vm_memseg.ds_mask_size @40");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, ds_policy) == 48, "vm_memseg.ds_policy @48");

/* ---- the other argument structs ---- */

struct fb_vm_memmap {
  hvt_u64 gpa;
  hvt_i32 segid;
  hvt_u64 segoff;
  hvt_size len;
  hvt_i32 prot;
  hvt_i32 flags;
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_memmap) == 40, "vm_memmap is 40 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, segid) == 8, "vm_memmap.segid @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, segoff) == 16, "vm_memmap.segoff @16");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, len) == 24, "vm_memmap.len @24");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, prot) == 32, "vm_memmap.prot @32");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, flags) == 36, "vm_memmap.flags @36");

struct fb_vm_register {
  hvt_i32 cpuid;
  hvt_i32 regnum;
  hvt_u64 regval;
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_register) == 16, "vm_register is 16 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_register, regval) == 8, "vm_register.regval @8");

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
HVT_STATIC_ASSERT(sizeof(struct fb_vm_seg_desc) == 24, "vm_seg_desc is 24 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, desc) == 8, "vm_seg_desc.desc @8");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, desc.limit) == 16, "seg_desc.limit @16");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, desc.access) == 20, "seg_desc.access @20");

struct fb_vm_capability {
  hvt_i32 cpuid;
  hvt_i32 captype;
  hvt_i32 capval;
  hvt_i32 allcpus;
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_capability) == 16, "vm_capability is 16 bytes");

struct fb_vm_activate_cpu {
  hvt_i32 vcpuid;
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_activate_cpu) == 4, "vm_activate_cpu is 4 bytes");

struct fb_vm_suspend {
  hvt_i32 how;
};
HVT_STATIC_ASSERT(sizeof(struct fb_vm_suspend) == 4, "vm_suspend is 4 bytes");

/* 15+: /dev/vmmctl. reserved[] must be zero (main later made [0] a flags word). */
struct fb_vmmctl_vm_create {
  char name[FB_VM_MAX_NAMELEN + 1];
  hvt_i32 reserved[16];
};
HVT_STATIC_ASSERT(sizeof(struct fb_vmmctl_vm_create) == 296, "vmmctl_vm_create is 296 bytes");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vmmctl_vm_create, reserved) == 232, "reserved @232");

/* ---- the commands ---- */

enum fb_ioctl {
  FB_VM_RUN,
  FB_VM_SET_CAPABILITY,
  FB_VM_GET_CAPABILITY,
  FB_VM_SUSPEND,
  FB_VM_REINIT,
  FB_VM_ALLOC_MEMSEG,
  FB_VM_MMAP_MEMSEG,
  FB_VM_SET_REGISTER,
  FB_VM_GET_REGISTER,
  FB_VM_SET_SEGMENT_DESCRIPTOR,
  FB_VM_GET_SEGMENT_DESCRIPTOR,
  FB_VM_SET_REGISTER_SET,
  FB_VM_GET_REGISTER_SET,
  FB_VM_ACTIVATE_CPU,
  FB_VMMCTL_VM_CREATE,
  FB_VMMCTL_VM_DESTROY,
  FB_IOCTL_COUNT
};

/* One row per command; request 0 means "this line has no such command". */
struct fb_ioctl_row {
  const char *name;
  hvt_u32 request[FB_LINE_COUNT];
};

#define FB_V(dir, nr, size) HVT_IOC(dir, 'v', nr, size)
#define FB_CTL(dir, nr, size) HVT_IOC(dir, 'V', nr, size)
/* struct vm_register_set: {int cpuid; unsigned count; const int *regnums; uint64_t *regvals}. */
#define FB_VM_REGISTER_SET_SIZE 24

#define FB_REQ_VM_RUN_13 FB_V(HVT_IOC_INOUT, 1, sizeof(struct fb_vm_run_13))
#define FB_REQ_VM_RUN_14 FB_V(HVT_IOC_IN, 1, sizeof(struct fb_vm_run_14))
#define FB_REQ_VM_SET_CAPABILITY FB_V(HVT_IOC_IN, 2, sizeof(struct fb_vm_capability))
#define FB_REQ_VM_GET_CAPABILITY FB_V(HVT_IOC_INOUT, 3, sizeof(struct fb_vm_capability))
#define FB_REQ_VM_SUSPEND FB_V(HVT_IOC_IN, 4, sizeof(struct fb_vm_suspend))
#define FB_REQ_VM_REINIT FB_V(HVT_IOC_VOID, 5, 0)
#define FB_REQ_VM_ALLOC_MEMSEG_14 FB_V(HVT_IOC_IN, 14, sizeof(struct fb_vm_memseg_14))
#define FB_REQ_VM_ALLOC_MEMSEG_15 FB_V(HVT_IOC_IN, 14, sizeof(struct fb_vm_memseg_15))
#define FB_REQ_VM_MMAP_MEMSEG FB_V(HVT_IOC_IN, 16, sizeof(struct fb_vm_memmap))
#define FB_REQ_VM_SET_REGISTER FB_V(HVT_IOC_IN, 20, sizeof(struct fb_vm_register))
#define FB_REQ_VM_GET_REGISTER FB_V(HVT_IOC_INOUT, 21, sizeof(struct fb_vm_register))
#define FB_REQ_VM_SET_SEGMENT_DESCRIPTOR FB_V(HVT_IOC_IN, 22, sizeof(struct fb_vm_seg_desc))
#define FB_REQ_VM_GET_SEGMENT_DESCRIPTOR FB_V(HVT_IOC_INOUT, 23, sizeof(struct fb_vm_seg_desc))
#define FB_REQ_VM_SET_REGISTER_SET FB_V(HVT_IOC_IN, 24, FB_VM_REGISTER_SET_SIZE)
#define FB_REQ_VM_GET_REGISTER_SET FB_V(HVT_IOC_INOUT, 25, FB_VM_REGISTER_SET_SIZE)
#define FB_REQ_VM_ACTIVATE_CPU FB_V(HVT_IOC_IN, 90, sizeof(struct fb_vm_activate_cpu))
#define FB_REQ_VMMCTL_VM_CREATE FB_CTL(HVT_IOC_INOUT, 0, sizeof(struct fb_vmmctl_vm_create))
#define FB_REQ_VMMCTL_VM_DESTROY FB_CTL(HVT_IOC_INOUT, 1, sizeof(struct fb_vmmctl_vm_create))

/* The numbers of bsd-vmm-abi.md 1.3, checked against the encoding. */
HVT_STATIC_ASSERT(FB_REQ_VM_RUN_13 == 0xc0907601u, "VM_RUN (13)");
HVT_STATIC_ASSERT(FB_REQ_VM_RUN_14 == 0x80207601u, "VM_RUN (14+)");
HVT_STATIC_ASSERT(FB_REQ_VM_SET_CAPABILITY == 0x80107602u, "VM_SET_CAPABILITY");
HVT_STATIC_ASSERT(FB_REQ_VM_GET_CAPABILITY == 0xc0107603u, "VM_GET_CAPABILITY");
HVT_STATIC_ASSERT(FB_REQ_VM_SUSPEND == 0x80047604u, "VM_SUSPEND");
HVT_STATIC_ASSERT(FB_REQ_VM_REINIT == 0x20007605u, "VM_REINIT");
HVT_STATIC_ASSERT(FB_REQ_VM_ALLOC_MEMSEG_14 == 0x8020760eu, "VM_ALLOC_MEMSEG (13/14)");
HVT_STATIC_ASSERT(FB_REQ_VM_ALLOC_MEMSEG_15 == 0x8038760eu, "VM_ALLOC_MEMSEG (15)");
HVT_STATIC_ASSERT(FB_REQ_VM_MMAP_MEMSEG == 0x80287610u, "VM_MMAP_MEMSEG");
HVT_STATIC_ASSERT(FB_REQ_VM_SET_REGISTER == 0x80107614u, "VM_SET_REGISTER");
HVT_STATIC_ASSERT(FB_REQ_VM_GET_REGISTER == 0xc0107615u, "VM_GET_REGISTER");
HVT_STATIC_ASSERT(FB_REQ_VM_SET_SEGMENT_DESCRIPTOR == 0x80187616u, "VM_SET_SEGMENT_DESCRIPTOR");
HVT_STATIC_ASSERT(FB_REQ_VM_GET_SEGMENT_DESCRIPTOR == 0xc0187617u, "VM_GET_SEGMENT_DESCRIPTOR");
HVT_STATIC_ASSERT(FB_REQ_VM_SET_REGISTER_SET == 0x80187618u, "VM_SET_REGISTER_SET");
HVT_STATIC_ASSERT(FB_REQ_VM_GET_REGISTER_SET == 0xc0187619u, "VM_GET_REGISTER_SET");
HVT_STATIC_ASSERT(FB_REQ_VM_ACTIVATE_CPU == 0x8004765au, "VM_ACTIVATE_CPU");
HVT_STATIC_ASSERT(FB_REQ_VMMCTL_VM_CREATE == 0xc1285600u, "VMMCTL_VM_CREATE");
HVT_STATIC_ASSERT(FB_REQ_VMMCTL_VM_DESTROY == 0xc1285601u, "VMMCTL_VM_DESTROY");

/* Indexed by enum fb_ioctl, then by enum fb_line. */
static const struct fb_ioctl_row fb_ioctl_table[FB_IOCTL_COUNT] = {
    {"VM_RUN", {FB_REQ_VM_RUN_13, FB_REQ_VM_RUN_14, FB_REQ_VM_RUN_14}},
    {"VM_SET_CAPABILITY",
     {FB_REQ_VM_SET_CAPABILITY, FB_REQ_VM_SET_CAPABILITY, FB_REQ_VM_SET_CAPABILITY}},
    {"VM_GET_CAPABILITY",
     {FB_REQ_VM_GET_CAPABILITY, FB_REQ_VM_GET_CAPABILITY, FB_REQ_VM_GET_CAPABILITY}},
    {"VM_SUSPEND", {FB_REQ_VM_SUSPEND, FB_REQ_VM_SUSPEND, FB_REQ_VM_SUSPEND}},
    {"VM_REINIT", {FB_REQ_VM_REINIT, FB_REQ_VM_REINIT, FB_REQ_VM_REINIT}},
    {"VM_ALLOC_MEMSEG",
     {FB_REQ_VM_ALLOC_MEMSEG_14, FB_REQ_VM_ALLOC_MEMSEG_14, FB_REQ_VM_ALLOC_MEMSEG_15}},
    {"VM_MMAP_MEMSEG", {FB_REQ_VM_MMAP_MEMSEG, FB_REQ_VM_MMAP_MEMSEG, FB_REQ_VM_MMAP_MEMSEG}},
    {"VM_SET_REGISTER", {FB_REQ_VM_SET_REGISTER, FB_REQ_VM_SET_REGISTER, FB_REQ_VM_SET_REGISTER}},
    {"VM_GET_REGISTER", {FB_REQ_VM_GET_REGISTER, FB_REQ_VM_GET_REGISTER, FB_REQ_VM_GET_REGISTER}},
    {"VM_SET_SEGMENT_DESCRIPTOR",
     {FB_REQ_VM_SET_SEGMENT_DESCRIPTOR, FB_REQ_VM_SET_SEGMENT_DESCRIPTOR,
      FB_REQ_VM_SET_SEGMENT_DESCRIPTOR}},
    {"VM_GET_SEGMENT_DESCRIPTOR",
     {FB_REQ_VM_GET_SEGMENT_DESCRIPTOR, FB_REQ_VM_GET_SEGMENT_DESCRIPTOR,
      FB_REQ_VM_GET_SEGMENT_DESCRIPTOR}},
    {"VM_SET_REGISTER_SET",
     {FB_REQ_VM_SET_REGISTER_SET, FB_REQ_VM_SET_REGISTER_SET, FB_REQ_VM_SET_REGISTER_SET}},
    {"VM_GET_REGISTER_SET",
     {FB_REQ_VM_GET_REGISTER_SET, FB_REQ_VM_GET_REGISTER_SET, FB_REQ_VM_GET_REGISTER_SET}},
    {"VM_ACTIVATE_CPU", {FB_REQ_VM_ACTIVATE_CPU, FB_REQ_VM_ACTIVATE_CPU, FB_REQ_VM_ACTIVATE_CPU}},
    {"VMMCTL_VM_CREATE", {0, 0, FB_REQ_VMMCTL_VM_CREATE}},
    {"VMMCTL_VM_DESTROY", {0, 0, FB_REQ_VMMCTL_VM_DESTROY}},
};

/* ---- constants ---- */

/* enum vm_cap_type */
#define FB_VM_CAP_HALT_EXIT 0
/* System memory is segment 0 in every release. */
#define FB_VM_SYSMEM 0

/* enum vm_exitcode */
#define FB_EXITCODE_INOUT 0
#define FB_EXITCODE_VMX 1
#define FB_EXITCODE_BOGUS 2
#define FB_EXITCODE_RDMSR 3
#define FB_EXITCODE_WRMSR 4
#define FB_EXITCODE_HLT 5
#define FB_EXITCODE_PAGING 8
#define FB_EXITCODE_INST_EMUL 9
#define FB_EXITCODE_SUSPENDED 14
#define FB_EXITCODE_INOUT_STR 15
#define FB_EXITCODE_SVM 19
#define FB_EXITCODE_REQIDLE 20
#define FB_EXITCODE_DEBUG 21

/* enum vm_suspend_how */
#define FB_SUSPEND_HALT 3
#define FB_SUSPEND_TRIPLEFAULT 4

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
HVT_STATIC_ASSERT(sizeof(struct fb_ifreq) == 32, "ifreq is 32 bytes");
#define FB_SIOCGIFMTU HVT_IOC(HVT_IOC_INOUT, 'i', 51, sizeof(struct fb_ifreq))
HVT_STATIC_ASSERT(FB_SIOCGIFMTU == 0xc0206933u, "SIOCGIFMTU");

/*
 * Capsicum rights (<sys/capsicum.h>): a version-0 cap_rights_t is two words;
 * bits 57+idx of each right say which word it belongs to, and an empty set
 * has just those index bits.
 */
#define FB_CAPRIGHT(idx, bit) ((1ULL << (57 + (idx))) | (bit))
#define FB_CAP_READ FB_CAPRIGHT(0, 0x1ULL)
#define FB_CAP_WRITE FB_CAPRIGHT(0, 0x2ULL)
#define FB_CAP_SEEK FB_CAPRIGHT(0, 0xcULL)
#define FB_CAP_MMAP_RW FB_CAPRIGHT(0, 0x1fULL)
#define FB_CAP_FSYNC FB_CAPRIGHT(0, 0x100ULL)
#define FB_CAP_FSTAT FB_CAPRIGHT(0, 0x80000ULL)
#define FB_CAP_EVENT FB_CAPRIGHT(1, 0x20ULL)
#define FB_CAP_IOCTL FB_CAPRIGHT(1, 0x80ULL)
HVT_STATIC_ASSERT(FB_CAP_READ == 0x0200000000000001ULL, "CAP_READ");
HVT_STATIC_ASSERT(FB_CAP_WRITE == 0x0200000000000002ULL, "CAP_WRITE");
HVT_STATIC_ASSERT(FB_CAP_SEEK == 0x020000000000000cULL, "CAP_SEEK");
HVT_STATIC_ASSERT(FB_CAP_MMAP_RW == 0x020000000000001fULL, "CAP_MMAP_RW");
HVT_STATIC_ASSERT(FB_CAP_FSYNC == 0x0200000000000100ULL, "CAP_FSYNC");
HVT_STATIC_ASSERT(FB_CAP_FSTAT == 0x0200000000080000ULL, "CAP_FSTAT");
HVT_STATIC_ASSERT(FB_CAP_EVENT == 0x0400000000000020ULL, "CAP_EVENT");
HVT_STATIC_ASSERT(FB_CAP_IOCTL == 0x0400000000000080ULL, "CAP_IOCTL");

#endif
