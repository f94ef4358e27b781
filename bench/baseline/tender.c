/*
 * baseline-tender: a minimal hvt tender in C, the floor hvt.js is measured
 * against. It runs the benchmark guests (and other simple hvt unikernels) on
 * Linux KVM x86_64 with the guest layout and vCPU state of docs/guest-abi.md 5.2 and
 * 6.1, and serves WALLTIME, PUTS, POLL, BLOCK_READ/WRITE, NET_WRITE/READ and
 * HALT with the reference's checks: struct and buffer bounds against guest
 * memory, handle and offset checks, pread/pwrite/write straight between the
 * file descriptor and guest RAM. What it leaves out costs nothing per exit
 * (sandbox, net ring, dumpcore, gdb, most error messages), so the floor is
 * not made artificially cheap.
 *
 *   baseline-tender [--mem=MiB] [--block:NAME=PATH] [--net:NAME=TAP] [--] KERNEL [ARGS...]
 *
 * Errors print "baseline-tender: <why>" and exit 1; HALT exits with the guest's status.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024ULL * 1024)
#define LARGE_PAGE (2 * MiB)
#define PAGE 0x1000ULL

/* docs/guest-abi.md 5.2 */
#define GPA_GDT 0x1000ULL
#define GPA_PML4 0x2000ULL
#define GPA_PDPT 0x3000ULL
#define GPA_PD 0x4000ULL
#define GPA_PT0 0x8000ULL
#define GPA_BOOT_INFO 0x10000ULL
#define GPA_KERNEL_BASE 0x100000ULL
#define CMDLINE_MAX 8192

/* docs/guest-abi.md 4.3, 4.4, 7 */
#define NOTE_ABI1 0x31494241U
#define NOTE_MFT1 0x3154464dU
#define MFT_MAX_ENTRIES 64
#define MFT_NAME_SIZE 68
#define MFT_DEV_BLOCK 1U
#define MFT_DEV_NET 2U
#define MFT_RESERVED_FIRST 0x40000000U
#define PIO_BASE 0x500
enum { HC_WALLTIME = 1, HC_PUTS, HC_POLL, HC_BLOCK_WRITE, HC_BLOCK_READ, HC_NET_WRITE,
       HC_NET_READ, HC_HALT, HC_MAX };
enum { SOLO5_R_OK = 0, SOLO5_R_AGAIN = 1, SOLO5_R_EINVAL = 2 };

struct mft_entry {
  char name[MFT_NAME_SIZE];
  uint32_t type;
  union {
    struct {
      uint64_t capacity;
      uint16_t block_size;
    } block;
    struct {
      uint8_t mac[6];
      uint16_t mtu;
    } net;
  } u;
  uint64_t backing;
  uint8_t attached;
  uint8_t pad[7];
};
struct mft {
  uint32_t version;
  uint32_t entries;
  struct mft_entry e[];
};
_Static_assert(sizeof(struct mft_entry) == 104, "struct mft_entry is 104 bytes");

struct boot_info {
  uint64_t mem_size, kernel_end, cpu_cycle_freq, cmdline, mft;
  uint32_t host_features, guest_features;
  uint64_t net_ring;
};
struct hc_walltime { uint64_t nsecs; };
struct hc_puts { uint64_t data, len; };
struct hc_poll { uint64_t timeout_nsecs, ready_set; int32_t ret; };
struct hc_block { uint64_t handle, offset, data, len; int32_t ret; };
struct hc_net { uint64_t handle, data, len; int32_t ret; };
struct hc_halt { uint64_t cookie; int32_t exit_status; };

