/*
 * Prints ob_abi.h's tables as JSON: per release, the struct sizes and field
 * offsets and the ioctl command numbers. Compiled for the test host (amd64
 * structs lay out the same under every LP64 ELF ABI) and compared with
 * src/abi.ts by test/native-sources.test.ts.
 */
#include "../../src/native/ob_abi.h"

int printf(const char *format, ...);

static int first_struct;
static int first_field;

static void begin_struct(const char *name, unsigned long size) {
  printf("%s\"%s\":{\"size\":%lu,\"fields\":{", first_struct ? "" : ",", name, size);
  first_struct = 0;
  first_field = 1;
}

static void field(const char *name, unsigned long offset) {
  printf("%s\"%s\":%lu", first_field ? "" : ",", name, offset);
  first_field = 0;
}

static void end_struct(void) { printf("}}"); }

#define F(type, member, name) field(name, HVT_OFFSETOF(type, member))

static void create_params(int layout) {
  if (layout == 74) {
    begin_struct("vm_create_params", sizeof(struct ob_vcp_74));
    F(struct ob_vcp_74, h.nmemranges, "vcp_nmemranges");
    F(struct ob_vcp_74, h.ncpus, "vcp_ncpus");
    F(struct ob_vcp_74, h.memranges, "vcp_memranges");
    F(struct ob_vcp_74, h.name, "vcp_name");
    F(struct ob_vcp_74, id, "vcp_id");
  } else if (layout == 76) {
    begin_struct("vm_create_params", sizeof(struct ob_vcp_76));
    F(struct ob_vcp_76, h.nmemranges, "vcp_nmemranges");
    F(struct ob_vcp_76, h.ncpus, "vcp_ncpus");
    F(struct ob_vcp_76, h.memranges, "vcp_memranges");
    F(struct ob_vcp_76, h.name, "vcp_name");
    F(struct ob_vcp_76, sev, "vcp_sev");
    F(struct ob_vcp_76, id, "vcp_id");
    F(struct ob_vcp_76, poscbit, "vcp_poscbit");
    F(struct ob_vcp_76, asid, "vcp_asid");
  } else {
    begin_struct("vm_create_params", sizeof(struct ob_vcp_78));
    F(struct ob_vcp_78, h.nmemranges, "vcp_nmemranges");
    F(struct ob_vcp_78, h.ncpus, "vcp_ncpus");
    F(struct ob_vcp_78, h.memranges, "vcp_memranges");
    F(struct ob_vcp_78, h.name, "vcp_name");
    F(struct ob_vcp_78, sev, "vcp_sev");
    F(struct ob_vcp_78, seves, "vcp_seves");
    F(struct ob_vcp_78, id, "vcp_id");
    F(struct ob_vcp_78, poscbit, "vcp_poscbit");
    F(struct ob_vcp_78, asid, "vcp_asid");
  }
  end_struct();
}

static void run_params(int layout) {
  if (layout == 74) {
    begin_struct("vm_run_params", sizeof(struct ob_vrp_74));
    F(struct ob_vrp_74, vm_id, "vrp_vm_id");
    F(struct ob_vrp_74, vcpu_id, "vrp_vcpu_id");
    F(struct ob_vrp_74, cont, "vrp_continue");
    F(struct ob_vrp_74, irq, "vrp_irq");
    F(struct ob_vrp_74, intr_pending, "vrp_intr_pending");
    F(struct ob_vrp_74, exit, "vrp_exit");
    F(struct ob_vrp_74, exit_reason, "vrp_exit_reason");
    F(struct ob_vrp_74, irqready, "vrp_irqready");
  } else {
    begin_struct("vm_run_params", sizeof(struct ob_vrp_76));
    F(struct ob_vrp_76, vm_id, "vrp_vm_id");
    F(struct ob_vrp_76, vcpu_id, "vrp_vcpu_id");
    F(struct ob_vrp_76, inject, "vrp_inject");
    F(struct ob_vrp_76, intr_pending, "vrp_intr_pending");
    F(struct ob_vrp_76, exit, "vrp_exit");
    F(struct ob_vrp_76, exit_reason, "vrp_exit_reason");
    F(struct ob_vrp_76, irqready, "vrp_irqready");
  }
  end_struct();
}

