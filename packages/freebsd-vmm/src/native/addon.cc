// The node-addon-api glue of the FreeBSD addon: argument checking, errors
// shaped like Node's system errors, guest-memory views with a lifetime of their
// own, and the host facilities that need system headers (signals, ppoll,
// clocks, eventfd). Everything about vmm(4) and Capsicum is in fb_vmm.c.
#include <napi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fb_vmm.h"

namespace {

struct ErrnoEntry {
  int value;
  const char* name;
};

// Names for the errors these calls can report; others read "E<n>".
const ErrnoEntry kErrnoNames[] = {
    {EPERM, "EPERM"},   {ENOENT, "ENOENT"},   {ESRCH, "ESRCH"},     {EINTR, "EINTR"},
    {EIO, "EIO"},       {ENXIO, "ENXIO"},     {EBADF, "EBADF"},     {ECHILD, "ECHILD"},
    {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"},   {EFAULT, "EFAULT"},   {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"}, {ENODEV, "ENODEV"},   {ENOTDIR, "ENOTDIR"}, {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"}, {EMFILE, "EMFILE"},   {ENOTTY, "ENOTTY"},   {ENOSPC, "ENOSPC"},
    {EPIPE, "EPIPE"},   {EAGAIN, "EAGAIN"},   {ENOSYS, "ENOSYS"},   {ENOTSUP, "ENOTSUP"},
    {ENETDOWN, "ENETDOWN"}, {ENAMETOOLONG, "ENAMETOOLONG"}, {EOPNOTSUPP, "EOPNOTSUPP"},
#ifdef ECAPMODE
    {ECAPMODE, "ECAPMODE"},
#endif
#ifdef ENOTCAPABLE
    {ENOTCAPABLE, "ENOTCAPABLE"},
#endif
};

std::string ErrnoName(int err) {
  for (const ErrnoEntry& e : kErrnoNames) {
    if (e.value == err) return e.name;
  }
  return "E" + std::to_string(err);
}

// An Error like Node's system errors: message strerror(err), `code`, `errno`
// (positive), `syscall`, and `request` (an ioctl's or step's name) when known.
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall,
                             const char* request = nullptr) {
  Napi::Error error = Napi::Error::New(env, std::strerror(err));
  Napi::Object obj = error.Value();
  obj.Set("code", ErrnoName(err));
  obj.Set("errno", Napi::Number::New(env, err));
  obj.Set("syscall", syscall);
  if (request != nullptr) obj.Set("request", request);
  throw error;
}

// A failed core call: `step` names it ("open", "VM_ALLOC_MEMSEG", "sysctl
// hw.vmm.create"); ioctl names are reported as syscall "ioctl".
[[noreturn]] void ThrowStep(Napi::Env env, int negative_errno, const char* step) {
  const char* s = step != nullptr ? step : "?";
  bool is_ioctl = std::strncmp(s, "VM_", 3) == 0 || std::strncmp(s, "VMMCTL_", 7) == 0 ||
                  std::strncmp(s, "SIOC", 4) == 0;
  ThrowErrno(env, -negative_errno, is_ioctl ? "ioctl" : s, s);
}

uint64_t ArgU64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  if (info.Length() <= i) throw Napi::TypeError::New(env, std::string(name) + " is missing");
  Napi::Value v = info[i];
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(env, std::string(name) + " does not fit 64 bits");
    return out;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) {
      throw Napi::RangeError::New(env, std::string(name) + " must be a non-negative integer");
    }
    return static_cast<uint64_t>(d);
  }
  throw Napi::TypeError::New(env, std::string(name) + " must be a number or bigint");
}

int32_t ArgI32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (std::floor(d) != d || d < -2147483648.0 || d > 4294967295.0) {
    throw Napi::RangeError::New(env, std::string(name) + " must be a 32-bit integer");
  }
  return static_cast<int32_t>(static_cast<int64_t>(d));
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  }
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " contains a NUL byte");
  }
  return s;
}

// ---- guest memory ----

// The guest mapping and who still points into it: the VM and every external
// ArrayBuffer handed to JavaScript. V8 frees those whenever it likes, possibly
// long after the VM is destroyed, so the range stays mapped until the last one
// is gone (it then holds the destroyed VM's memory object, which the kernel
// keeps alive for the mapping).
struct MappingState {
  uint8_t* addr = nullptr;
  uint64_t size = 0;
  size_t refs = 0;
};

void ReleaseMapping(MappingState* s) {
  if (--s->refs == 0) {
    fb_unmap_guest(s->addr, s->size);
    delete s;
  }
}