static const char *prog = "baseline-tender";
static uint8_t *mem;      /* guest RAM, GPA 0 at mem[0] */
static uint64_t mem_size; /* guest-visible size: every range check uses it */
static struct mft *mft;
static size_t mft_size;
static int tap_fds[MFT_MAX_ENTRIES];
static int tap_index[MFT_MAX_ENTRIES];
static int n_taps;
static bool have_block, have_net;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* The range check of docs/guest-abi.md 7.3, strict at the top like the reference's. */
static inline void *guest_range(uint64_t gpa, uint64_t len, const char *what)
{
  if (gpa >= mem_size || len > UINT64_MAX - gpa || gpa + len >= mem_size)
    die("%s: Invalid guest access: gpa=0x%llx, sz=%llu", what, (unsigned long long)gpa,
        (unsigned long long)len);
  return mem + gpa;
}

/* --- the kernel image: notes, manifest, loading --------------------------- */

static uint8_t *image;
static size_t image_size;

static void read_file(const char *path)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    die("%s: %s", path, strerror(errno));
  image_size = (size_t)st.st_size;
  image = malloc(image_size ? image_size : 1);
  if (image == NULL)
    die("out of memory");
  size_t done = 0;
  while (done < image_size) {
    ssize_t n = read(fd, image + done, image_size - done);
    if (n <= 0)
      die("%s: short read", path);
    done += (size_t)n;
  }
  close(fd);
}

static const Elf64_Ehdr *elf_header(const char *path)
{
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)image;
  if (image_size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
      eh->e_type != ET_EXEC || eh->e_machine != EM_X86_64 ||
      eh->e_phentsize != sizeof(Elf64_Phdr) ||
      eh->e_phoff > image_size || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > image_size - eh->e_phoff)
    die("%s: invalid executable", path);
  return eh;
}

/* The first Solo5 note of `type` (docs/guest-abi.md 4.1); its descriptor after `align` padding. */
static const uint8_t *find_note(const char *path, uint32_t type, size_t align, size_t max,
                                size_t *len)
{
  const Elf64_Ehdr *eh = elf_header(path);
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(image + eh->e_phoff);
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_NOTE || ph[i].p_filesz < 20)
      continue;
    if (ph[i].p_offset > image_size || ph[i].p_filesz > image_size - ph[i].p_offset)
      die("%s: invalid executable: note outside the file", path);
    const uint8_t *n = image + ph[i].p_offset;
    uint32_t namesz, descsz, ntype;
    memcpy(&namesz, n, 4);
    memcpy(&descsz, n + 4, 4);
    memcpy(&ntype, n + 8, 4);
    if (namesz != 6 || memcmp(n + 12, "Solo5", 6) != 0 || ntype != type)
      continue;
    size_t pad = (align - 20 % align) % align;
    if (descsz < 1 || descsz > max || ph[i].p_filesz < 20 + (uint64_t)descsz || descsz < pad)
      die("%s: invalid executable: note does not fall within valid size", path);
    *len = descsz - pad;
    return n + 20 + pad;
  }
  return NULL;
}

static void read_notes(const char *path)
{
  size_t len;
  const uint8_t *abi = find_note(path, NOTE_ABI1, 4, 32, &len);
  if (abi == NULL)
    die("%s: No Solo5 ABI information in executable", path);
  uint32_t target, version;
  if (len < 8)
    die("%s: invalid executable: ABI note too short", path);
  memcpy(&target, abi, 4);
  memcpy(&version, abi + 4, 4);
  if (target != 1 || version != 2)
    die("%s: ABI target %u version %u, this tender runs hvt ABI 2", path, target, version);

  const uint8_t *m = find_note(path, NOTE_MFT1, 8, 12 + 64 * 104, &len);
  if (m == NULL)
    die("%s: No Solo5 manifest found in executable", path);
  mft_size = len;
  mft = malloc(len);
  if (mft == NULL)
    die("out of memory");
  memcpy(mft, m, len);
  if (len < 8 || mft->version != 1 || mft->entries > MFT_MAX_ENTRIES ||
      len != 8 + (size_t)mft->entries * sizeof(struct mft_entry) || mft->entries < 1 ||
      mft->e[0].type != MFT_RESERVED_FIRST || mft->e[0].name[0] != 0)
    die("%s: invalid manifest", path);
  for (uint32_t i = 0; i < mft->entries; i++) {
    if (mft->e[i].name[MFT_NAME_SIZE - 1] != 0 || mft->e[i].attached)
      die("%s: invalid manifest", path);
  }
}

