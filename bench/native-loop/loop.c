/*
 * Bench-only experiment, not part of the tender: a vCPU run loop that serves
 * the cheap hypercalls (WALLTIME, PUTS) in C and returns to JavaScript only
 * for the others, so that hvt.js with this loop differs from hvt.js proper in
 * exactly one thing: whether a cheap exit goes through JavaScript.
 *
 *   attach(vcpuFd, kvmRunSize, guestMemory: ArrayBuffer, visibleSize, exit: Float64Array)
 *   run(): ExitKind, with `exit` filled as @hvtjs/linux-kvm's run() fills it
 *   served(): how many hypercalls this loop served without JavaScript
 *
 * And, for the per-exit micro-benchmark (bench/micro/exit-cost.mjs), which
 * needs no KVM at all:
 *   fakeAttach(exit: Float64Array, port, gpa, n, haltGpa), then fakeRun():
 *       stands in for a vCPU run: fills `exit` with an OUT of `gpa` to `port`
 *       n times, then with the HALT of `haltGpa`; no system call
 *   cWalltimeLoop(n): nanoseconds for n exits served the baseline tender's
 *       way (same fake exit, switch dispatch, range check, clock_gettime)
 *   guestMemory(size): an ArrayBuffer over a shared anonymous mapping, as
 *       both tenders map guest RAM; the C loops below use the same one
 *   preadGuest(fd, gpa, len, position): pread(2) straight into that mapping,
 *       what a native read path for the block module would be
 *   cBlockReadLoop(n, fd, len): nanoseconds for n BLOCK_READ exits of `len`
 *       bytes at offset 0 of `fd`, served the baseline tender's way
 *   clockBind(Uint32Array), then clockFill(): CLOCK_REALTIME in ns as two
 *       u32 halves in the bound array, a clock that allocates nothing
 *
 * One VM per process (module state), no signal handling: enough for a benchmark.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <linux/kvm.h>
#include <node_api.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* @hvtjs/core's ExitKind and ExitField. */
enum { KIND_IO = 1, KIND_TRANSLATION_FAULT = 4, KIND_FAIL_ENTRY = 5, KIND_INTERNAL_ERROR = 6,
       KIND_OTHER = 7 };
enum { F_REASON = 0, F_PORT = 1, F_SIZE = 2, F_DIRECTION = 3, F_VALUE = 4, F_DETAIL = 6,
       F_ERRNO = 7 };

#define PIO_BASE 0x500
#define HC_WALLTIME 1
#define HC_PUTS 2

static int vcpu_fd = -1;
static struct kvm_run *run_area;
static uint8_t *mem;
static uint64_t mem_size;
static double *exit_fields;
static napi_ref exit_ref;
static double served_count;

