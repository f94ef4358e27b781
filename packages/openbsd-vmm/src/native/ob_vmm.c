/*
 * OpenBSD vmm(4) core: see ob_vmm.h. Facts come from docs/bsd-vmm.md
 * section 2 and docs/guest-abi.md 13.5 and 14.3; the layouts are in ob_abi.h.
 */
#include "ob_vmm.h"

#include "hvt/bsd_ring.h"
#include "ob_abi.h"
#include "ob_libc.h"

/* hvt/bsd_helper.h in this shim's names. */
#define HVT_BSD_LIBC(name) OB_##name
#define HVT_BSD_ERRNO ob_errno
#include "hvt/bsd_helper.h"

#if !defined(__OpenBSD__)
#error "ob_vmm.c is OpenBSD's vmm(4) core; it builds only for an OpenBSD target"
#endif

int minherit(void *addr, hvt_size len, int inherit);
#define OB_MAP_INHERIT_NONE 2

struct ob_vm {
  int release;
  const struct ob_release_abi *abi;
  int vmmfd;
  /* Our end of the socket to the terminator process (see ob_spawn_terminator). */
  int chanfd;
  int created;
  hvt_u32 vm_id;
  char name[OB_MAX_NAME_LEN];
  hvt_u8 *mem;
  hvt_u64 memsize;
  union {
    struct ob_vrp_74 r74;
    struct ob_vrp_76 r76;
  } vrp;
  struct ob_vm_exit exit;
  /* The last exit was port I/O: on 7.5+ RIP must move past the instruction. */
  int pending_rip_advance;
  struct hvt_kicks kicks;
};

/* ---- small helpers ---- */

static int ob_fail(const char **step, const char *what) {
  int err = ob_errno;
  if (step != OB_NULL) *step = what;
  return -(err != 0 ? err : OB_EIO);
}

/* ---- tables ---- */

int ob_release_count(void) { return OB_RELEASE_COUNT; }
int ob_ioctl_count(void) { return OB_IOCTL_COUNT; }

const char *ob_release_name(int release) {
  if (release < 0 || release >= OB_RELEASE_COUNT) return OB_NULL;
  return ob_releases[release].release;
}

const char *ob_ioctl_name(int which) {
  if (which < 0 || which >= OB_IOCTL_COUNT) return OB_NULL;
  return ob_ioctl_names[which];
}

hvt_u32 ob_ioctl_request(int release, int which) {
  if (release < 0 || release >= OB_RELEASE_COUNT || which < 0 || which >= OB_IOCTL_COUNT) return 0;
  return ob_releases[release].request[which];
}

int ob_osrelease(char *buf, hvt_size len) {
  int mib[2] = {OB_CTL_KERN, OB_KERN_OSRELEASE};
  hvt_size got = len;
  if (len == 0) return -OB_EINVAL;
  if (sysctl(mib, 2, buf, &got, OB_NULL, 0) != 0) return -ob_errno;
  buf[got < len ? got : len - 1] = '\0';
  return 0;
}

/* ---- termination ---- */

static int ob_terminate_direct(int vmmfd, hvt_u32 vm_id) {
  struct ob_terminate_params term = {vm_id};
  return ioctl(vmmfd, OB_REQ_TERM, &term) == 0 ? 0 : -ob_errno;
}

/*
 * The terminator, a helper process (hvt/bsd_helper.h). It keeps the socket and
 * a /dev/vmm fd; a byte from the tender, or the tender's end of the socket
 * closing (however it died), makes it terminate the VM: closing /dev/vmm does
 * not tear a VM down. Only async-signal-safe calls: it is forked from a
 * multi-threaded process.
 */
__attribute__((noreturn)) static void ob_terminator_main(int chan, const void *arg) {
  const struct ob_vm *vm = (const struct ob_vm *)arg;
  if (hvt_helper_detach(chan, vm->vmmfd) != 1) _exit(2);
  /* Best-effort hardening of this helper. A pledged process may look up a VM
     it did not create only while it also holds "proc" (vm_find in vmm.c). */
  pledge("stdio vmm proc", OB_NULL);
  int asked = hvt_helper_await();
  hvt_helper_answer(asked, ob_terminate_direct(1, vm->vm_id));
}

/* Starts the terminator; the pledged tender keeps its end of the socket in vm->chanfd. */
static int ob_spawn_terminator(struct ob_vm *vm, const char **step) {
  int chan = hvt_helper_spawn(ob_terminator_main, vm, step);
  if (chan < 0) return chan;
  vm->chanfd = chan;
  return 0;
}

