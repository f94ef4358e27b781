/* Generated from src/abi.ts by scripts/gen-abi.mjs: do not edit. */
/* test/abi-header.test.ts fails when this file is not what the tables give. */
#ifndef HVT_OB_ABI_GEN_H
#define HVT_OB_ABI_GEN_H

/* Every struct as the TypeScript tables lay it out. */
HVT_STATIC_ASSERT(sizeof(struct ob_vm_mem_range) == 32, "struct ob_vm_mem_range size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_mem_range, gpa) == 0, "struct ob_vm_mem_range vmr_gpa");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_mem_range, va) == 8, "struct ob_vm_mem_range vmr_va");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_mem_range, size) == 16, "struct ob_vm_mem_range vmr_size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_mem_range, type) == 24, "struct ob_vm_mem_range vmr_type");
HVT_STATIC_ASSERT(sizeof(struct ob_vcp_74) == 600, "struct ob_vcp_74 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_74, h.nmemranges) == 0, "struct ob_vcp_74 vcp_nmemranges");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_74, h.ncpus) == 8, "struct ob_vcp_74 vcp_ncpus");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_74, h.memranges) == 16, "struct ob_vcp_74 vcp_memranges");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_74, h.name) == 528, "struct ob_vcp_74 vcp_name");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_74, id) == 592, "struct ob_vcp_74 vcp_id");
HVT_STATIC_ASSERT(sizeof(struct ob_segment_info) == 24, "struct ob_segment_info size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_segment_info, sel) == 0, "struct ob_segment_info vsi_sel");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_segment_info, limit) == 4, "struct ob_segment_info vsi_limit");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_segment_info, ar) == 8, "struct ob_segment_info vsi_ar");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_segment_info, base) == 16, "struct ob_segment_info vsi_base");
HVT_STATIC_ASSERT(sizeof(struct ob_vcpu_reg_state) == 568, "struct ob_vcpu_reg_state size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, gprs) == 0, "struct ob_vcpu_reg_state vrs_gprs");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, crs) == 144, "struct ob_vcpu_reg_state vrs_crs");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, msrs) == 224, "struct ob_vcpu_reg_state vrs_msrs");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, drs) == 280, "struct ob_vcpu_reg_state vrs_drs");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, sregs) == 328, "struct ob_vcpu_reg_state vrs_sregs");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, gdtr) == 520, "struct ob_vcpu_reg_state vrs_gdtr");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcpu_reg_state, idtr) == 544, "struct ob_vcpu_reg_state vrs_idtr");
HVT_STATIC_ASSERT(sizeof(struct ob_resetcpu_params) == 576, "struct ob_resetcpu_params size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_resetcpu_params, vm_id) == 0, "struct ob_resetcpu_params vrp_vm_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_resetcpu_params, vcpu_id) == 4, "struct ob_resetcpu_params vrp_vcpu_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_resetcpu_params, state) == 8, "struct ob_resetcpu_params vrp_init_state");
HVT_STATIC_ASSERT(sizeof(struct ob_rwregs_params) == 584, "struct ob_rwregs_params size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_rwregs_params, vm_id) == 0, "struct ob_rwregs_params vrwp_vm_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_rwregs_params, vcpu_id) == 4, "struct ob_rwregs_params vrwp_vcpu_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_rwregs_params, mask) == 8, "struct ob_rwregs_params vrwp_mask");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_rwregs_params, regs) == 16, "struct ob_rwregs_params vrwp_regs");
HVT_STATIC_ASSERT(sizeof(struct ob_terminate_params) == 4, "struct ob_terminate_params size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_terminate_params, vm_id) == 0, "struct ob_terminate_params vtp_vm_id");
HVT_STATIC_ASSERT(sizeof(struct ob_exit_inout) == 16, "struct ob_exit_inout size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, size) == 0, "struct ob_exit_inout vei_size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, dir) == 1, "struct ob_exit_inout vei_dir");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, rep) == 2, "struct ob_exit_inout vei_rep");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, string) == 3, "struct ob_exit_inout vei_string");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, encoding) == 4, "struct ob_exit_inout vei_encoding");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, port) == 6, "struct ob_exit_inout vei_port");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, data) == 8, "struct ob_exit_inout vei_data");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_exit_inout, insn_len) == 12, "struct ob_exit_inout vei_insn_len");
HVT_STATIC_ASSERT(sizeof(struct ob_vm_exit) == 600, "struct ob_vm_exit size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_exit, u.vei) == 0, "struct ob_vm_exit vei");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_exit, u.vee) == 0, "struct ob_vm_exit vee");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_exit, vrs) == 24, "struct ob_vm_exit vrs");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vm_exit, cpl) == 592, "struct ob_vm_exit cpl");
HVT_STATIC_ASSERT(sizeof(struct ob_vrp_74) == 32, "struct ob_vrp_74 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, vm_id) == 0, "struct ob_vrp_74 vrp_vm_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, vcpu_id) == 4, "struct ob_vrp_74 vrp_vcpu_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, cont) == 8, "struct ob_vrp_74 vrp_continue");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, irq) == 10, "struct ob_vrp_74 vrp_irq");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, intr_pending) == 12, "struct ob_vrp_74 vrp_intr_pending");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, exit) == 16, "struct ob_vrp_74 vrp_exit");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, exit_reason) == 24, "struct ob_vrp_74 vrp_exit_reason");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_74, irqready) == 26, "struct ob_vrp_74 vrp_irqready");
HVT_STATIC_ASSERT(sizeof(struct ob_inject_event) == 12, "struct ob_inject_event size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_inject_event, vector) == 0, "struct ob_inject_event vie_vector");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_inject_event, errorcode) == 4, "struct ob_inject_event vie_errorcode");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_inject_event, type) == 8, "struct ob_inject_event vie_type");
HVT_STATIC_ASSERT(sizeof(struct ob_ifreq) == 32, "struct ob_ifreq size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_ifreq, name) == 0, "struct ob_ifreq name");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_ifreq, u.flags) == 16, "struct ob_ifreq flags");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_ifreq, u.mtu) == 16, "struct ob_ifreq mtu");
HVT_STATIC_ASSERT(sizeof(struct ob_vcp_76) == 2656, "struct ob_vcp_76 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, h.nmemranges) == 0, "struct ob_vcp_76 vcp_nmemranges");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, h.ncpus) == 8, "struct ob_vcp_76 vcp_ncpus");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, h.memranges) == 16, "struct ob_vcp_76 vcp_memranges");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, h.name) == 528, "struct ob_vcp_76 vcp_name");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, sev) == 592, "struct ob_vcp_76 vcp_sev");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, id) == 596, "struct ob_vcp_76 vcp_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, poscbit) == 600, "struct ob_vcp_76 vcp_poscbit");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_76, asid) == 604, "struct ob_vcp_76 vcp_asid");
HVT_STATIC_ASSERT(sizeof(struct ob_vrp_76) == 40, "struct ob_vrp_76 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, vm_id) == 0, "struct ob_vrp_76 vrp_vm_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, vcpu_id) == 4, "struct ob_vrp_76 vrp_vcpu_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, inject) == 8, "struct ob_vrp_76 vrp_inject");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, intr_pending) == 20, "struct ob_vrp_76 vrp_intr_pending");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, exit) == 24, "struct ob_vrp_76 vrp_exit");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, exit_reason) == 32, "struct ob_vrp_76 vrp_exit_reason");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vrp_76, irqready) == 34, "struct ob_vrp_76 vrp_irqready");
HVT_STATIC_ASSERT(sizeof(struct ob_vcp_78) == 2656, "struct ob_vcp_78 size");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, h.nmemranges) == 0, "struct ob_vcp_78 vcp_nmemranges");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, h.ncpus) == 8, "struct ob_vcp_78 vcp_ncpus");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, h.memranges) == 16, "struct ob_vcp_78 vcp_memranges");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, h.name) == 528, "struct ob_vcp_78 vcp_name");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, sev) == 592, "struct ob_vcp_78 vcp_sev");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, seves) == 596, "struct ob_vcp_78 vcp_seves");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, id) == 600, "struct ob_vcp_78 vcp_id");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, poscbit) == 604, "struct ob_vcp_78 vcp_poscbit");
HVT_STATIC_ASSERT(HVT_OFFSETOF(struct ob_vcp_78, asid) == 608, "struct ob_vcp_78 vcp_asid");

