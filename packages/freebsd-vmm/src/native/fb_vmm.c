/*
 * FreeBSD vmm(4) core: see fb_vmm.h. Facts come from docs/bsd-vmm.md
 * section 1 and docs/guest-abi.md 13.4; the layouts are in fb_abi.h.
 */
#include "fb_vmm.h"

#include "fb_abi.h"
#include "fb_libc.h"
#include "hvt/bsd_ring.h"

/* hvt/bsd_helper.h in this shim's names. */
#define HVT_BSD_LIBC(name) FB_##name
#define HVT_BSD_ERRNO fb_errno
#include "hvt/bsd_helper.h"

#if !defined(__FreeBSD__)
#error "fb_vmm.c is FreeBSD's vmm(4) core; it builds only for a FreeBSD target"
#endif

struct fb_vm {
  int line;
  int vmfd;
  /* 15+: /dev/vmmctl, kept so that the tender can still destroy the VM itself. */
  int ctlfd;
  /* Our end of the socket to the destroyer process (see fb_spawn_destroyer). */
  int chanfd;
  int created;
  char name[FB_VM_MAX_NAMELEN + 1];
  hvt_u8 *mem;
  hvt_u64 memsize;
  hvt_u32 run_request;
  union {
    struct fb_vm_run_13 r13;
    struct fb_vm_run_14 r14;
  } run;
  struct fb_vm_exit exit14;
  struct hvt_kicks kicks;
};

/* ---- small helpers (no libc string functions: hvt/bsd_libc.h has hvt_strlen, hvt_zero) ---- */

static int fb_fail(const char **step, const char *what) {
  int err = fb_errno;
  if (step != FB_NULL) *step = what;
  return -(err != 0 ? err : FB_EIO);
}

/* ---- tables ---- */

int fb_line_for(int osreldate) {
  if (osreldate >= FB_OSRELDATE_15) return FB_LINE_15;
  if (osreldate >= FB_OSRELDATE_14) return FB_LINE_14;
  if (osreldate >= FB_OSRELDATE_13) return FB_LINE_13;
  return -1;
}

hvt_u32 fb_ioctl_request(int line, int which) {
  if (line < 0 || line >= FB_LINE_COUNT || which < 0 || which >= FB_IOCTL_COUNT) return 0;
  return fb_ioctl_table[which].request[line];
}

const char *fb_ioctl_name(int which) {
  if (which < 0 || which >= FB_IOCTL_COUNT) return FB_NULL;
  return fb_ioctl_table[which].name;
}

int fb_ioctl_count(void) { return FB_IOCTL_COUNT; }

int fb_osreldate(int *out) {
  int value = 0;
  hvt_size len = sizeof(value);
  if (sysctlbyname("kern.osreldate", &value, &len, FB_NULL, 0) != 0) return fb_fail(FB_NULL, "");
  *out = value;
  return 0;
}

/* ---- destruction ---- */

/* Destroys VM `name` without help: the sysctl (any release) or /dev/vmmctl (15+). */
static int fb_destroy_by_name(int ctlfd, const char *name) {
  if (ctlfd >= 0) {
    struct fb_vmmctl_vm_create req;
    hvt_zero(&req, sizeof(req));
    for (hvt_size i = 0; name[i] != '\0' && i < FB_VM_MAX_NAMELEN; i++) req.name[i] = name[i];
    if (ioctl(ctlfd, FB_REQ_VMMCTL_VM_DESTROY, &req) == 0) return 0;
    return -fb_errno;
  }
  if (sysctlbyname("hw.vmm.destroy", FB_NULL, FB_NULL, name, hvt_strlen(name)) == 0) return 0;
  return -fb_errno;
}

/*
 * The destroyer, a helper process (hvt/bsd_helper.h). It keeps the socket and,
 * on 15+, the /dev/vmmctl fd; a byte from the tender, or the tender's end of
 * the socket closing (whatever killed it, SIGKILL included), makes it destroy
 * the VM, which must not outlive the tender. Only async-signal-safe calls: it
 * is forked from a multi-threaded process.
 */
