/* Generated from src/abi.ts and src/capsicum.ts by scripts/gen-abi.mjs: do not edit. */
/* test/abi-header.test.ts fails when this file is not what the tables give. */
#ifndef HVT_FB_ABI_GEN_H
#define HVT_FB_ABI_GEN_H

/* Release lines whose interfaces differ, and the kern.osreldate each starts at. */
enum fb_line { FB_LINE_13 = 0, FB_LINE_14 = 1, FB_LINE_15 = 2, FB_LINE_COUNT = 3 };
#define FB_OSRELDATE_13 1300000
#define FB_OSRELDATE_14 1400000
#define FB_OSRELDATE_15 1500000

/* Every struct as the TypeScript tables lay it out. */
HVT_STATIC_ASSERT(sizeof(struct fb_vm_exit) == 136, "struct fb_vm_exit size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, exitcode) == 0, "struct fb_vm_exit exitcode");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, inst_length) == 4, "struct fb_vm_exit inst_length");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, rip) == 8, "struct fb_vm_exit rip");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u) == 16, "struct fb_vm_exit u");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.inout.port) == 18, "struct fb_vm_exit u.inout.port");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.inout.eax) == 20, "struct fb_vm_exit u.inout.eax");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.status) == 16, "struct fb_vm_exit u.vmx.status");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.exit_reason) == 20, "struct fb_vm_exit u.vmx.exit_reason");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.exit_qualification) == 24, "struct fb_vm_exit u.vmx.exit_qualification");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.inst_type) == 32, "struct fb_vm_exit u.vmx.inst_type");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.vmx.inst_error) == 36, "struct fb_vm_exit u.vmx.inst_error");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.svm.exitcode) == 16, "struct fb_vm_exit u.svm.exitcode");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.svm.exitinfo1) == 24, "struct fb_vm_exit u.svm.exitinfo1");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.svm.exitinfo2) == 32, "struct fb_vm_exit u.svm.exitinfo2");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_exit, u.suspended.how) == 16, "struct fb_vm_exit u.suspended.how");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_memmap) == 40, "struct fb_vm_memmap size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, gpa) == 0, "struct fb_vm_memmap gpa");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, segid) == 8, "struct fb_vm_memmap segid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, segoff) == 16, "struct fb_vm_memmap segoff");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, len) == 24, "struct fb_vm_memmap len");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, prot) == 32, "struct fb_vm_memmap prot");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memmap, flags) == 36, "struct fb_vm_memmap flags");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_register) == 16, "struct fb_vm_register size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_register, cpuid) == 0, "struct fb_vm_register cpuid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_register, regnum) == 4, "struct fb_vm_register regnum");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_register, regval) == 8, "struct fb_vm_register regval");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_seg_desc) == 24, "struct fb_vm_seg_desc size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, cpuid) == 0, "struct fb_vm_seg_desc cpuid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, regnum) == 4, "struct fb_vm_seg_desc regnum");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, desc.base) == 8, "struct fb_vm_seg_desc desc.base");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, desc.limit) == 16, "struct fb_vm_seg_desc desc.limit");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_seg_desc, desc.access) == 20, "struct fb_vm_seg_desc desc.access");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_capability) == 16, "struct fb_vm_capability size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_capability, cpuid) == 0, "struct fb_vm_capability cpuid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_capability, captype) == 4, "struct fb_vm_capability captype");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_capability, capval) == 8, "struct fb_vm_capability capval");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_capability, allcpus) == 12, "struct fb_vm_capability allcpus");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_activate_cpu) == 4, "struct fb_vm_activate_cpu size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_activate_cpu, vcpuid) == 0, "struct fb_vm_activate_cpu vcpuid");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_suspend) == 4, "struct fb_vm_suspend size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_suspend, how) == 0, "struct fb_vm_suspend how");
HVT_STATIC_ASSERT(sizeof(struct fb_ifreq) == 32, "struct fb_ifreq size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_ifreq, name) == 0, "struct fb_ifreq name");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_ifreq, u.mtu) == 16, "struct fb_ifreq mtu");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_run_13) == 144, "struct fb_vm_run_13 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_13, cpuid) == 0, "struct fb_vm_run_13 cpuid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_13, vm_exit) == 8, "struct fb_vm_run_13 vm_exit");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_memseg_14) == 32, "struct fb_vm_memseg_14 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_14, segid) == 0, "struct fb_vm_memseg_14 segid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_14, len) == 8, "struct fb_vm_memseg_14 len");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_14, name) == 16, "struct fb_vm_memseg_14 name");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_run_14) == 32, "struct fb_vm_run_14 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_14, cpuid) == 0, "struct fb_vm_run_14 cpuid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_14, cpuset) == 8, "struct fb_vm_run_14 cpuset");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_14, cpusetsize) == 16, "struct fb_vm_run_14 cpusetsize");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_run_14, vm_exit) == 24, "struct fb_vm_run_14 vm_exit");
HVT_STATIC_ASSERT(sizeof(struct fb_vm_memseg_15) == 56, "struct fb_vm_memseg_15 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, segid) == 0, "struct fb_vm_memseg_15 segid");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, len) == 8, "struct fb_vm_memseg_15 len");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, name) == 16, "struct fb_vm_memseg_15 name");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, ds_mask) == 32, "struct fb_vm_memseg_15 ds_mask");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, ds_mask_size) == 40, "struct fb_vm_memseg_15 ds_mask_size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vm_memseg_15, ds_policy) == 48, "struct fb_vm_memseg_15 ds_policy");
HVT_STATIC_ASSERT(sizeof(struct fb_vmmctl_vm_create) == 296, "struct fb_vmmctl_vm_create size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vmmctl_vm_create, name) == 0, "struct fb_vmmctl_vm_create name");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct fb_vmmctl_vm_create, reserved) == 232, "struct fb_vmmctl_vm_create reserved");

/* The commands: one row per command, one number per line (0: the line lacks it). */
enum fb_ioctl { FB_VM_RUN, FB_VM_SET_CAPABILITY, FB_VM_GET_CAPABILITY, FB_VM_SUSPEND, FB_VM_REINIT, FB_VM_ALLOC_MEMSEG, FB_VM_MMAP_MEMSEG, FB_VM_SET_REGISTER, FB_VM_GET_REGISTER, FB_VM_SET_SEGMENT_DESCRIPTOR, FB_VM_GET_SEGMENT_DESCRIPTOR, FB_VM_SET_REGISTER_SET, FB_VM_GET_REGISTER_SET, FB_VM_ACTIVATE_CPU, FB_VMMCTL_VM_CREATE, FB_VMMCTL_VM_DESTROY, FB_IOCTL_COUNT };
#define FB_REQ_VM_RUN_13 0xc0907601u
#define FB_REQ_VM_RUN_14 0x80207601u
#define FB_REQ_VM_SET_CAPABILITY 0x80107602u
#define FB_REQ_VM_GET_CAPABILITY 0xc0107603u
#define FB_REQ_VM_SUSPEND 0x80047604u
#define FB_REQ_VM_REINIT 0x20007605u
#define FB_REQ_VM_ALLOC_MEMSEG_13 0x8020760eu
#define FB_REQ_VM_ALLOC_MEMSEG_15 0x8038760eu
#define FB_REQ_VM_MMAP_MEMSEG 0x80287610u
#define FB_REQ_VM_SET_REGISTER 0x80107614u
#define FB_REQ_VM_GET_REGISTER 0xc0107615u
#define FB_REQ_VM_SET_SEGMENT_DESCRIPTOR 0x80187616u
#define FB_REQ_VM_GET_SEGMENT_DESCRIPTOR 0xc0187617u
#define FB_REQ_VM_SET_REGISTER_SET 0x80187618u
#define FB_REQ_VM_GET_REGISTER_SET 0xc0187619u
#define FB_REQ_VM_ACTIVATE_CPU 0x8004765au
#define FB_REQ_VMMCTL_VM_CREATE 0xc1285600u
#define FB_REQ_VMMCTL_VM_DESTROY 0xc1285601u
struct fb_ioctl_row {
  const char *name;
  hvt_u32 request[FB_LINE_COUNT];
};
static const struct fb_ioctl_row fb_ioctl_table[FB_IOCTL_COUNT] = {
    {"VM_RUN", {0xc0907601u, 0x80207601u, 0x80207601u}},
    {"VM_SET_CAPABILITY", {0x80107602u, 0x80107602u, 0x80107602u}},
    {"VM_GET_CAPABILITY", {0xc0107603u, 0xc0107603u, 0xc0107603u}},
    {"VM_SUSPEND", {0x80047604u, 0x80047604u, 0x80047604u}},
    {"VM_REINIT", {0x20007605u, 0x20007605u, 0x20007605u}},
    {"VM_ALLOC_MEMSEG", {0x8020760eu, 0x8020760eu, 0x8038760eu}},
    {"VM_MMAP_MEMSEG", {0x80287610u, 0x80287610u, 0x80287610u}},
    {"VM_SET_REGISTER", {0x80107614u, 0x80107614u, 0x80107614u}},
    {"VM_GET_REGISTER", {0xc0107615u, 0xc0107615u, 0xc0107615u}},
    {"VM_SET_SEGMENT_DESCRIPTOR", {0x80187616u, 0x80187616u, 0x80187616u}},
    {"VM_GET_SEGMENT_DESCRIPTOR", {0xc0187617u, 0xc0187617u, 0xc0187617u}},
    {"VM_SET_REGISTER_SET", {0x80187618u, 0x80187618u, 0x80187618u}},
    {"VM_GET_REGISTER_SET", {0xc0187619u, 0xc0187619u, 0xc0187619u}},
    {"VM_ACTIVATE_CPU", {0x8004765au, 0x8004765au, 0x8004765au}},
    {"VMMCTL_VM_CREATE", {0, 0, 0xc1285600u}},
    {"VMMCTL_VM_DESTROY", {0, 0, 0xc1285601u}},
};
#define FB_SIOCGIFMTU 0xc0206933u

/* enum vm_exitcode and enum vm_suspend_how */
#define FB_EXITCODE_INOUT 0
#define FB_EXITCODE_VMX 1
#define FB_EXITCODE_BOGUS 2
#define FB_EXITCODE_RDMSR 3
#define FB_EXITCODE_WRMSR 4
#define FB_EXITCODE_HLT 5
#define FB_EXITCODE_MTRAP 6
#define FB_EXITCODE_PAUSE 7
#define FB_EXITCODE_PAGING 8
#define FB_EXITCODE_INST_EMUL 9
#define FB_EXITCODE_SPINUP_AP 10
#define FB_EXITCODE_RENDEZVOUS 12
#define FB_EXITCODE_IOAPIC_EOI 13
#define FB_EXITCODE_SUSPENDED 14
#define FB_EXITCODE_INOUT_STR 15
#define FB_EXITCODE_TASK_SWITCH 16
#define FB_EXITCODE_MONITOR 17
#define FB_EXITCODE_MWAIT 18
#define FB_EXITCODE_SVM 19
#define FB_EXITCODE_REQIDLE 20
#define FB_EXITCODE_DEBUG 21
#define FB_EXITCODE_VMINSN 22
#define FB_EXITCODE_BPT 23
#define FB_EXITCODE_IPI 24
#define FB_EXITCODE_DB 25
#define FB_SUSPEND_NONE 0
#define FB_SUSPEND_RESET 1
#define FB_SUSPEND_POWEROFF 2
#define FB_SUSPEND_HALT 3
#define FB_SUSPEND_TRIPLEFAULT 4
#define FB_SUSPEND_DESTROY 5

/* Capsicum rights (src/capsicum.ts): both words of a cap_rights_t carry index bits. */
#define FB_CAP_READ 0x0200000000000001ULL
#define FB_CAP_WRITE 0x0200000000000002ULL
#define FB_CAP_SEEK_TELL 0x0200000000000004ULL
#define FB_CAP_SEEK 0x020000000000000cULL
#define FB_CAP_PREAD 0x020000000000000dULL
#define FB_CAP_PWRITE 0x020000000000000eULL
#define FB_CAP_MMAP 0x0200000000000010ULL
#define FB_CAP_MMAP_RW 0x020000000000001fULL
#define FB_CAP_CREATE 0x0200000000000040ULL
#define FB_CAP_FSYNC 0x0200000000000100ULL
#define FB_CAP_FTRUNCATE 0x0200000000000200ULL
#define FB_CAP_LOOKUP 0x0200000000000400ULL
#define FB_CAP_FCNTL 0x0200000000008000ULL
#define FB_CAP_FSTAT 0x0200000000080000ULL
#define FB_CAP_EVENT 0x0400000000000020ULL
#define FB_CAP_IOCTL 0x0400000000000080ULL

#endif