#define CHECK(env, call)                                                                     \
  do {                                                                                       \
    if ((call) != napi_ok) {                                                                 \
      napi_throw_error((env), NULL, "native-loop: " #call " failed");                       \
      return NULL;                                                                           \
    }                                                                                        \
  } while (0)

/* The range check of docs/guest-abi.md 7.3; false sends the exit to JavaScript, which fails it. */
static inline int in_guest(uint64_t gpa, uint64_t len)
{
  return gpa < mem_size && len <= UINT64_MAX - gpa && gpa + len < mem_size;
}

/* Serves WALLTIME or PUTS; 0 when JavaScript must see this exit instead. */
static int serve(unsigned nr, uint64_t gpa)
{
  if (nr == HC_WALLTIME) {
    if (!in_guest(gpa, 8))
      return 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    memcpy(mem + gpa, &ns, 8);
    return 1;
  }
  if (nr == HC_PUTS) {
    uint64_t p[2];
    if (!in_guest(gpa, 16))
      return 0;
    memcpy(p, mem + gpa, 16);
    if (!in_guest(p[0], p[1]))
      return 0;
    ssize_t n = write(1, mem + p[0], p[1]);
    (void)n;
    return 1;
  }
  return 0;
}

static napi_value attach(napi_env env, napi_callback_info info)
{
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 5) {
    napi_throw_type_error(env, NULL, "attach(vcpuFd, kvmRunSize, guestMemory, visibleSize, exit)");
    return NULL;
  }
  int32_t fd;
  int64_t run_size, visible;
  void *data;
  size_t data_len;
  napi_typedarray_type type;
  size_t length;
  void *exit_data;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_value_int64(env, argv[1], &run_size));
  CHECK(env, napi_get_arraybuffer_info(env, argv[2], &data, &data_len));
  CHECK(env, napi_get_value_int64(env, argv[3], &visible));
  CHECK(env, napi_get_typedarray_info(env, argv[4], &type, &length, &exit_data, NULL, NULL));
  if (type != napi_float64_array || length < 8 || visible <= 0 || (uint64_t)visible > data_len ||
      run_size < (int64_t)sizeof(struct kvm_run)) {
    napi_throw_range_error(env, NULL, "attach: bad arguments");
    return NULL;
  }
  void *p = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  vcpu_fd = fd;
  run_area = p;
  mem = data;
  mem_size = (uint64_t)visible;
  exit_fields = exit_data;
  /* Keeps the exit array (and so its memory) alive as long as we write to it. */
  CHECK(env, napi_create_reference(env, argv[4], 1, &exit_ref));
  return NULL;
}

static napi_value number(napi_env env, double v)
{
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

static napi_value run(napi_env env, napi_callback_info info)
{
  (void)info;
  if (run_area == NULL) {
    napi_throw_error(env, NULL, "run() before attach()");
    return NULL;
  }
  double *e = exit_fields;
  for (;;) {
    if (ioctl(vcpu_fd, KVM_RUN, 0) < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EFAULT) {
        e[F_REASON] = run_area->exit_reason;
        e[F_ERRNO] = EFAULT;
        return number(env, KIND_TRANSLATION_FAULT);
      }
      napi_throw_error(env, NULL, strerror(errno));
      return NULL;
    }
    struct kvm_run *r = run_area;
    e[F_REASON] = r->exit_reason;
    switch (r->exit_reason) {
    case KVM_EXIT_IO: {
      uint32_t value = 0;
      if (r->io.size == 4)
        memcpy(&value, (uint8_t *)r + r->io.data_offset, 4);
      if (r->io.direction == KVM_EXIT_IO_OUT && r->io.size == 4 && r->io.port > PIO_BASE &&
          serve(r->io.port - PIO_BASE, value)) {
        served_count++;
        continue;
      }
      e[F_PORT] = r->io.port;
      e[F_SIZE] = r->io.size;
      e[F_DIRECTION] = r->io.direction == KVM_EXIT_IO_OUT ? 1 : 0;
      e[F_VALUE] = value;
      return number(env, KIND_IO);
    }
    case KVM_EXIT_FAIL_ENTRY:
      e[F_DETAIL] = (double)r->fail_entry.hardware_entry_failure_reason;
      return number(env, KIND_FAIL_ENTRY);
    case KVM_EXIT_INTERNAL_ERROR:
      e[F_DETAIL] = r->internal.suberror;
      return number(env, KIND_INTERNAL_ERROR);
    default:
      return number(env, KIND_OTHER);
    }
  }
}

static napi_value served(napi_env env, napi_callback_info info)
{
  (void)info;
  return number(env, served_count);
}

/* --- the per-exit micro-benchmark ------------------------------------------- */

static double *fake_exit;
static napi_ref fake_exit_ref;
static double fake_port, fake_gpa, fake_halt_gpa;
static int64_t fake_left;