/* docs/guest-abi.md 3.4: the segment's permissions, with X given as R (KVM must read the code). */
static int host_prot(uint32_t flags)
{
  return ((flags & (PF_R | PF_X)) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0);
}

/* Copies every PT_LOAD in, as docs/guest-abi.md 3.3; returns the entry point. */
static uint64_t load_elf(const char *path, uint64_t alloc_size, uint64_t *kernel_end)
{
  const Elf64_Ehdr *eh = elf_header(path);
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(image + eh->e_phoff);
  uint64_t end = 0;
  for (int i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type != PT_LOAD || ph[i].p_filesz == 0)
      continue;
    uint64_t pa = ph[i].p_paddr, filesz = ph[i].p_filesz, memsz = ph[i].p_memsz;
    if (pa < GPA_KERNEL_BASE || filesz > memsz || memsz > alloc_size || pa > alloc_size - memsz ||
        ph[i].p_offset > image_size || filesz > image_size - ph[i].p_offset)
      die("%s: invalid executable: bad PT_LOAD %d", path, i);
    memcpy(mem + pa, image + ph[i].p_offset, filesz);
    /* Guest code and read-only data stay read-only on the host too. */
    uint64_t start = pa & ~(PAGE - 1), stop = (pa + memsz + PAGE - 1) & ~(PAGE - 1);
    if (mprotect(mem + start, stop - start, host_prot(ph[i].p_flags)) < 0)
      die("mprotect: %s", strerror(errno));
    if (stop > end)
      end = stop;
  }
  if (eh->e_entry < GPA_KERNEL_BASE || eh->e_entry >= alloc_size)
    die("%s: invalid executable: entry point outside guest memory", path);
  *kernel_end = end;
  return eh->e_entry;
}

/* --- devices ---------------------------------------------------------------- */

static struct mft_entry *device(const char *name, uint32_t type, const char *opt)
{
  for (uint32_t i = 1; i < mft->entries; i++) {
    if (strcmp(mft->e[i].name, name) == 0 && mft->e[i].type == type)
      return &mft->e[i];
  }
  die("%s: no device '%s' of that type in the manifest", opt, name);
}

static void attach_block(const char *name, const char *path)
{
  struct mft_entry *e = device(name, MFT_DEV_BLOCK, "--block");
  int fd = open(path, O_RDWR | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    die("%s: %s", path, strerror(errno));
  e->u.block.block_size = 512;
  e->u.block.capacity = (uint64_t)st.st_size;
  if (e->u.block.capacity % 512 != 0 || e->u.block.capacity < 512)
    die("%s: Backing storage size must be block aligned (512 bytes)", name);
  e->backing = (uint64_t)fd;
  e->attached = 1;
  have_block = true;
}

static void attach_net(const char *name, const char *iface)
{
  struct mft_entry *e = device(name, MFT_DEV_NET, "--net");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    die("/dev/net/tun: %s", strerror(errno));
  struct ifreq ifr = {0};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (strlen(iface) >= IFNAMSIZ)
    die("%s: interface name too long", iface);
  strcpy(ifr.ifr_name, iface);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0 || strcmp(ifr.ifr_name, iface) != 0)
    die("%s: cannot attach tap: %s", iface, strerror(errno));
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq mtu = {0};
  strcpy(mtu.ifr_name, iface);
  if (s < 0 || ioctl(s, SIOCGIFMTU, &mtu) < 0)
    die("%s: SIOCGIFMTU: %s", iface, strerror(errno));
  close(s);
  int urandom = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (urandom < 0 || read(urandom, e->u.net.mac, 6) != 6)
    die("/dev/urandom: %s", strerror(errno));
  close(urandom);
  e->u.net.mac[0] = (uint8_t)((e->u.net.mac[0] & ~1) | 2); /* unicast, locally administered */
  e->u.net.mtu = (uint16_t)mtu.ifr_mtu;
  e->backing = (uint64_t)fd;
  e->attached = 1;
  tap_fds[n_taps] = fd;
  tap_index[n_taps] = (int)(e - mft->e);
  n_taps++;
  have_net = true;
}

