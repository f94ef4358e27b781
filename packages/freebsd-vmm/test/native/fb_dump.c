/*
 * Prints fb_abi.h's tables as JSON: struct sizes and field offsets per release
 * line, and each line's ioctl command numbers. Compiled for the test host
 * (amd64 structs lay out the same under every LP64 ELF ABI) and compared with
 * src/abi.ts by test/native-tables.test.ts.
 */
#include "../../src/native/fb_abi.h"

int printf(const char *format, ...);

static int first_field;

static void begin_struct(const char *name, unsigned long size, int first) {
  printf("%s\"%s\":{\"size\":%lu,\"fields\":{", first ? "" : ",", name, size);
  first_field = 1;
}

static void field(const char *name, unsigned long offset) {
  printf("%s\"%s\":%lu", first_field ? "" : ",", name, offset);
  first_field = 0;
}

static void end_struct(void) { printf("}}"); }

#define F(type, member, name) field(name, HVT_OFFSETOF(type, member))

static void common_structs(void) {
  begin_struct("vm_exit", sizeof(struct fb_vm_exit), 1);
  F(struct fb_vm_exit, exitcode, "exitcode");
  F(struct fb_vm_exit, inst_length, "inst_length");
  F(struct fb_vm_exit, rip, "rip");
  F(struct fb_vm_exit, u, "u");
  F(struct fb_vm_exit, u.inout.port, "u.inout.port");
  F(struct fb_vm_exit, u.inout.eax, "u.inout.eax");
  F(struct fb_vm_exit, u.vmx.status, "u.vmx.status");
  F(struct fb_vm_exit, u.vmx.exit_reason, "u.vmx.exit_reason");
  F(struct fb_vm_exit, u.vmx.exit_qualification, "u.vmx.exit_qualification");
  F(struct fb_vm_exit, u.vmx.inst_type, "u.vmx.inst_type");
  F(struct fb_vm_exit, u.vmx.inst_error, "u.vmx.inst_error");
  F(struct fb_vm_exit, u.svm.exitcode, "u.svm.exitcode");
  F(struct fb_vm_exit, u.svm.exitinfo1, "u.svm.exitinfo1");
  F(struct fb_vm_exit, u.svm.exitinfo2, "u.svm.exitinfo2");
  F(struct fb_vm_exit, u.suspended.how, "u.suspended.how");
  end_struct();

  begin_struct("vm_memmap", sizeof(struct fb_vm_memmap), 0);
  F(struct fb_vm_memmap, gpa, "gpa");
  F(struct fb_vm_memmap, segid, "segid");
  F(struct fb_vm_memmap, segoff, "segoff");
  F(struct fb_vm_memmap, len, "len");
  F(struct fb_vm_memmap, prot, "prot");
  F(struct fb_vm_memmap, flags, "flags");
  end_struct();

  begin_struct("vm_register", sizeof(struct fb_vm_register), 0);
  F(struct fb_vm_register, cpuid, "cpuid");
  F(struct fb_vm_register, regnum, "regnum");
  F(struct fb_vm_register, regval, "regval");
  end_struct();

  begin_struct("vm_seg_desc", sizeof(struct fb_vm_seg_desc), 0);
  F(struct fb_vm_seg_desc, cpuid, "cpuid");
  F(struct fb_vm_seg_desc, regnum, "regnum");
  F(struct fb_vm_seg_desc, desc.base, "desc.base");
  F(struct fb_vm_seg_desc, desc.limit, "desc.limit");
  F(struct fb_vm_seg_desc, desc.access, "desc.access");
  end_struct();

  begin_struct("vm_capability", sizeof(struct fb_vm_capability), 0);
  F(struct fb_vm_capability, cpuid, "cpuid");
  F(struct fb_vm_capability, captype, "captype");
  F(struct fb_vm_capability, capval, "capval");
  F(struct fb_vm_capability, allcpus, "allcpus");
  end_struct();

  begin_struct("vm_activate_cpu", sizeof(struct fb_vm_activate_cpu), 0);
  F(struct fb_vm_activate_cpu, vcpuid, "vcpuid");
  end_struct();

  begin_struct("vm_suspend", sizeof(struct fb_vm_suspend), 0);
  F(struct fb_vm_suspend, how, "how");
  end_struct();

  begin_struct("ifreq", sizeof(struct fb_ifreq), 0);
  F(struct fb_ifreq, name, "name");
  F(struct fb_ifreq, u.mtu, "mtu");
  end_struct();
}