static napi_value fake_attach(napi_env env, napi_callback_info info)
{
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (argc != 5 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array || length < 8) {
    napi_throw_type_error(env, NULL, "fakeAttach(exit: Float64Array, port, gpa, n, haltGpa)");
    return NULL;
  }
  CHECK(env, napi_get_value_double(env, argv[1], &fake_port));
  CHECK(env, napi_get_value_double(env, argv[2], &fake_gpa));
  CHECK(env, napi_get_value_int64(env, argv[3], &fake_left));
  CHECK(env, napi_get_value_double(env, argv[4], &fake_halt_gpa));
  if (fake_exit_ref != NULL)
    napi_delete_reference(env, fake_exit_ref);
  CHECK(env, napi_create_reference(env, argv[0], 1, &fake_exit_ref));
  fake_exit = data;
  return NULL;
}

static napi_value fake_run(napi_env env, napi_callback_info info)
{
  (void)info;
  double *e = fake_exit;
  e[F_REASON] = KVM_EXIT_IO;
  e[F_SIZE] = 4;
  e[F_DIRECTION] = 1;
  if (fake_left > 0) {
    fake_left--;
    e[F_PORT] = fake_port;
    e[F_VALUE] = fake_gpa;
  } else {
    e[F_PORT] = PIO_BASE + 8;
    e[F_VALUE] = fake_halt_gpa;
  }
  return number(env, KIND_IO);
}

static uint8_t *micro_mem;
static uint64_t micro_size;

static void unmap_guest(napi_env env, void *data, void *hint)
{
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
  if (data == micro_mem)
    micro_mem = NULL;
}

static napi_value guest_memory(napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1];
  int64_t size;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_get_value_int64(env, argv[0], &size));
  if (size <= 0 || size % 4096 != 0) {
    napi_throw_range_error(env, NULL, "guestMemory: size must be a positive multiple of 4096");
    return NULL;
  }
  void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value buffer;
  CHECK(env, napi_create_external_arraybuffer(env, p, (size_t)size, unmap_guest,
                                              (void *)(uintptr_t)size, &buffer));
  micro_mem = p;
  micro_size = (uint64_t)size;
  return buffer;
}

static napi_value pread_guest(napi_env env, napi_callback_info info)
{
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd;
  int64_t gpa, len, position;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_value_int64(env, argv[1], &gpa));
  CHECK(env, napi_get_value_int64(env, argv[2], &len));
  CHECK(env, napi_get_value_int64(env, argv[3], &position));
  if (micro_mem == NULL || gpa < 0 || len < 0 || (uint64_t)gpa > micro_size ||
      (uint64_t)len > micro_size - (uint64_t)gpa) {
    napi_throw_range_error(env, NULL, "preadGuest: outside guest memory");
    return NULL;
  }
  ssize_t n = pread(fd, micro_mem + gpa, (size_t)len, (off_t)position);
  if (n < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  return number(env, (double)n);
}

static uint64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static napi_value c_walltime_loop(napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1];
  int64_t n;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_get_value_int64(env, argv[0], &n));
  if (micro_mem == NULL) {
    napi_throw_error(env, NULL, "cWalltimeLoop: call guestMemory() first");
    return NULL;
  }
  uint8_t *saved_mem = mem;
  uint64_t saved_size = mem_size;
  mem = micro_mem;
  mem_size = micro_size;
  /* The exit as KVM leaves it in kvm_run; volatile so the compiler re-reads it each time. */
  static volatile struct {
    uint32_t exit_reason;
    uint8_t direction, size;
    uint16_t port;
    uint32_t data;
  } fake;
  uint64_t t0 = mono_ns();
  for (int64_t i = 0; i < n; i++) {
    fake.exit_reason = KVM_EXIT_IO;
    fake.direction = KVM_EXIT_IO_OUT;
    fake.size = 4;
    fake.port = PIO_BASE + HC_WALLTIME;
    fake.data = 4096;
    if (fake.exit_reason != KVM_EXIT_IO || fake.direction != KVM_EXIT_IO_OUT || fake.size != 4 ||
        fake.port < PIO_BASE || fake.port >= PIO_BASE + 9 || !serve(fake.port - PIO_BASE, fake.data)) {
      napi_throw_error(env, NULL, "cWalltimeLoop: exit not served");
      return NULL;
    }
  }
  uint64_t t1 = mono_ns();
  mem = saved_mem;
  mem_size = saved_size;
  return number(env, (double)(t1 - t0));
}