/* The handle check of docs/guest-abi.md 8.4: truncated to 32 bits, like the reference. */
static struct mft_entry *handle_entry(uint64_t handle, uint32_t type)
{
  uint32_t h = (uint32_t)handle;
  if (h >= mft->entries || mft->e[h].type != type || !mft->e[h].attached)
    return NULL;
  return &mft->e[h];
}

/* --- hypercalls ------------------------------------------------------------ */

static void hc_walltime(uint64_t gpa)
{
  struct hc_walltime *w = guest_range(gpa, sizeof *w, "WALLTIME");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  w->nsecs = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void hc_puts(uint64_t gpa)
{
  struct hc_puts *p = guest_range(gpa, sizeof *p, "PUTS");
  const void *data = guest_range(p->data, p->len, "PUTS");
  /* One write, result ignored, as the reference does. */
  ssize_t n = write(1, data, p->len);
  (void)n;
}

static void hc_poll(uint64_t gpa)
{
  struct hc_poll *p = guest_range(gpa, sizeof *p, "POLL");
  struct pollfd fds[MFT_MAX_ENTRIES];
  for (int i = 0; i < n_taps; i++)
    fds[i] = (struct pollfd){.fd = tap_fds[i], .events = POLLIN};
  struct timespec ts = {.tv_sec = (time_t)(p->timeout_nsecs / 1000000000ULL),
                        .tv_nsec = (long)(p->timeout_nsecs % 1000000000ULL)};
  int n;
  do {
    n = ppoll(fds, (nfds_t)n_taps, &ts, NULL);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    die("ppoll: %s", strerror(errno));
  uint64_t ready = 0;
  int count = 0;
  for (int i = 0; i < n_taps; i++) {
    if (fds[i].revents & POLLIN) {
      ready |= 1ULL << tap_index[i];
      count++;
    }
  }
  p->ready_set = ready;
  p->ret = count;
}

static void hc_block(uint64_t gpa, bool write_op)
{
  struct hc_block *b = guest_range(gpa, sizeof *b, write_op ? "BLOCK_WRITE" : "BLOCK_READ");
  struct mft_entry *e = handle_entry(b->handle, MFT_DEV_BLOCK);
  uint64_t cap = e ? e->u.block.capacity : 0;
  if (e == NULL || b->len > (uint64_t)INT64_MAX || b->offset >= cap ||
      b->offset > (uint64_t)INT64_MAX - b->len || b->offset + b->len > cap) {
    b->ret = SOLO5_R_EINVAL;
    return;
  }
  void *data = guest_range(b->data, b->len, write_op ? "BLOCK_WRITE" : "BLOCK_READ");
  int fd = (int)e->backing;
  ssize_t n = write_op ? pwrite(fd, data, b->len, (off_t)b->offset)
                       : pread(fd, data, b->len, (off_t)b->offset);
  if (n < 0)
    die("Fatal error when %s: %s", write_op ? "writing" : "reading", strerror(errno));
  if ((uint64_t)n != b->len)
    die("Fatal error: %s only %zd out of %llu bytes", write_op ? "wrote" : "read", n,
        (unsigned long long)b->len);
  b->ret = SOLO5_R_OK;
}

static void hc_net_write(uint64_t gpa)
{
  struct hc_net *w = guest_range(gpa, sizeof *w, "NET_WRITE");
  struct mft_entry *e = handle_entry(w->handle, MFT_DEV_NET);
  if (e == NULL) {
    w->ret = SOLO5_R_EINVAL;
    return;
  }
  const void *data = guest_range(w->data, w->len, "NET_WRITE");
  ssize_t n = write((int)e->backing, data, w->len);
  if (n < 0)
    die("Fatal error when writing: %s", strerror(errno));
  if ((uint64_t)n != w->len)
    die("Fatal error: wrote only %zd out of %llu bytes", n, (unsigned long long)w->len);
  w->ret = SOLO5_R_OK;
}

static void hc_net_read(uint64_t gpa)
{
  struct hc_net *r = guest_range(gpa, sizeof *r, "NET_READ");
  struct mft_entry *e = handle_entry(r->handle, MFT_DEV_NET);
  if (e == NULL) {
    r->ret = SOLO5_R_EINVAL;
    return;
  }
  void *data = guest_range(r->data, r->len, "NET_READ");
  ssize_t n = read((int)e->backing, data, r->len);
  if (n == 0 || (n < 0 && errno == EAGAIN)) {
    r->ret = SOLO5_R_AGAIN;
    return;
  }
  if (n < 0)
    die("Fatal error when reading: %s", strerror(errno));
  r->len = (uint64_t)n;
  r->ret = SOLO5_R_OK;
}

static void hc_halt(uint64_t gpa)
{
  struct hc_halt *h = guest_range(gpa, sizeof *h, "HALT");
  if (h->cookie != 0)
    (void)guest_range(h->cookie, 512, "HALT");
  exit(h->exit_status);
}

/* --- the VM ---------------------------------------------------------------- */

static int kvm_fd, vm_fd, vcpu_fd;
static struct kvm_run *run;

static void kvm_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
  if (ioctl(fd, req, arg) < 0)
    die("KVM: ioctl (%s) failed: %s", name, strerror(errno));
}

static void write_page_tables(uint64_t alloc_size)
{
  uint64_t *gdt = (uint64_t *)(mem + GPA_GDT);
  gdt[0] = 0;
  gdt[1] = 0x00AF99000000FFFFULL; /* code, selector 0x08 */
  gdt[2] = 0x00CF93000000FFFFULL; /* data, selector 0x10 */
  uint64_t *pml4 = (uint64_t *)(mem + GPA_PML4);
  uint64_t *pdpt = (uint64_t *)(mem + GPA_PDPT);
  uint64_t *pd = (uint64_t *)(mem + GPA_PD);
  uint64_t *pt0 = (uint64_t *)(mem + GPA_PT0);
  pml4[0] = GPA_PDPT | 3;
  for (int i = 0; i < 4; i++)
    pdpt[i] = (GPA_PD + (uint64_t)i * PAGE) | 3;
  pd[0] = GPA_PT0 | 3;
  for (uint64_t p = 0; p < LARGE_PAGE; p += PAGE)
    pt0[p / PAGE] = p >= GPA_KERNEL_BASE ? (p | 3) : p >= GPA_BOOT_INFO ? (p | 1) : 0;
  /* The four directories are contiguous: entry n maps 2 MiB page n. */
  for (uint64_t n = 1; n * LARGE_PAGE < alloc_size && n < 4 * 512; n++)
    pd[n] = n * LARGE_PAGE | 0x83;
}

static void init_vcpu(uint64_t entry, uint64_t *tsc_hz)
{
  size_t cpuid_size = sizeof(struct kvm_cpuid2) + 100 * sizeof(struct kvm_cpuid_entry2);
  struct kvm_cpuid2 *cpuid = calloc(1, cpuid_size);
  if (cpuid == NULL)
    die("out of memory");
  cpuid->nent = 100;
  kvm_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid, "KVM_GET_SUPPORTED_CPUID");
  kvm_ioctl(vcpu_fd, KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
  free(cpuid);

  struct kvm_sregs sregs = {0};
  struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 9,
                             .present = 1, .s = 1, .l = 1, .g = 1};
  struct kvm_segment data = {.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3,
                             .present = 1, .db = 1, .s = 1, .g = 1};
  sregs.cs = code;
  sregs.ss = sregs.ds = sregs.es = sregs.fs = sregs.gs = data;
  sregs.tr = (struct kvm_segment){.type = 11, .present = 1};
  sregs.ldt = (struct kvm_segment){.unusable = 1};
  sregs.gdt.base = GPA_GDT;
  sregs.gdt.limit = 23;
  sregs.cr0 = 0x80010021;
  sregs.cr3 = GPA_PML4;
  sregs.cr4 = 0x620;
  sregs.efer = 0x500;
  kvm_ioctl(vcpu_fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");

  if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GET_TSC_KHZ) != 1)
    die("KVM: host does not support KVM_CAP_GET_TSC_KHZ");
  int khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
  if (khz < 0)
    die("KVM: ioctl (KVM_GET_TSC_KHZ) failed: %s", strerror(errno));
  *tsc_hz = (uint64_t)khz * 1000;

  struct kvm_regs regs = {.rip = entry, .rflags = 2, .rsp = mem_size - 8, .rdi = GPA_BOOT_INFO};
  kvm_ioctl(vcpu_fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

static void create_vm(uint64_t alloc_size)
{
  kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0)
    die("Could not open: /dev/kvm: %s", strerror(errno));
  if (ioctl(kvm_fd, KVM_GET_API_VERSION, 0) != 12)
    die("KVM: API version is not 12");
  vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
  if (vm_fd < 0)
    die("KVM: ioctl (KVM_CREATE_VM) failed: %s", strerror(errno));
  vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
  if (vcpu_fd < 0)
    die("KVM: ioctl (KVM_CREATE_VCPU) failed: %s", strerror(errno));
  int run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size < (int)sizeof(struct kvm_run))
    die("KVM: invalid VCPU_MMAP_SIZE");
  run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
  if (run == MAP_FAILED)
    die("KVM: mmap of the vCPU area failed: %s", strerror(errno));
  mem = mmap(NULL, alloc_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
  if (mem == MAP_FAILED)
    die("mmap of guest memory failed: %s", strerror(errno));
  struct kvm_userspace_memory_region region = {
      .slot = 0, .guest_phys_addr = 0, .memory_size = alloc_size, .userspace_addr = (uint64_t)mem};
  kvm_ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
}