/* The commands. */
enum ob_ioctl { OB_VMM_IOC_CREATE, OB_VMM_IOC_RUN, OB_VMM_IOC_INFO, OB_VMM_IOC_TERM, OB_VMM_IOC_RESETCPU, OB_VMM_IOC_INTR, OB_VMM_IOC_READREGS, OB_VMM_IOC_WRITEREGS, OB_VMM_IOC_SHAREMEM, OB_VMM_IOC_MPROTECT_EPT, OB_IOCTL_COUNT };
#define OB_REQ_INFO 0xc0185603u
#define OB_REQ_TERM 0x80045604u
#define OB_REQ_RESETCPU 0x82405605u
#define OB_REQ_INTR 0x800c5606u
#define OB_REQ_READREGS 0xc2485607u
#define OB_REQ_WRITEREGS 0x82485608u
static const char *const ob_ioctl_names[OB_IOCTL_COUNT] = {
    "VMM_IOC_CREATE",
    "VMM_IOC_RUN",
    "VMM_IOC_INFO",
    "VMM_IOC_TERM",
    "VMM_IOC_RESETCPU",
    "VMM_IOC_INTR",
    "VMM_IOC_READREGS",
    "VMM_IOC_WRITEREGS",
    "VMM_IOC_SHAREMEM",
    "VMM_IOC_MPROTECT_EPT",
};