static napi_value c_block_read_loop(napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3];
  int64_t n, len;
  int32_t fd;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(env, napi_get_value_int64(env, argv[0], &n));
  CHECK(env, napi_get_value_int32(env, argv[1], &fd));
  CHECK(env, napi_get_value_int64(env, argv[2], &len));
  uint8_t *guest = micro_mem;
  if (guest == NULL || len <= 0 || (uint64_t)len > micro_size / 2) {
    napi_throw_range_error(env, NULL, "cBlockReadLoop: no guestMemory() or bad length");
    return NULL;
  }
  /* The request as the guest leaves it: struct hvt_hc_block_read at 4096, data at 64 KiB. */
  struct req {
    uint64_t handle, offset, data, len;
    int32_t ret;
  };
  volatile struct req *r = (volatile struct req *)(guest + 4096);
  const uint64_t capacity = 8ULL << 20;
  uint64_t t0 = mono_ns();
  for (int64_t i = 0; i < n; i++) {
    r->handle = 1;
    r->offset = 0;
    r->data = 65536;
    r->len = (uint64_t)len;
    /* The baseline's checks: handle, then length and offset against capacity, then the buffer. */
    uint32_t h = (uint32_t)r->handle;
    uint64_t off = r->offset, dlen = r->len, data = r->data;
    if (h != 1 || dlen > (uint64_t)INT64_MAX || off >= capacity || off > (uint64_t)INT64_MAX - dlen ||
        off + dlen > capacity || data >= micro_size || dlen > UINT64_MAX - data ||
        data + dlen >= micro_size) {
      r->ret = 2;
      continue;
    }
    ssize_t got = pread(fd, guest + data, dlen, (off_t)off);
    if (got != (ssize_t)dlen) {
      napi_throw_error(env, NULL, "cBlockReadLoop: short read");
      return NULL;
    }
    r->ret = 0;
  }
  uint64_t t1 = mono_ns();
  return number(env, (double)(t1 - t0));
}

static uint32_t *clock_out;
static napi_ref clock_ref;

static napi_value clock_bind(napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1];
  napi_typedarray_type type;
  size_t length;
  void *data;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || length < 2) {
    napi_throw_type_error(env, NULL, "clockBind(Uint32Array of 2)");
    return NULL;
  }
  if (clock_ref != NULL)
    napi_delete_reference(env, clock_ref);
  CHECK(env, napi_create_reference(env, argv[0], 1, &clock_ref));
  clock_out = data;
  return NULL;
}

static napi_value clock_fill(napi_env env, napi_callback_info info)
{
  (void)env;
  (void)info;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
  clock_out[0] = (uint32_t)ns;
  clock_out[1] = (uint32_t)(ns >> 32);
  return NULL;
}

NAPI_MODULE_INIT()
{
  napi_property_descriptor props[] = {
      {"attach", NULL, attach, NULL, NULL, NULL, napi_default, NULL},
      {"run", NULL, run, NULL, NULL, NULL, napi_default, NULL},
      {"served", NULL, served, NULL, NULL, NULL, napi_default, NULL},
      {"fakeAttach", NULL, fake_attach, NULL, NULL, NULL, napi_default, NULL},
      {"fakeRun", NULL, fake_run, NULL, NULL, NULL, napi_default, NULL},
      {"cWalltimeLoop", NULL, c_walltime_loop, NULL, NULL, NULL, napi_default, NULL},
      {"guestMemory", NULL, guest_memory, NULL, NULL, NULL, napi_default, NULL},
      {"preadGuest", NULL, pread_guest, NULL, NULL, NULL, napi_default, NULL},
      {"cBlockReadLoop", NULL, c_block_read_loop, NULL, NULL, NULL, napi_default, NULL},
      {"clockBind", NULL, clock_bind, NULL, NULL, NULL, napi_default, NULL},
      {"clockFill", NULL, clock_fill, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