static void line_structs(int line) {
  if (line == FB_LINE_13) {
    begin_struct("vm_run", sizeof(struct fb_vm_run_13), 0);
    F(struct fb_vm_run_13, cpuid, "cpuid");
    F(struct fb_vm_run_13, vm_exit, "vm_exit");
    end_struct();
  } else {
    begin_struct("vm_run", sizeof(struct fb_vm_run_14), 0);
    F(struct fb_vm_run_14, cpuid, "cpuid");
    F(struct fb_vm_run_14, cpuset, "cpuset");
    F(struct fb_vm_run_14, cpusetsize, "cpusetsize");
    F(struct fb_vm_run_14, vm_exit, "vm_exit");
    end_struct();
  }
  if (line == FB_LINE_15) {
    begin_struct("vm_memseg", sizeof(struct fb_vm_memseg_15), 0);
    F(struct fb_vm_memseg_15, segid, "segid");
    F(struct fb_vm_memseg_15, len, "len");
    F(struct fb_vm_memseg_15, name, "name");
    F(struct fb_vm_memseg_15, ds_mask, "ds_mask");
    F(struct fb_vm_memseg_15, ds_mask_size, "ds_mask_size");
    F(struct fb_vm_memseg_15, ds_policy, "ds_policy");
    end_struct();
    begin_struct("vmmctl_vm_create", sizeof(struct fb_vmmctl_vm_create), 0);
    F(struct fb_vmmctl_vm_create, name, "name");
    F(struct fb_vmmctl_vm_create, reserved, "reserved");
    end_struct();
  } else {
    begin_struct("vm_memseg", sizeof(struct fb_vm_memseg_14), 0);
    F(struct fb_vm_memseg_14, segid, "segid");
    F(struct fb_vm_memseg_14, len, "len");
    F(struct fb_vm_memseg_14, name, "name");
    end_struct();
  }
}

int main(void) {
  static const char *const line_names[FB_LINE_COUNT] = {"13", "14", "15"};
  printf("{\"layouts\":{");
  for (int line = 0; line < FB_LINE_COUNT; line++) {
    printf("%s\"%s\":{", line == 0 ? "" : ",", line_names[line]);
    common_structs();
    line_structs(line);
    printf("}");
  }
  printf("},\"ioctls\":{");
  for (int line = 0; line < FB_LINE_COUNT; line++) {
    printf("%s\"%s\":[", line == 0 ? "" : ",", line_names[line]);
    for (int i = 0; i < FB_IOCTL_COUNT; i++) {
      printf("%s{\"name\":\"%s\",\"request\":%u}", i == 0 ? "" : ",", fb_ioctl_table[i].name,
             (unsigned)fb_ioctl_table[i].request[line]);
    }
    printf("]");
  }
  printf("},\"capRights\":{\"READ\":\"%llu\",\"WRITE\":\"%llu\",\"SEEK\":\"%llu\","
         "\"MMAP_RW\":\"%llu\",\"FSYNC\":\"%llu\",\"FSTAT\":\"%llu\",\"EVENT\":\"%llu\","
         "\"IOCTL\":\"%llu\"},\"SIOCGIFMTU\":%u}\n",
         FB_CAP_READ, FB_CAP_WRITE, FB_CAP_SEEK, FB_CAP_MMAP_RW, FB_CAP_FSYNC, FB_CAP_FSTAT,
         FB_CAP_EVENT, FB_CAP_IOCTL, (unsigned)FB_SIOCGIFMTU);
  return 0;
}