__attribute__((noreturn)) static void fb_destroyer_main(int chan, const void *arg) {
  const struct fb_vm *vm = (const struct fb_vm *)arg;
  int ctlfd = hvt_helper_detach(chan, vm->ctlfd);
  if (ctlfd >= 0) {
    /* Best effort hardening of this helper: the ctl fd can destroy VMs in
       capability mode, so it keeps exactly that and the helper enters it. */
    struct fb_cap_rights ctl_rights = {{FB_CAPRIGHT(0, 0), FB_CAP_IOCTL}};
    struct fb_cap_rights chan_rights = {{FB_CAP_READ | FB_CAP_WRITE, FB_CAPRIGHT(1, 0)}};
    unsigned long destroy = FB_REQ_VMMCTL_VM_DESTROY;
    if (cap_rights_limit(ctlfd, &ctl_rights) == 0 && cap_ioctls_limit(ctlfd, &destroy, 1) == 0 &&
        cap_rights_limit(0, &chan_rights) == 0) {
      cap_enter();
    }
  }
  int asked = hvt_helper_await();
  hvt_helper_answer(asked, fb_destroy_by_name(ctlfd, vm->name));
}

/* Starts the destroyer; the tender keeps its end of the socket in vm->chanfd. */
static int fb_spawn_destroyer(struct fb_vm *vm, const char **step) {
  int chan = hvt_helper_spawn(fb_destroyer_main, vm, step);
  if (chan < 0) return chan;
  vm->chanfd = chan;
  return 0;
}

int fb_vm_destroy(struct fb_vm *vm, const char **step) {
  if (!vm->created) {
    hvt_close(&vm->vmfd);
    hvt_close(&vm->chanfd);
    hvt_close(&vm->ctlfd);
    return 0;
  }
  vm->created = 0;
  /* The device fd goes first: nothing may be inside a vmm ioctl while the VM goes. */
  hvt_close(&vm->vmfd);
  /* 1: the destroyer is gone, so the tender destroys the VM itself. */
  int r = hvt_helper_ask(vm->chanfd, 'd');
  if (r == 1) r = fb_destroy_by_name(vm->ctlfd, vm->name);
  if (r < 0 && step != FB_NULL) {
    *step = vm->ctlfd >= 0 ? "VMMCTL_VM_DESTROY" : "sysctl hw.vmm.destroy";
  }
  hvt_close(&vm->chanfd);
  hvt_close(&vm->ctlfd);
  return r;
}

/* ---- creation ---- */

struct fb_vm *fb_vm_new(void) {
  struct fb_vm *vm = (struct fb_vm *)calloc(1, sizeof(struct fb_vm));
  if (vm == FB_NULL) return FB_NULL;
  vm->vmfd = -1;
  vm->ctlfd = -1;
  vm->chanfd = -1;
  vm->line = -1;
  return vm;
}

void fb_vm_free(struct fb_vm *vm) { free(vm); }

static int fb_create_named(struct fb_vm *vm, const char **step) {
  if (vm->line >= FB_LINE_15) {
    vm->ctlfd = open("/dev/vmmctl", FB_O_RDWR | FB_O_CLOEXEC);
    if (vm->ctlfd >= 0) {
      struct fb_vmmctl_vm_create req;
      hvt_zero(&req, sizeof(req));
      for (hvt_size i = 0; vm->name[i] != '\0'; i++) req.name[i] = vm->name[i];
      if (ioctl(vm->ctlfd, FB_REQ_VMMCTL_VM_CREATE, &req) != 0) {
        int err = fb_fail(step, "VMMCTL_VM_CREATE");
        hvt_close(&vm->ctlfd);
        return err;
      }
      return 0;
    }
    /* Early 15-CURRENT kernels had no /dev/vmmctl: the sysctl still works. */
    if (fb_errno != FB_ENOENT) return fb_fail(step, "open /dev/vmmctl");
  }
  if (sysctlbyname("hw.vmm.create", FB_NULL, FB_NULL, vm->name, hvt_strlen(vm->name)) != 0) {
    return fb_fail(step, "sysctl hw.vmm.create");
  }
  return 0;
}

static int fb_alloc_memseg(struct fb_vm *vm, const char **step) {
  /* Each layout is tried with its own number; a kernel without the other
     release's compat entry answers ENOTTY, and the other layout is tried. */
  int first15 = vm->line >= FB_LINE_15;
  for (int attempt = 0; attempt < 2; attempt++) {
    int use15 = attempt == 0 ? first15 : !first15;
    int r;
    if (use15) {
      struct fb_vm_memseg_15 seg;
      hvt_zero(&seg, sizeof(seg));
      seg.segid = FB_VM_SYSMEM;
      seg.len = vm->memsize;
      r = ioctl(vm->vmfd, FB_REQ_VM_ALLOC_MEMSEG_15, &seg);
    } else {
      struct fb_vm_memseg_14 seg;
      hvt_zero(&seg, sizeof(seg));
      seg.segid = FB_VM_SYSMEM;
      seg.len = vm->memsize;
      r = ioctl(vm->vmfd, FB_REQ_VM_ALLOC_MEMSEG_13, &seg);
    }
    if (r == 0) return 0;
    if (fb_errno != FB_ENOTTY) break;
  }
  return fb_fail(step, "VM_ALLOC_MEMSEG");
}