int ob_vm_destroy(struct ob_vm *vm, const char **step) {
  int r = 0;
  if (vm->created) {
    vm->created = 0;
    /* 1: the terminator is gone, so the tender terminates the VM itself. */
    r = hvt_helper_ask(vm->chanfd, 't');
    if (r == 1) r = ob_terminate_direct(vm->vmmfd, vm->vm_id);
    if (r < 0 && step != OB_NULL) *step = "VMM_IOC_TERM";
  }
  hvt_close(&vm->chanfd);
  hvt_close(&vm->vmmfd);
  return r;
}

/* ---- creation ---- */

struct ob_vm *ob_vm_new(void) {
  struct ob_vm *vm = (struct ob_vm *)calloc(1, sizeof(struct ob_vm));
  if (vm == OB_NULL) return OB_NULL;
  vm->vmmfd = -1;
  vm->chanfd = -1;
  vm->release = -1;
  return vm;
}

void ob_vm_free(struct ob_vm *vm) { free(vm); }

int ob_vm_create(struct ob_vm *vm, int release, const char *name, hvt_u64 memsize,
                 const char **step) {
  if (release < 0 || release >= OB_RELEASE_COUNT) {
    if (step != OB_NULL) *step = "kern.osrelease";
    return -OB_ENOTSUP;
  }
  hvt_size len = hvt_strlen(name);
  if (len == 0 || len >= OB_MAX_NAME_LEN || memsize == 0 || memsize % 4096 != 0) {
    if (step != OB_NULL) *step = "name";
    return -OB_EINVAL;
  }
  vm->release = release;
  vm->abi = &ob_releases[release];
  for (hvt_size i = 0; i <= len; i++) vm->name[i] = name[i];
  vm->memsize = memsize;

  vm->vmmfd = open("/dev/vmm", OB_O_RDWR | OB_O_CLOEXEC);
  if (vm->vmmfd < 0) return ob_fail(step, "open");

  int r;
  if (!vm->abi->kernel_memory) {
    void *mem = mmap(OB_NULL, memsize, OB_PROT_READ | OB_PROT_WRITE, OB_MAP_PRIVATE | OB_MAP_ANON,
                     -1, 0);
    if (mem == OB_MAP_FAILED) {
      r = ob_fail(step, "mmap");
      goto fail;
    }
    vm->mem = (hvt_u8 *)mem;
    /* As 7.8's kernel does for its own mapping: the terminator forked below
       must not share guest RAM copy-on-write with the tender. */
    if (minherit(mem, memsize, OB_MAP_INHERIT_NONE) != 0) {
      r = ob_fail(step, "minherit");
      goto fail;
    }
  }

  union {
    struct ob_vcp_74 v74;
    struct ob_vcp_76 v76;
    struct ob_vcp_78 v78;
  } vcp;
  hvt_zero(&vcp, sizeof(vcp));
  struct ob_vcp_head *h = &vcp.v74.h;
  h->nmemranges = 1;
  /* The kernel refuses anything but one vCPU ("UP only"). */
  h->ncpus = 1;
  h->memranges[0].gpa = 0;
  h->memranges[0].va = (hvt_u64)(__UINTPTR_TYPE__)vm->mem;
  h->memranges[0].size = memsize;
  h->memranges[0].type = OB_VM_MEM_RAM;
  for (hvt_size i = 0; i <= len; i++) h->name[i] = name[i];
  if (ioctl(vm->vmmfd, vm->abi->request[OB_VMM_IOC_CREATE], &vcp) != 0) {
    r = ob_fail(step, "VMM_IOC_CREATE");
    goto fail;
  }
  vm->created = 1;
  switch (vm->abi->create_layout) {
    case 74:
      vm->vm_id = vcp.v74.id;
      break;
    case 76:
      vm->vm_id = vcp.v76.id;
      break;
    default:
      vm->vm_id = vcp.v78.id;
      break;
  }
  if (vm->abi->kernel_memory) {
    /* 7.8+: the kernel mapped the range into us (immutable) and says where. */
    vm->mem = (hvt_u8 *)(__UINTPTR_TYPE__)h->memranges[0].va;
  }

  r = ob_spawn_terminator(vm, step);
  if (r < 0) goto fail;

  hvt_zero(&vm->vrp, sizeof(vm->vrp));
  hvt_zero(&vm->exit, sizeof(vm->exit));
  if (vm->abi->run_layout == 74) {
    vm->vrp.r74.vm_id = vm->vm_id;
    vm->vrp.r74.vcpu_id = 0;
    vm->vrp.r74.cont = 0;
    /* vmd's "no interrupt to inject" */
    vm->vrp.r74.irq = 0xffff;
    vm->vrp.r74.exit = &vm->exit;
  } else {
    vm->vrp.r76.vm_id = vm->vm_id;
    vm->vrp.r76.vcpu_id = 0;
    vm->vrp.r76.inject.type = OB_INJECT_NONE;
    vm->vrp.r76.exit = &vm->exit;
  }
  return 0;

fail:
  ob_vm_destroy(vm, OB_NULL);
  if (vm->mem != OB_NULL) {
    ob_unmap_guest(vm->mem, memsize, vm->abi->kernel_memory);
    vm->mem = OB_NULL;
  }
  return r;
}