static void write_boot_info(uint64_t kernel_end, uint64_t tsc_hz, const char *cmdline)
{
  struct boot_info *bi = (struct boot_info *)(mem + GPA_BOOT_INFO);
  uint64_t mft_gpa = GPA_BOOT_INFO + sizeof *bi;
  uint64_t cmdline_gpa = mft_gpa + mft_size;
  memcpy(mem + mft_gpa, mft, mft_size);
  size_t len = strlen(cmdline);
  if (len >= CMDLINE_MAX)
    die("Guest command line too long (max=%d characters)", CMDLINE_MAX - 1);
  memcpy(mem + cmdline_gpa, cmdline, len + 1);
  *bi = (struct boot_info){.mem_size = mem_size, .kernel_end = kernel_end,
                           .cpu_cycle_freq = tsc_hz, .cmdline = cmdline_gpa, .mft = mft_gpa};
}

static int run_loop(void)
{
  for (;;) {
    if (ioctl(vcpu_fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EFAULT)
        die("KVM: host/guest translation fault");
      die("KVM: ioctl (RUN) failed: %s", strerror(errno));
    }
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR)
      die("KVM: internal error exit: suberror=0x%x", run->internal.suberror);
    if (run->exit_reason != KVM_EXIT_IO) {
      struct kvm_regs regs;
      kvm_ioctl(vcpu_fd, KVM_GET_REGS, &regs, "KVM_GET_REGS");
      die("KVM: unhandled exit: exit_reason=0x%x, rip=0x%llx", run->exit_reason,
          (unsigned long long)regs.rip);
    }
    unsigned port = run->io.port;
    if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 || port < PIO_BASE ||
        port >= PIO_BASE + HC_MAX)
      die("Invalid guest port access: port=0x%x", port);
    uint32_t gpa;
    memcpy(&gpa, (uint8_t *)run + run->io.data_offset, 4);
    switch (port - PIO_BASE) {
    case HC_WALLTIME: hc_walltime(gpa); break;
    case HC_PUTS: hc_puts(gpa); break;
    case HC_POLL: hc_poll(gpa); break;
    case HC_BLOCK_WRITE: if (!have_block) goto invalid; hc_block(gpa, true); break;
    case HC_BLOCK_READ: if (!have_block) goto invalid; hc_block(gpa, false); break;
    case HC_NET_WRITE: if (!have_net) goto invalid; hc_net_write(gpa); break;
    case HC_NET_READ: if (!have_net) goto invalid; hc_net_read(gpa); break;
    case HC_HALT: hc_halt(gpa); break;
    default:
    invalid:
      die("Invalid guest hypercall: num=%u", port - PIO_BASE);
    }
  }
}