// ---- signals ----

volatile sig_atomic_t g_caught = 0;
pthread_t g_owner;

void OnTerminationSignal(int sig) {
  int saved = errno;
  fb_signal_arrived(sig);
  // Only a signal pending on the thread inside VM_RUN or ppoll makes it return;
  // the kernel may have picked one of Node's or V8's threads instead.
  if (!pthread_equal(pthread_self(), g_owner)) pthread_kill(g_owner, sig);
  errno = saved;
}

// ---- the VM ----

class Vm : public Napi::ObjectWrap<Vm> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Vm",
                       {
                           InstanceAccessor<&Vm::Line>("line"),
                           InstanceAccessor<&Vm::Fd>("fd"),
                           InstanceAccessor<&Vm::DestroyerFd>("destroyerFd"),
                           InstanceAccessor<&Vm::CtlFd>("ctlFd"),
                           InstanceMethod<&Vm::Chunks>("chunks"),
                           InstanceMethod<&Vm::Protect>("protect"),
                           InstanceMethod<&Vm::Resident>("resident"),
                           InstanceMethod<&Vm::BindExit>("bindExit"),
                           InstanceMethod<&Vm::SetRegister>("setRegister"),
                           InstanceMethod<&Vm::GetRegister>("getRegister"),
                           InstanceMethod<&Vm::SetSegment>("setSegment"),
                           InstanceMethod<&Vm::GetSegment>("getSegment"),
                           InstanceMethod<&Vm::Activate>("activate"),
                           InstanceMethod<&Vm::AddKick>("addKick"),
                           InstanceMethod<&Vm::Run>("run"),
                           InstanceMethod<&Vm::Destroy>("destroy"),
                       });
  }

  // new Vm(osreldate, name, memSize): creates the VM, its destroyer and the
  // guest mapping. Throws with `request` naming the failed step.
  explicit Vm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vm>(info) {
    Napi::Env env = info.Env();
    int osreldate = ArgI32(info, 0, "osreldate");
    std::string name = ArgString(info, 1, "name");
    uint64_t mem_size = ArgU64(info, 2, "memSize");
    vm_ = fb_vm_new();
    if (vm_ == nullptr) ThrowErrno(env, ENOMEM, "calloc");
    const char* step = nullptr;
    int r = fb_vm_create(vm_, osreldate, name.c_str(), mem_size, &step);
    if (r < 0) {
      fb_vm_free(vm_);
      vm_ = nullptr;
      ThrowStep(env, r, step);
    }
    uint64_t size = 0;
    uint8_t* addr = fb_vm_memory(vm_, &size);
    mapping_ = new MappingState{addr, size, 1};
  }

  ~Vm() override {
    if (vm_ != nullptr) {
      fb_vm_destroy(vm_, nullptr);
      fb_vm_free(vm_);
    }
    if (mapping_ != nullptr) ReleaseMapping(mapping_);
  }

 private:
  struct fb_vm* Live(Napi::Env env) {
    if (vm_ == nullptr || fb_vm_fd(vm_) < 0) ThrowErrno(env, EBADF, "ioctl");
    return vm_;
  }

  Napi::Value Line(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : fb_vm_line(vm_));
  }
  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : fb_vm_fd(vm_));
  }
  Napi::Value DestroyerFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : fb_vm_destroyer_fd(vm_));
  }
  Napi::Value CtlFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : fb_vm_ctl_fd(vm_));
  }

  // chunks(chunkSize): external ArrayBuffers over the guest mapping, in order.
  Napi::Value Chunks(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t chunk = ArgU64(info, 0, "chunkSize");
    if (chunk == 0) throw Napi::RangeError::New(env, "chunkSize must be positive");
    if (mapping_ == nullptr) ThrowErrno(env, EBADF, "mmap");
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    for (uint64_t off = 0; off < mapping_->size; off += chunk, i++) {
      uint64_t len = mapping_->size - off < chunk ? mapping_->size - off : chunk;
      mapping_->refs++;
      out.Set(i, Napi::ArrayBuffer::New(
                     env, mapping_->addr + off, len,
                     [](Napi::Env, void*, MappingState* s) { ReleaseMapping(s); }, mapping_));
    }
    return out;
  }

  uint8_t* Range(Napi::Env env, uint64_t offset, uint64_t len, const char* syscall) {
    if (mapping_ == nullptr || offset > mapping_->size || len > mapping_->size - offset ||
        offset % 4096 != 0) {
      ThrowErrno(env, EINVAL, syscall);
    }
    return mapping_->addr + offset;
  }

  // protect(offset, len, prot): mprotect of the host view (READ 1, WRITE 2, EXEC 4).
  Napi::Value Protect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t offset = ArgU64(info, 0, "offset");
    uint64_t len = ArgU64(info, 1, "len");
    int prot = ArgI32(info, 2, "prot");
    if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) {
      throw Napi::RangeError::New(env, "prot has unknown bits");
    }
    uint8_t* addr = Range(env, offset, len, "mprotect");
    int r = fb_protect(addr, len, prot);
    if (r < 0) ThrowErrno(env, -r, "mprotect");
    return env.Undefined();
  }

  // resident(offset, len): one byte per 4 KiB page, 1 where the host holds it.
  Napi::Value Resident(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t offset = ArgU64(info, 0, "offset");
    uint64_t len = ArgU64(info, 1, "len");
    uint8_t* addr = Range(env, offset, len, "mincore");
    Napi::Uint8Array out = Napi::Uint8Array::New(env, (len + 4095) / 4096);
    int r = fb_resident(addr, len, out.Data());
    if (r < 0) ThrowErrno(env, -r, "mincore");
    return out;
  }

  // bindExit(Float64Array): where run() writes exit details from now on.
  Napi::Value BindExit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Napi::TypeError::New(env, "exit must be a Float64Array");
    }
    Napi::Float64Array exit = info[0].As<Napi::Float64Array>();
    if (exit.ElementLength() < FB_EXIT_FIELDS) {
      throw Napi::RangeError::New(env, "exit has too few elements");
    }
    exit_ref_ = Napi::Persistent(exit);
    exit_ = exit.Data();
    return env.Undefined();
  }

  Napi::Value SetRegister(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgI32(info, 0, "regnum");
    uint64_t value = ArgU64(info, 1, "value");
    int r = fb_vm_set_register(Live(env), regnum, value);
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_SET_REGISTER");
    return env.Undefined();
  }

  Napi::Value GetRegister(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgI32(info, 0, "regnum");
    uint64_t value = 0;
    int r = fb_vm_get_register(Live(env), regnum, &value);
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_GET_REGISTER");
    return Napi::BigInt::New(env, value);
  }

  Napi::Value SetSegment(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgI32(info, 0, "regnum");
    uint64_t base = ArgU64(info, 1, "base");
    uint64_t limit = ArgU64(info, 2, "limit");
    uint64_t access = ArgU64(info, 3, "access");
    if (limit > 0xffffffffu || access > 0xffffffffu) {
      throw Napi::RangeError::New(env, "limit and access are 32-bit");
    }
    int r = fb_vm_set_segment(Live(env), regnum, base, static_cast<uint32_t>(limit),
                              static_cast<uint32_t>(access));
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_SET_SEGMENT_DESCRIPTOR");
    return env.Undefined();
  }

  Napi::Value GetSegment(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgI32(info, 0, "regnum");
    uint64_t base = 0;
    uint32_t limit = 0;
    uint32_t access = 0;
    int r = fb_vm_get_segment(Live(env), regnum, &base, &limit, &access);
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_GET_SEGMENT_DESCRIPTOR");
    Napi::Object out = Napi::Object::New(env);
    out.Set("base", Napi::BigInt::New(env, base));
    out.Set("limit", Napi::Number::New(env, limit));
    out.Set("access", Napi::Number::New(env, access));
    return out;
  }

  Napi::Value Activate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int r = fb_vm_activate(Live(env));
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_ACTIVATE_CPU");
    return env.Undefined();
  }

  Napi::Value AddKick(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int port = ArgI32(info, 0, "port");
    int fd = ArgI32(info, 1, "fd");
    int r = fb_vm_add_kick(Live(env), port, fd);
    if (r < 0) ThrowErrno(env, -r, "addKick");
    return env.Undefined();
  }

  // run(): VM_RUN until an exit the tender must see; returns its ExitKind.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (exit_ == nullptr) throw Napi::Error::New(env, "bindExit() was not called");
    int kind = fb_vm_run(Live(env), exit_);
    if (kind < 0) ThrowErrno(env, -kind, "ioctl", "VM_RUN");
    return Napi::Number::New(env, kind);
  }

  // destroy(): the VM goes now (idempotent); the memory views stay valid.
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (vm_ == nullptr) return env.Undefined();
    const char* step = nullptr;
    int r = fb_vm_destroy(vm_, &step);
    fb_vm_free(vm_);
    vm_ = nullptr;
    if (r < 0) ThrowStep(env, r, step);
    return env.Undefined();
  }

  struct fb_vm* vm_ = nullptr;
  MappingState* mapping_ = nullptr;
  Napi::Reference<Napi::Float64Array> exit_ref_;
  double* exit_ = nullptr;
};