hvt_u8 *ob_vm_memory(const struct ob_vm *vm, hvt_u64 *size) {
  *size = vm->memsize;
  return vm->mem;
}

int ob_vm_kernel_memory(const struct ob_vm *vm) { return vm->abi != OB_NULL && vm->abi->kernel_memory; }
hvt_u32 ob_vm_id(const struct ob_vm *vm) { return vm->vm_id; }
int ob_vm_fd(const struct ob_vm *vm) { return vm->vmmfd; }
int ob_vm_terminator_fd(const struct ob_vm *vm) { return vm->chanfd; }

/* ---- vCPU state ---- */

int ob_vm_reset_cpu(struct ob_vm *vm, const hvt_u8 *state, hvt_size len) {
  if (!vm->created) return -OB_EBADF;
  if (len != sizeof(struct ob_vcpu_reg_state)) return -OB_EINVAL;
  struct ob_resetcpu_params params;
  hvt_zero(&params, sizeof(params));
  params.vm_id = vm->vm_id;
  params.vcpu_id = 0;
  hvt_u8 *dst = (hvt_u8 *)&params.state;
  for (hvt_size i = 0; i < len; i++) dst[i] = state[i];
  return ioctl(vm->vmmfd, vm->abi->request[OB_VMM_IOC_RESETCPU], &params) == 0 ? 0 : -ob_errno;
}

int ob_vm_read_regs(struct ob_vm *vm, hvt_u8 *state, hvt_size len) {
  if (!vm->created) return -OB_EBADF;
  if (len != sizeof(struct ob_vcpu_reg_state)) return -OB_EINVAL;
  struct ob_rwregs_params params;
  hvt_zero(&params, sizeof(params));
  params.vm_id = vm->vm_id;
  params.vcpu_id = 0;
  params.mask = OB_RWREGS_ALL;
  if (ioctl(vm->vmmfd, vm->abi->request[OB_VMM_IOC_READREGS], &params) != 0) return -ob_errno;
  const hvt_u8 *src = (const hvt_u8 *)&params.regs;
  for (hvt_size i = 0; i < len; i++) state[i] = src[i];
  return 0;
}

int ob_vm_probe(int release, hvt_u32 vm_id) {
  if (release < 0 || release >= OB_RELEASE_COUNT) return -OB_EINVAL;
  int fd = open("/dev/vmm", OB_O_RDWR | OB_O_CLOEXEC);
  if (fd < 0) return -ob_errno;
  struct ob_rwregs_params params;
  hvt_zero(&params, sizeof(params));
  params.vm_id = vm_id;
  params.vcpu_id = 0;
  params.mask = OB_RWREGS_ALL;
  int r = ioctl(fd, ob_releases[release].request[OB_VMM_IOC_READREGS], &params);
  int err = ob_errno;
  close(fd);
  if (r == 0) return 1;
  return err == OB_ENOENT ? 0 : -err;
}

/* ---- signals ---- */

static volatile int ob_signal_number;
/* The vCPU id field of the run parameters about to be passed to VMM_IOC_RUN, or null. */
static hvt_u32 *volatile ob_armed_vcpu_id;

void ob_signal_arrived(int sig) {
  ob_signal_number = sig;
  hvt_u32 *volatile id = ob_armed_vcpu_id;
  /* No such vCPU: a VMM_IOC_RUN that has not yet entered the kernel fails with
     ENOENT at once instead of running the guest until its next exit. */
  if (id != OB_NULL) *(volatile hvt_u32 *)id = 0xffffffffu;
}

int ob_pending_signal(void) { return ob_signal_number; }

static int ob_io_failures;

void ob_io_thread_failure(int delta) { hvt_io_failures_add(&ob_io_failures, delta); }

int ob_io_thread_failed(void) { return hvt_io_failures_pending(&ob_io_failures); }