int fb_vm_create(struct fb_vm *vm, int osreldate, const char *name, hvt_u64 memsize,
                 const char **step) {
  vm->line = fb_line_for(osreldate);
  if (vm->line < 0) {
    if (step != FB_NULL) *step = "kern.osreldate";
    return -FB_ENOTSUP;
  }
  hvt_size len = hvt_strlen(name);
  if (len == 0 || len > FB_VM_MAX_NAMELEN || memsize == 0) {
    if (step != FB_NULL) *step = "name";
    return -FB_EINVAL;
  }
  for (hvt_size i = 0; i <= len; i++) vm->name[i] = name[i];
  vm->memsize = memsize;
  vm->run_request = fb_ioctl_table[FB_VM_RUN].request[vm->line];

  int r = fb_create_named(vm, step);
  if (r < 0) return r;
  vm->created = 1;

  /* From here on every failure must take the VM down again. */
  r = fb_spawn_destroyer(vm, step);
  if (r < 0) goto fail;

  char path[sizeof("/dev/vmm/") + FB_VM_MAX_NAMELEN];
  static const char prefix[] = "/dev/vmm/";
  hvt_size p = 0;
  for (; prefix[p] != '\0'; p++) path[p] = prefix[p];
  for (hvt_size i = 0; i <= len; i++) path[p + i] = name[i];
  vm->vmfd = open(path, FB_O_RDWR | FB_O_CLOEXEC);
  if (vm->vmfd < 0) {
    r = fb_fail(step, "open");
    goto fail;
  }

  /* Without this a guest HLT would not leave guest mode. */
  struct fb_vm_capability cap = {0, FB_VM_CAP_HALT_EXIT, 1, 0};
  if (ioctl(vm->vmfd, FB_REQ_VM_SET_CAPABILITY, &cap) != 0) {
    r = fb_fail(step, "VM_SET_CAPABILITY");
    goto fail;
  }
  r = fb_alloc_memseg(vm, step);
  if (r < 0) goto fail;

  struct fb_vm_memmap map;
  hvt_zero(&map, sizeof(map));
  map.gpa = 0;
  map.segid = FB_VM_SYSMEM;
  map.segoff = 0;
  map.len = memsize;
  map.prot = FB_PROT_READ | FB_PROT_WRITE | FB_PROT_EXEC;
  map.flags = 0;
  if (ioctl(vm->vmfd, FB_REQ_VM_MMAP_MEMSEG, &map) != 0) {
    r = fb_fail(step, "VM_MMAP_MEMSEG");
    goto fail;
  }

  void *mem = mmap(FB_NULL, memsize, FB_PROT_READ | FB_PROT_WRITE, FB_MAP_SHARED, vm->vmfd, 0);
  if (mem == FB_MAP_FAILED) {
    r = fb_fail(step, "mmap");
    goto fail;
  }
  vm->mem = (hvt_u8 *)mem;

  hvt_zero(&vm->run, sizeof(vm->run));
  if (vm->line == FB_LINE_13) {
    vm->run.r13.cpuid = 0;
  } else {
    vm->run.r14.cpuid = 0;
    vm->run.r14.cpuset = FB_NULL;
    vm->run.r14.cpusetsize = 0;
    vm->run.r14.vm_exit = &vm->exit14;
  }
  return 0;

fail:
  fb_vm_destroy(vm, FB_NULL);
  return r;
}

hvt_u8 *fb_vm_memory(const struct fb_vm *vm, hvt_u64 *size) {
  *size = vm->memsize;
  return vm->mem;
}

int fb_vm_line(const struct fb_vm *vm) { return vm->line; }
int fb_vm_fd(const struct fb_vm *vm) { return vm->vmfd; }
int fb_vm_destroyer_fd(const struct fb_vm *vm) { return vm->chanfd; }
int fb_vm_ctl_fd(const struct fb_vm *vm) { return vm->ctlfd; }