/* How each release differs (field by field as ReleaseAbi), and its command numbers. */
struct ob_release_abi {
  const char *release;
  hvt_i32 osrev;
  hvt_u8 create_layout;
  hvt_u8 run_layout;
  hvt_u8 new_segment_order;
  hvt_u8 userland_rip_advance;
  hvt_u8 kernel_memory;
  hvt_u32 request[OB_IOCTL_COUNT];
};
#define OB_RELEASE_COUNT 6
static const struct ob_release_abi ob_releases[OB_RELEASE_COUNT] = {
    {"7.4", 202310, 74, 74, 0, 0, 0,
     {0xc2585601u, 0xc0205602u, 0xc0185603u, 0x80045604u, 0x82405605u, 0x800c5606u, 0xc2485607u, 0x82485608u, 0x8210560bu, 0x8020560bu}},
    {"7.5", 202404, 74, 74, 1, 1, 0,
     {0xc2585601u, 0xc0205602u, 0xc0185603u, 0x80045604u, 0x82405605u, 0x800c5606u, 0xc2485607u, 0x82485608u, 0x8210560bu, 0x8020560bu}},
    {"7.6", 202409, 76, 76, 1, 1, 0,
     {0xca605601u, 0xc0285602u, 0xc0185603u, 0x80045604u, 0x82405605u, 0x800c5606u, 0xc2485607u, 0x82485608u, 0x8210560bu, 0}},
    {"7.7", 202504, 76, 76, 1, 1, 0,
     {0xca605601u, 0xc0285602u, 0xc0185603u, 0x80045604u, 0x82405605u, 0x800c5606u, 0xc2485607u, 0x82485608u, 0x8210560bu, 0}},
    {"7.8", 202510, 78, 76, 1, 1, 1,
     {0xca605601u, 0xc0285602u, 0xc0185603u, 0x80045604u, 0x82405605u, 0x800c5606u, 0xc2485607u, 0x82485608u, 0xc290560bu, 0}},
    {"7.9", 202605, 78, 76, 1, 1, 1,
     {0xca605601u, 0xc0285602u, 0xc0185603u, 0x80045604u, 0x82405605u, 0x800c5606u, 0xc2485607u, 0x82485608u, 0xc290560bu, 0}},
};

#define OB_SIOCGIFFLAGS 0xc0206911u
#define OB_SIOCGIFMTU 0xc020697eu

/* Exit reasons the tender sees. */
#define OB_REASON_NONE 0xffff
#define OB_REASON_TERMINATED 0xfffe
#define OB_REASON_VMX_TRIPLE_FAULT 0x2
#define OB_REASON_VMX_HLT 0xc
#define OB_REASON_VMX_IO 0x1e
#define OB_REASON_VMX_EPT_VIOLATION 0x30
#define OB_REASON_SVM_HLT 0x78
#define OB_REASON_SVM_IOIO 0x7b
#define OB_REASON_SVM_SHUTDOWN 0x7f
#define OB_REASON_SVM_NPF 0x400

#endif