/* --- main ------------------------------------------------------------------- */

static void usage(void)
{
  fprintf(stderr,
          "usage: %s [--mem=MiB] [--block:NAME=PATH] [--net:NAME=TAP] [--] KERNEL [ARGS...]\n",
          prog);
  exit(1);
}

int main(int argc, char **argv)
{
  uint64_t mem_mib = 512;
  const char *kernel = NULL;
  int i = 1;
  /* Devices are attached once the manifest is known: remember them until then. */
  const char *attach[2 * MFT_MAX_ENTRIES][3];
  int n_attach = 0;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strncmp(a, "--", 2) != 0)
      break;
    if (strncmp(a, "--mem=", 6) == 0) {
      char *end;
      mem_mib = strtoull(a + 6, &end, 10);
      if (*end != '\0' || mem_mib == 0 || mem_mib > 4096)
        die("bad --mem value: %s", a + 6);
      continue;
    }
    bool block = strncmp(a, "--block:", 8) == 0, net = strncmp(a, "--net:", 6) == 0;
    const char *spec = block ? a + 8 : net ? a + 6 : NULL;
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (eq == NULL || eq == spec || eq[1] == '\0' || n_attach == 2 * MFT_MAX_ENTRIES)
      usage();
    attach[n_attach][0] = block ? "block" : "net";
    attach[n_attach][1] = strndup(spec, (size_t)(eq - spec));
    attach[n_attach][2] = eq + 1;
    n_attach++;
  }
  if (i >= argc)
    usage();
  kernel = argv[i++];
  char cmdline[CMDLINE_MAX];
  size_t pos = 0;
  cmdline[0] = '\0';
  for (; i < argc; i++) {
    int n = snprintf(cmdline + pos, sizeof cmdline - pos, "%s%s", pos ? " " : "", argv[i]);
    if (n < 0 || (size_t)n >= sizeof cmdline - pos)
      die("Guest command line too long (max=%d characters)", CMDLINE_MAX - 1);
    pos += (size_t)n;
  }

  read_file(kernel);
  read_notes(kernel);
  for (int k = 0; k < n_attach; k++) {
    if (strcmp(attach[k][0], "block") == 0)
      attach_block(attach[k][1], attach[k][2]);
    else
      attach_net(attach[k][1], attach[k][2]);
  }
  for (uint32_t k = 1; k < mft->entries; k++) {
    if (mft->e[k].type < MFT_RESERVED_FIRST && !mft->e[k].attached)
      die("Device '%s' declared but not attached", mft->e[k].name);
  }

  /* No net ring here, so the guest sees all it was given (docs/guest-abi.md 5.1 without the ring). */
  uint64_t alloc_size = (mem_mib * MiB) & ~(LARGE_PAGE - 1);
  mem_size = alloc_size;
  create_vm(alloc_size);
  uint64_t kernel_end, tsc_hz;
  uint64_t entry = load_elf(kernel, alloc_size, &kernel_end);
  free(image);
  write_page_tables(alloc_size);
  init_vcpu(entry, &tsc_hz);
  write_boot_info(kernel_end, tsc_hz, cmdline);
  return run_loop();
}