/* ---- vCPU state ---- */

static int fb_live(const struct fb_vm *vm) { return vm->vmfd >= 0 ? 0 : -FB_EBADF; }

int fb_vm_set_register(struct fb_vm *vm, int regnum, hvt_u64 value) {
  if (fb_live(vm) < 0) return -FB_EBADF;
  struct fb_vm_register reg = {0, regnum, value};
  return ioctl(vm->vmfd, FB_REQ_VM_SET_REGISTER, &reg) == 0 ? 0 : -fb_errno;
}

int fb_vm_get_register(struct fb_vm *vm, int regnum, hvt_u64 *value) {
  if (fb_live(vm) < 0) return -FB_EBADF;
  struct fb_vm_register reg = {0, regnum, 0};
  if (ioctl(vm->vmfd, FB_REQ_VM_GET_REGISTER, &reg) != 0) return -fb_errno;
  *value = reg.regval;
  return 0;
}

int fb_vm_set_segment(struct fb_vm *vm, int regnum, hvt_u64 base, hvt_u32 limit, hvt_u32 access) {
  if (fb_live(vm) < 0) return -FB_EBADF;
  struct fb_vm_seg_desc desc = {0, regnum, {base, limit, access}};
  return ioctl(vm->vmfd, FB_REQ_VM_SET_SEGMENT_DESCRIPTOR, &desc) == 0 ? 0 : -fb_errno;
}

int fb_vm_get_segment(struct fb_vm *vm, int regnum, hvt_u64 *base, hvt_u32 *limit,
                      hvt_u32 *access) {
  if (fb_live(vm) < 0) return -FB_EBADF;
  struct fb_vm_seg_desc desc = {0, regnum, {0, 0, 0}};
  if (ioctl(vm->vmfd, FB_REQ_VM_GET_SEGMENT_DESCRIPTOR, &desc) != 0) return -fb_errno;
  *base = desc.desc.base;
  *limit = desc.desc.limit;
  *access = desc.desc.access;
  return 0;
}

int fb_vm_activate(struct fb_vm *vm) {
  if (fb_live(vm) < 0) return -FB_EBADF;
  struct fb_vm_activate_cpu act = {0};
  return ioctl(vm->vmfd, FB_REQ_VM_ACTIVATE_CPU, &act) == 0 ? 0 : -fb_errno;
}

int fb_vm_add_kick(struct fb_vm *vm, int port, int fd) {
  int r = hvt_kicks_set(&vm->kicks, port, fd);
  if (r == HVT_KICK_TABLE_FULL) return -FB_ENOMEM;
  return r == 0 ? 0 : -FB_EINVAL;
}

/* ---- signals ---- */

static volatile int fb_signal_number;
/* The vCPU id field of the run struct about to be passed to VM_RUN, or null. */
static hvt_i32 *volatile fb_armed_cpuid;

void fb_signal_arrived(int sig) {
  fb_signal_number = sig;
  hvt_i32 *volatile cpuid = fb_armed_cpuid;
  /* An invalid vCPU id makes a VM_RUN that has not yet entered the kernel fail
     with EINVAL at once, instead of running the guest until its next exit. */
  if (cpuid != FB_NULL) *(volatile hvt_i32 *)cpuid = -1;
}

int fb_pending_signal(void) { return fb_signal_number; }

static int fb_io_failures;

void fb_io_thread_failure(int delta) { hvt_io_failures_add(&fb_io_failures, delta); }

int fb_io_thread_failed(void) { return hvt_io_failures_pending(&fb_io_failures); }

void fb_io_thread_interrupt(void) {
  hvt_i32 *volatile cpuid = fb_armed_cpuid;
  if (cpuid != FB_NULL) *(volatile hvt_i32 *)cpuid = -1;
}

/* ---- the run loop ---- */

static void fb_split(double *exit, int lo, hvt_u64 value) {
  exit[lo] = (double)(hvt_u32)value;
  exit[lo + 1] = (double)(hvt_u32)(value >> 32);
}