void ob_io_thread_interrupt(void) {
  hvt_u32 *volatile id = ob_armed_vcpu_id;
  if (id != OB_NULL) *(volatile hvt_u32 *)id = 0xffffffffu;
}

int ob_vm_add_kick(struct ob_vm *vm, int port, int fd) {
  int r = hvt_kicks_set(&vm->kicks, port, fd);
  if (r == HVT_KICK_TABLE_FULL) return -OB_ENOMEM;
  return r == 0 ? 0 : -OB_EINVAL;
}

/* ---- the run loop ---- */

int ob_vm_run(struct ob_vm *vm, double *exit) {
  if (!vm->created) return -OB_EBADF;
  int old_layout = vm->abi->run_layout == 74;
  hvt_u32 *vcpu_id = old_layout ? &vm->vrp.r74.vcpu_id : &vm->vrp.r76.vcpu_id;
  *vcpu_id = 0;
  ob_armed_vcpu_id = vcpu_id;
  int kind;
  for (;;) {
    if (ob_signal_number != 0) {
      exit[OB_FIELD_REASON] = 0;
      exit[OB_FIELD_SIGNAL] = ob_signal_number;
      kind = OB_EXIT_SIGNAL;
      break;
    }
    if (ob_io_thread_failed()) {
      exit[OB_FIELD_REASON] = 0;
      kind = OB_EXIT_IO_THREAD;
      break;
    }
    if (vm->pending_rip_advance) {
      /* 7.5+: the kernel takes RIP from the exit buffer it copies in. */
      vm->exit.vrs.gprs[OB_REG_RIP] += vm->exit.u.vei.insn_len;
      vm->pending_rip_advance = 0;
    }
    if (ioctl(vm->vmmfd, vm->abi->request[OB_VMM_IOC_RUN], &vm->vrp) != 0) {
      int err = ob_errno;
      /* ENOENT after a signal is the poisoned vCPU id: the checks above report it. */
      if (err == OB_EINTR || ob_signal_number != 0 || ob_io_thread_failed()) continue;
      kind = -err;
      break;
    }
    hvt_u16 reason;
    if (old_layout) {
      reason = vm->vrp.r74.exit_reason;
      /* From now on each run carries our answer to the previous exit (vmd does the same). */
      vm->vrp.r74.cont = 1;
      vm->vrp.r74.irq = 0xffff;
    } else {
      reason = vm->vrp.r76.exit_reason;
      vm->vrp.r76.inject.type = OB_INJECT_NONE;
    }
    exit[OB_FIELD_REASON] = reason;
    switch (reason) {
      case OB_REASON_NONE:
        /* A yield or an interrupt: nothing for the tender. */
        continue;
      case OB_REASON_VMX_IO:
      case OB_REASON_SVM_IOIO: {
        struct ob_exit_inout *vei = &vm->exit.u.vei;
        int out = vei->dir == OB_VEI_DIR_OUT;
        int kick = out && vei->size == 4 ? hvt_kicks_fd(&vm->kicks, vei->port) : -1;
        if (kick >= 0) {
          /* One byte wakes the ring thread; a full pipe (EAGAIN) is already
             readable. Then past the OUT (7.5+: by us, at the top) and on. */
          static const char one = 1;
          write(kick, &one, 1);
          vm->pending_rip_advance = vm->abi->userland_rip_advance;
          continue;
        }
        hvt_u32 value = vei->data;
        if (vei->size == 1) value &= 0xffu;
        if (vei->size == 2) value &= 0xffffu;
        exit[OB_FIELD_PORT] = vei->port;
        exit[OB_FIELD_SIZE] = vei->size;
        exit[OB_FIELD_DIRECTION] = out ? 1 : 0;
        exit[OB_FIELD_VALUE] = value;
        exit[OB_FIELD_INSN_LEN] = vm->abi->userland_rip_advance ? vei->insn_len : 0;
        /* Deferred to the next run so that a register dump now still shows the OUT. */
        vm->pending_rip_advance = vm->abi->userland_rip_advance;
        kind = OB_EXIT_IO;
        break;
      }
      case OB_REASON_VMX_EPT_VIOLATION:
      case OB_REASON_SVM_NPF:
        exit[OB_FIELD_DETAIL] = vm->exit.u.vee.fault_type;
        kind = OB_EXIT_TRANSLATION_FAULT;
        break;
      default:
        /* HLT, triple fault, shutdown, VM_EXIT_TERMINATED and the rest: fatal for a unikernel. */
        kind = OB_EXIT_OTHER;
        break;
    }
    break;
  }
  ob_armed_vcpu_id = OB_NULL;
  return kind;
}