// ---- module functions ----

Napi::Value Osreldate(const Napi::CallbackInfo& info) {
  int value = 0;
  int r = fb_osreldate(&value);
  if (r < 0) ThrowErrno(info.Env(), -r, "sysctl", "kern.osreldate");
  return Napi::Number::New(info.Env(), value);
}

// ioctlTable(line): [{ name, request }] as fb_abi.h defines them for that line.
Napi::Value IoctlTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int line = ArgI32(info, 0, "line");
  Napi::Array out = Napi::Array::New(env);
  for (int i = 0; i < fb_ioctl_count(); i++) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("name", fb_ioctl_name(i));
    row.Set("request", Napi::Number::New(env, fb_ioctl_request(line, i)));
    out.Set(static_cast<uint32_t>(i), row);
  }
  return out;
}

Napi::Value Tsc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t hz = 0;
  int invariant = 0;
  const char* step = nullptr;
  int r = fb_tsc(&hz, &invariant, &step);
  if (r < 0) ThrowErrno(env, -r, "sysctl", step);
  Napi::Object out = Napi::Object::New(env);
  out.Set("hz", Napi::Number::New(env, static_cast<double>(hz)));
  out.Set("invariant", Napi::Boolean::New(env, invariant != 0));
  return out;
}

Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  int fd = -1;
  int mtu = 0;
  const char* step = nullptr;
  int r = fb_tap_open(name.c_str(), &fd, &mtu, &step);
  if (r < 0) ThrowStep(env, r, step);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("mtu", Napi::Number::New(env, mtu));
  return out;
}