int fb_vm_run(struct fb_vm *vm, double *exit) {
  if (fb_live(vm) < 0) return -FB_EBADF;
  hvt_i32 *cpuid = vm->line == FB_LINE_13 ? &vm->run.r13.cpuid : &vm->run.r14.cpuid;
  struct fb_vm_exit *ve = vm->line == FB_LINE_13 ? &vm->run.r13.vm_exit : &vm->exit14;
  *cpuid = 0;
  fb_armed_cpuid = cpuid;
  int kind;
  for (;;) {
    if (fb_signal_number != 0) {
      exit[FB_FIELD_REASON] = 0;
      exit[FB_FIELD_SIGNAL] = fb_signal_number;
      kind = FB_EXIT_SIGNAL;
      break;
    }
    if (fb_io_thread_failed()) {
      exit[FB_FIELD_REASON] = 0;
      kind = FB_EXIT_IO_THREAD;
      break;
    }
    if (ioctl(vm->vmfd, vm->run_request, &vm->run) != 0) {
      int err = fb_errno;
      /* EINVAL after a signal is the poisoned vCPU id: the checks above report it. */
      if (err == FB_EINTR || fb_signal_number != 0 || fb_io_thread_failed()) continue;
      kind = -err;
      break;
    }
    exit[FB_FIELD_REASON] = ve->exitcode;
    fb_split(exit, FB_FIELD_RIP_LO, ve->rip);
    exit[FB_FIELD_INST_LENGTH] = ve->inst_length;
    switch (ve->exitcode) {
      case FB_EXITCODE_INOUT: {
        hvt_u16 flags = ve->u.inout.flags;
        hvt_u32 bytes = FB_INOUT_BYTES(flags);
        int out = !FB_INOUT_IN(flags);
        hvt_u16 port = ve->u.inout.port;
        int kick = out && bytes == 4 ? hvt_kicks_fd(&vm->kicks, port) : -1;
        if (kick >= 0) {
          /* One byte wakes the ring thread; a full pipe (EAGAIN) is already
             readable. The kernel already moved RIP past the OUT: run again. */
          static const char one = 1;
          write(kick, &one, 1);
          continue;
        }
        hvt_u32 value = ve->u.inout.eax;
        if (bytes == 1) value &= 0xffu;
        if (bytes == 2) value &= 0xffffu;
        exit[FB_FIELD_PORT] = port;
        exit[FB_FIELD_SIZE] = bytes;
        exit[FB_FIELD_DIRECTION] = out ? 1 : 0;
        exit[FB_FIELD_VALUE] = value;
        kind = FB_EXIT_IO;
        break;
      }
      case FB_EXITCODE_BOGUS:
      case FB_EXITCODE_REQIDLE:
      case FB_EXITCODE_DEBUG:
        /* Nothing to do for the tender (a signal, a yield): run again. */
        continue;
      case FB_EXITCODE_SUSPENDED:
        if (fb_signal_number != 0) continue;
        exit[FB_FIELD_DETAIL] = ve->u.suspended.how;
        kind = FB_EXIT_OTHER;
        break;
      case FB_EXITCODE_VMX:
        exit[FB_FIELD_DETAIL] = ve->u.vmx.exit_reason;
        exit[FB_FIELD_VMX_STATUS] = ve->u.vmx.status;
        fb_split(exit, FB_FIELD_QUALIFICATION_LO, ve->u.vmx.exit_qualification);
        exit[FB_FIELD_VMX_INST_TYPE] = ve->u.vmx.inst_type;
        exit[FB_FIELD_VMX_INST_ERROR] = ve->u.vmx.inst_error;
        kind = FB_EXIT_OTHER;
        break;
      case FB_EXITCODE_SVM:
        exit[FB_FIELD_DETAIL] = (double)ve->u.svm.exitcode;
        fb_split(exit, FB_FIELD_QUALIFICATION_LO, ve->u.svm.exitinfo1);
        fb_split(exit, FB_FIELD_SVM_INFO2_LO, ve->u.svm.exitinfo2);
        kind = FB_EXIT_OTHER;
        break;
      default:
        kind = FB_EXIT_OTHER;
        break;
    }
    break;
  }
  fb_armed_cpuid = FB_NULL;
  return kind;
}

/* ---- host memory ---- */

int fb_unmap_guest(hvt_u8 *addr, hvt_u64 size) {
  if (addr == FB_NULL || size == 0) return 0;
  return munmap(addr, size) == 0 ? 0 : -fb_errno;
}

int fb_protect(hvt_u8 *addr, hvt_u64 len, int prot) {
  return mprotect(addr, len, prot) == 0 ? 0 : -fb_errno;
}