/* ---- host memory ---- */

int ob_unmap_guest(hvt_u8 *addr, hvt_u64 size, int kernel_memory) {
  /* The kernel's mapping is immutable: it goes with the process. */
  if (addr == OB_NULL || size == 0 || kernel_memory) return 0;
  return munmap(addr, size) == 0 ? 0 : -ob_errno;
}

int ob_protect(hvt_u8 *addr, hvt_u64 len, int prot) {
  return mprotect(addr, len, prot) == 0 ? 0 : -ob_errno;
}

int ob_tsc(hvt_u64 *hz, int *invariant, const char **step) {
  int inv = 0;
  hvt_size len = sizeof(inv);
  int mib_inv[2] = {OB_CTL_MACHDEP, OB_CPU_INVARIANTTSC};
  if (sysctl(mib_inv, 2, &inv, &len, OB_NULL, 0) != 0) return ob_fail(step, "sysctl machdep.invarianttsc");
  hvt_u64 freq = 0;
  len = sizeof(freq);
  int mib_freq[2] = {OB_CTL_MACHDEP, OB_CPU_TSCFREQ};
  if (sysctl(mib_freq, 2, &freq, &len, OB_NULL, 0) != 0) return ob_fail(step, "sysctl machdep.tscfreq");
  *hz = freq;
  *invariant = inv;
  return 0;
}

/* ---- tap ---- */

int ob_tap_open(const char *name, int *fd, int *mtu, const char **step) {
  hvt_size len = hvt_strlen(name);
  if (len == 0 || len >= OB_IFNAMSIZ) {
    if (step != OB_NULL) *step = "open";
    return len == 0 ? -OB_EINVAL : -OB_ENAMETOOLONG;
  }
  for (hvt_size i = 0; i < len; i++) {
    /* A name is one path component under /dev, never a way out of it. */
    if (name[i] == '/' || (i == 0 && name[i] == '.')) {
      if (step != OB_NULL) *step = "open";
      return -OB_EINVAL;
    }
  }
  int sock = socket(OB_AF_INET, OB_SOCK_DGRAM | OB_SOCK_CLOEXEC, 0);
  if (sock < 0) return ob_fail(step, "socket");
  struct ob_ifreq ifr;
  hvt_zero(&ifr, sizeof(ifr));
  for (hvt_size i = 0; i < len; i++) ifr.name[i] = name[i];
  if (ioctl(sock, OB_SIOCGIFFLAGS, &ifr) != 0) {
    int err = ob_fail(step, "SIOCGIFFLAGS");
    close(sock);
    return err;
  }
  /* The reference requires the interface to be up on OpenBSD (docs/guest-abi.md 11.3). */
  if ((ifr.u.flags & OB_IFF_UP) == 0) {
    close(sock);
    if (step != OB_NULL) *step = "SIOCGIFFLAGS";
    return -OB_ENETDOWN;
  }
  hvt_zero(&ifr.u, sizeof(ifr.u));
  if (ioctl(sock, OB_SIOCGIFMTU, &ifr) != 0) {
    int err = ob_fail(step, "SIOCGIFMTU");
    close(sock);
    return err;
  }
  close(sock);

  char path[sizeof("/dev/") + OB_IFNAMSIZ];
  static const char prefix[] = "/dev/";
  hvt_size p = 0;
  for (; prefix[p] != '\0'; p++) path[p] = prefix[p];
  for (hvt_size i = 0; i <= len; i++) path[p + i] = name[i];
  int tap = open(path, OB_O_RDWR | OB_O_NONBLOCK | OB_O_CLOEXEC);
  if (tap < 0) return ob_fail(step, "open");
  *fd = tap;
  *mtu = ifr.u.mtu;
  return 0;
}

/* ---- privilege drop (docs/guest-abi.md 14.3) ---- */

int ob_drop_privileges(const char *dir, hvt_u32 uid, hvt_u32 gid, const char *promises,
                       const char **step) {
  if (chroot(dir) != 0) return ob_fail(step, "chroot");
  if (chdir("/") != 0) return ob_fail(step, "chdir");
  ob_gid groups[1] = {gid};
  if (setgroups(1, groups) != 0) return ob_fail(step, "setgroups");
  if (setresgid(gid, gid, gid) != 0) return ob_fail(step, "setresgid");
  if (setresuid(uid, uid, uid) != 0) return ob_fail(step, "setresuid");
  if (pledge(promises, OB_NULL) != 0) return ob_fail(step, "pledge");
  return 0;
}