constexpr size_t kMaxPollFds = 53;

// pollWait(fds: Int32Array, timeoutNs): bit i set when fds[i] is readable (or
// would report an error); 0 on timeout or when a termination signal arrived.
// A negative timeout waits without limit.
Napi::Value PollWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "pollWait(fds: Int32Array, timeoutNs: number)");
  }
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  size_t n = fds.ElementLength();
  if (n > kMaxPollFds) throw Napi::RangeError::New(env, "at most 53 fds");
  double timeout_ns = info[1].As<Napi::Number>().DoubleValue();
  if (std::isnan(timeout_ns)) throw Napi::RangeError::New(env, "timeoutNs is NaN");
  struct pollfd pfds[kMaxPollFds];
  for (size_t i = 0; i < n; i++) pfds[i] = {fds[i], POLLIN, 0};
  struct timespec ts = {};
  struct timespec* tsp = nullptr;
  if (timeout_ns >= 0 && std::isfinite(timeout_ns)) {
    double sec = std::floor(timeout_ns / 1e9);
    ts.tv_sec = static_cast<time_t>(sec);
    ts.tv_nsec = static_cast<long>(timeout_ns - sec * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    tsp = &ts;
  }
  int r;
  int err = 0;
  if (g_caught) {
    // Check with the signals blocked, then let ppoll unblock them atomically:
    // one that arrives in between still interrupts the wait.
    sigset_t term;
    sigset_t old;
    sigemptyset(&term);
    sigaddset(&term, SIGINT);
    sigaddset(&term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    if (fb_pending_signal() != 0) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      return Napi::Number::New(env, 0);
    }
    sigset_t during = old;
    sigdelset(&during, SIGINT);
    sigdelset(&during, SIGTERM);
    r = ::ppoll(pfds, n, tsp, &during);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  } else {
    r = ::ppoll(pfds, n, tsp, nullptr);
    err = errno;
  }
  if (r < 0) {
    if (err == EINTR) return Napi::Number::New(env, 0);
    ThrowErrno(env, err, "ppoll");
  }
  double mask = 0;
  for (size_t i = 0; i < n; i++) {
    if (pfds[i].revents & POLLNVAL) ThrowErrno(env, EBADF, "ppoll");
    if (pfds[i].revents & (POLLIN | POLLERR | POLLHUP)) mask += std::ldexp(1.0, static_cast<int>(i));
  }
  return Napi::Number::New(env, mask);
}

Napi::Value WalltimeNs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) ThrowErrno(info.Env(), errno, "clock_gettime");
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