int fb_resident(const hvt_u8 *addr, hvt_u64 len, hvt_u8 *out) {
  /* Host pages are 4 KiB on amd64, the granule asked for. */
  if (len == 0) return 0;
  if (mincore(addr, len, (char *)out) != 0) return -fb_errno;
  hvt_u64 pages = (len + 4095) / 4096;
  for (hvt_u64 i = 0; i < pages; i++) out[i] &= 1u;
  return 0;
}

int fb_tsc(hvt_u64 *hz, int *invariant, const char **step) {
  int inv = 0;
  hvt_size len = sizeof(inv);
  if (sysctlbyname("kern.timecounter.invariant_tsc", &inv, &len, FB_NULL, 0) != 0) {
    return fb_fail(step, "sysctl kern.timecounter.invariant_tsc");
  }
  hvt_u64 freq = 0;
  len = sizeof(freq);
  if (sysctlbyname("machdep.tsc_freq", &freq, &len, FB_NULL, 0) != 0) {
    return fb_fail(step, "sysctl machdep.tsc_freq");
  }
  *hz = freq;
  *invariant = inv;
  return 0;
}

/* ---- tap ---- */

int fb_tap_open(const char *name, int *fd, int *mtu, const char **step) {
  hvt_size len = hvt_strlen(name);
  if (len == 0 || len >= FB_IFNAMSIZ) {
    if (step != FB_NULL) *step = "open";
    return len == 0 ? -FB_EINVAL : -FB_ENAMETOOLONG;
  }
  for (hvt_size i = 0; i < len; i++) {
    /* A name is one path component under /dev, never a way out of it. */
    if (name[i] == '/' || (name[i] == '.' && (i == 0))) {
      if (step != FB_NULL) *step = "open";
      return -FB_EINVAL;
    }
  }
  char path[sizeof("/dev/") + FB_IFNAMSIZ];
  static const char prefix[] = "/dev/";
  hvt_size p = 0;
  for (; prefix[p] != '\0'; p++) path[p] = prefix[p];
  for (hvt_size i = 0; i <= len; i++) path[p + i] = name[i];

  int tap = open(path, FB_O_RDWR | FB_O_NONBLOCK | FB_O_CLOEXEC);
  if (tap < 0) return fb_fail(step, "open");
  int sock = socket(FB_AF_INET, FB_SOCK_DGRAM | FB_SOCK_CLOEXEC, 0);
  if (sock < 0) {
    int err = fb_fail(step, "socket");
    close(tap);
    return err;
  }
  struct fb_ifreq ifr;
  hvt_zero(&ifr, sizeof(ifr));
  for (hvt_size i = 0; i < len; i++) ifr.name[i] = name[i];
  if (ioctl(sock, FB_SIOCGIFMTU, &ifr) != 0) {
    int err = fb_fail(step, "SIOCGIFMTU");
    close(sock);
    close(tap);
    return err;
  }
  close(sock);
  *fd = tap;
  *mtu = ifr.u.mtu;
  return 0;
}

/* ---- Capsicum ---- */

#define FB_MAX_IOCTLS 256

int fb_cap_limit(int fd, hvt_u64 rights0, hvt_u64 rights1, const hvt_u32 *ioctls, long nioctls,
                 long fcntls, const char **step) {
  struct fb_cap_rights rights = {{rights0, rights1}};
  if (cap_rights_limit(fd, &rights) != 0) return fb_fail(step, "cap_rights_limit");
  if (nioctls >= 0) {
    if (nioctls > FB_MAX_IOCTLS) {
      if (step != FB_NULL) *step = "cap_ioctls_limit";
      return -FB_EINVAL;
    }
    unsigned long cmds[FB_MAX_IOCTLS];
    for (long i = 0; i < nioctls; i++) cmds[i] = ioctls[i];
    if (cap_ioctls_limit(fd, cmds, (hvt_size)nioctls) != 0) return fb_fail(step, "cap_ioctls_limit");
  }
  if (fcntls >= 0) {
    if (cap_fcntls_limit(fd, (hvt_u32)fcntls) != 0) return fb_fail(step, "cap_fcntls_limit");
  }
  return 0;
}

int fb_cap_enter(void) { return cap_enter() == 0 ? 0 : -fb_errno; }

int fb_cap_mode(void) {
  unsigned int mode = 0;
  if (cap_getmode(&mode) != 0) return -fb_errno;
  return mode != 0 ? 1 : 0;
}