static void layouts(const struct ob_release_abi *abi) {
  first_struct = 1;
  begin_struct("vm_mem_range", sizeof(struct ob_vm_mem_range));
  F(struct ob_vm_mem_range, gpa, "vmr_gpa");
  F(struct ob_vm_mem_range, va, "vmr_va");
  F(struct ob_vm_mem_range, size, "vmr_size");
  F(struct ob_vm_mem_range, type, "vmr_type");
  end_struct();
  create_params(abi->create_layout);
  begin_struct("vcpu_segment_info", sizeof(struct ob_segment_info));
  F(struct ob_segment_info, sel, "vsi_sel");
  F(struct ob_segment_info, limit, "vsi_limit");
  F(struct ob_segment_info, ar, "vsi_ar");
  F(struct ob_segment_info, base, "vsi_base");
  end_struct();
  begin_struct("vcpu_reg_state", sizeof(struct ob_vcpu_reg_state));
  F(struct ob_vcpu_reg_state, gprs, "vrs_gprs");
  F(struct ob_vcpu_reg_state, crs, "vrs_crs");
  F(struct ob_vcpu_reg_state, msrs, "vrs_msrs");
  F(struct ob_vcpu_reg_state, drs, "vrs_drs");
  F(struct ob_vcpu_reg_state, sregs, "vrs_sregs");
  F(struct ob_vcpu_reg_state, gdtr, "vrs_gdtr");
  F(struct ob_vcpu_reg_state, idtr, "vrs_idtr");
  end_struct();
  begin_struct("vm_resetcpu_params", sizeof(struct ob_resetcpu_params));
  F(struct ob_resetcpu_params, vm_id, "vrp_vm_id");
  F(struct ob_resetcpu_params, vcpu_id, "vrp_vcpu_id");
  F(struct ob_resetcpu_params, state, "vrp_init_state");
  end_struct();
  begin_struct("vm_rwregs_params", sizeof(struct ob_rwregs_params));
  F(struct ob_rwregs_params, vm_id, "vrwp_vm_id");
  F(struct ob_rwregs_params, vcpu_id, "vrwp_vcpu_id");
  F(struct ob_rwregs_params, mask, "vrwp_mask");
  F(struct ob_rwregs_params, regs, "vrwp_regs");
  end_struct();
  begin_struct("vm_terminate_params", sizeof(struct ob_terminate_params));
  F(struct ob_terminate_params, vm_id, "vtp_vm_id");
  end_struct();
  begin_struct("vm_exit_inout", sizeof(struct ob_exit_inout));
  F(struct ob_exit_inout, size, "vei_size");
  F(struct ob_exit_inout, dir, "vei_dir");
  F(struct ob_exit_inout, rep, "vei_rep");
  F(struct ob_exit_inout, string, "vei_string");
  F(struct ob_exit_inout, encoding, "vei_encoding");
  F(struct ob_exit_inout, port, "vei_port");
  F(struct ob_exit_inout, data, "vei_data");
  F(struct ob_exit_inout, insn_len, "vei_insn_len");
  end_struct();
  begin_struct("vm_exit", sizeof(struct ob_vm_exit));
  F(struct ob_vm_exit, u.vei, "vei");
  F(struct ob_vm_exit, u.vee, "vee");
  F(struct ob_vm_exit, vrs, "vrs");
  F(struct ob_vm_exit, cpl, "cpl");
  end_struct();
  run_params(abi->run_layout);
  begin_struct("vcpu_inject_event", sizeof(struct ob_inject_event));
  F(struct ob_inject_event, vector, "vie_vector");
  F(struct ob_inject_event, errorcode, "vie_errorcode");
  F(struct ob_inject_event, type, "vie_type");
  end_struct();
  begin_struct("ifreq", sizeof(struct ob_ifreq));
  F(struct ob_ifreq, name, "name");
  F(struct ob_ifreq, u.flags, "flags");
  F(struct ob_ifreq, u.mtu, "mtu");
  end_struct();
}

int main(void) {
  printf("{\"releases\":[");
  for (int r = 0; r < OB_RELEASE_COUNT; r++) {
    const struct ob_release_abi *abi = &ob_releases[r];
    printf("%s{\"release\":\"%s\",\"osrev\":%d,\"createLayout\":%d,\"runLayout\":%d,"
           "\"newSegmentOrder\":%s,\"userlandRipAdvance\":%s,\"kernelMemory\":%s,\"layouts\":{",
           r == 0 ? "" : ",", abi->release, abi->osrev, abi->create_layout, abi->run_layout,
           abi->new_segment_order ? "true" : "false", abi->userland_rip_advance ? "true" : "false",
           abi->kernel_memory ? "true" : "false");
    layouts(abi);
    printf("},\"ioctls\":[");
    for (int i = 0; i < OB_IOCTL_COUNT; i++) {
      printf("%s{\"name\":\"%s\",\"request\":%u}", i == 0 ? "" : ",", ob_ioctl_names[i],
             (unsigned)abi->request[i]);
    }
    printf("]}");
  }
  printf("],\"SIOCGIFFLAGS\":%u,\"SIOCGIFMTU\":%u}\n", (unsigned)OB_SIOCGIFFLAGS,
         (unsigned)OB_SIOCGIFMTU);
  return 0;
}