// eventfd(nonBlocking): a close-on-exec eventfd (FreeBSD 13 and later).
Napi::Value EventFd(const Napi::CallbackInfo& info) {
  bool non_blocking = info.Length() > 0 && info[0].ToBoolean().Value();
  int fd = ::eventfd(0, EFD_CLOEXEC | (non_blocking ? EFD_NONBLOCK : 0));
  if (fd < 0) ThrowErrno(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

// catchTerminationSignals(): SIGINT and SIGTERM no longer kill the process;
// they end a running VM_RUN or poll wait instead (see fb_signal_arrived). No
// SA_RESTART: blocking calls must return EINTR. Idempotent.
Napi::Value CatchTerminationSignals(const Napi::CallbackInfo& info) {
  if (g_caught) return info.Env().Undefined();
  g_owner = pthread_self();
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnTerminationSignal;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = 0;
  if (sigaction(SIGINT, &sa, nullptr) != 0 || sigaction(SIGTERM, &sa, nullptr) != 0) {
    ThrowErrno(info.Env(), errno, "sigaction");
  }
  g_caught = 1;
  return info.Env().Undefined();
}

Napi::Value PendingSignal(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fb_pending_signal());
}

// capLimit(fd, rights0: bigint, rights1: bigint, ioctls: number[] | null, fcntls: number):
// cap_rights_limit, then cap_ioctls_limit (when ioctls is an array), then
// cap_fcntls_limit (when fcntls >= 0).
Napi::Value CapLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgI32(info, 0, "fd");
  uint64_t r0 = ArgU64(info, 1, "rights0");
  uint64_t r1 = ArgU64(info, 2, "rights1");
  std::vector<uint32_t> ioctls;
  long nioctls = -1;
  if (info.Length() > 3 && info[3].IsArray()) {
    Napi::Array list = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsNumber()) throw Napi::TypeError::New(env, "ioctls must be numbers");
      double d = v.As<Napi::Number>().DoubleValue();
      if (!(d >= 0) || d > 4294967295.0 || std::floor(d) != d) {
        throw Napi::RangeError::New(env, "ioctl requests are 32-bit");
      }
      ioctls.push_back(static_cast<uint32_t>(d));
    }
    nioctls = static_cast<long>(ioctls.size());
  }
  long fcntls = info.Length() > 4 ? ArgI32(info, 4, "fcntls") : -1;
  const char* step = nullptr;
  int r = fb_cap_limit(fd, r0, r1, ioctls.data(), nioctls, fcntls, &step);
  if (r < 0) ThrowErrno(env, -r, step != nullptr ? step : "cap_rights_limit");
  return env.Undefined();
}

Napi::Value CapEnter(const Napi::CallbackInfo& info) {
  int r = fb_cap_enter();
  if (r < 0) ThrowErrno(info.Env(), -r, "cap_enter");
  return info.Env().Undefined();
}

Napi::Value CapMode(const Napi::CallbackInfo& info) {
  int r = fb_cap_mode();
  if (r < 0) ThrowErrno(info.Env(), -r, "cap_getmode");
  return Napi::Boolean::New(info.Env(), r == 1);
}

// exitNow(status): _exit, without the runtime's teardown (whose system calls a
// sandboxed process may no longer make). The VM goes with the destroyer.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int status = ArgI32(info, 0, "status");
  ::_exit(status & 0xff);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Vm", Vm::Define(env));
  exports.Set("osreldate", Napi::Function::New<Osreldate>(env));
  exports.Set("ioctlTable", Napi::Function::New<IoctlTable>(env));
  exports.Set("tsc", Napi::Function::New<Tsc>(env));
  exports.Set("openTap", Napi::Function::New<OpenTap>(env));
  exports.Set("pollWait", Napi::Function::New<PollWait>(env));
  exports.Set("walltimeNs", Napi::Function::New<WalltimeNs>(env));
  exports.Set("eventfd", Napi::Function::New<EventFd>(env));
  exports.Set("catchTerminationSignals", Napi::Function::New<CatchTerminationSignals>(env));
  exports.Set("pendingSignal", Napi::Function::New<PendingSignal>(env));
  exports.Set("exitNow", Napi::Function::New<ExitNow>(env));
  exports.Set("capLimit", Napi::Function::New<CapLimit>(env));
  exports.Set("capEnter", Napi::Function::New<CapEnter>(env));
  exports.Set("capMode", Napi::Function::New<CapMode>(env));
  exports.Set("exitFields", Napi::Number::New(env, FB_EXIT_FIELDS));
  return exports;
}

}  // namespace

NODE_API_MODULE(hvt_freebsd_vmm, Init)
