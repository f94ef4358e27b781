// The node-addon-api glue of the OpenBSD addon: argument checking, errors
// shaped like Node's system errors, guest-memory views with a lifetime of their
// own, and the host facilities that need system headers (signals, ppoll,
// clocks, the passwd lookup). Everything about vmm(4), the privilege drop and
// pledge is in ob_vmm.c.
#include <napi.h>
#include <poll.h>
#include <pthread.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "ob_vmm.h"

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

// A failed core call: `step` names it ("open", "VMM_IOC_CREATE", "chroot");
// ioctl names are reported as syscall "ioctl".
[[noreturn]] void ThrowStep(Napi::Env env, int negative_errno, const char* step) {
  const char* s = step != nullptr ? step : "?";
  bool is_ioctl = std::strncmp(s, "VMM_IOC_", 8) == 0 || std::strncmp(s, "SIOC", 4) == 0;
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
// long after the VM is terminated, so the range stays mapped until the last
// one is gone. (7.8's kernel mapping is immutable and stays until exit.)
struct MappingState {
  uint8_t* addr = nullptr;
  uint64_t size = 0;
  size_t refs = 0;
  bool kernel_memory = false;
};

void ReleaseMapping(MappingState* s) {
  if (--s->refs == 0) {
    ob_unmap_guest(s->addr, s->size, s->kernel_memory ? 1 : 0);
    delete s;
  }
}

// ---- signals ----

volatile sig_atomic_t g_caught = 0;
pthread_t g_owner;

void OnTerminationSignal(int sig) {
  int saved = errno;
  ob_signal_arrived(sig);
  // Only a signal pending on the thread inside VMM_IOC_RUN or ppoll makes it return;
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
                           InstanceAccessor<&Vm::Fd>("fd"),
                           InstanceAccessor<&Vm::TerminatorFd>("terminatorFd"),
                           InstanceAccessor<&Vm::Id>("id"),
                           InstanceAccessor<&Vm::KernelMemory>("kernelMemory"),
                           InstanceMethod<&Vm::Chunks>("chunks"),
                           InstanceMethod<&Vm::Protect>("protect"),
                           InstanceMethod<&Vm::BindExit>("bindExit"),
                           InstanceMethod<&Vm::ResetCpu>("resetCpu"),
                           InstanceMethod<&Vm::ReadRegs>("readRegs"),
                           InstanceMethod<&Vm::Run>("run"),
                           InstanceMethod<&Vm::Destroy>("destroy"),
                       });
  }

  // new Vm(release, name, memSize): creates the VM, its guest memory and the
  // terminator. Throws with `request` naming the failed step.
  explicit Vm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vm>(info) {
    Napi::Env env = info.Env();
    int release = ArgI32(info, 0, "release");
    std::string name = ArgString(info, 1, "name");
    uint64_t mem_size = ArgU64(info, 2, "memSize");
    vm_ = ob_vm_new();
    if (vm_ == nullptr) ThrowErrno(env, ENOMEM, "calloc");
    const char* step = nullptr;
    int r = ob_vm_create(vm_, release, name.c_str(), mem_size, &step);
    if (r < 0) {
      ob_vm_free(vm_);
      vm_ = nullptr;
      ThrowStep(env, r, step);
    }
    uint64_t size = 0;
    uint8_t* addr = ob_vm_memory(vm_, &size);
    mapping_ = new MappingState{addr, size, 1, ob_vm_kernel_memory(vm_) != 0};
  }

  ~Vm() override {
    if (vm_ != nullptr) {
      ob_vm_destroy(vm_, nullptr);
      ob_vm_free(vm_);
    }
    if (mapping_ != nullptr) ReleaseMapping(mapping_);
  }

 private:
  struct ob_vm* Live(Napi::Env env) {
    if (vm_ == nullptr || ob_vm_fd(vm_) < 0) ThrowErrno(env, EBADF, "ioctl");
    return vm_;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : ob_vm_fd(vm_));
  }
  Napi::Value TerminatorFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : ob_vm_terminator_fd(vm_));
  }
  Napi::Value Id(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? 0 : ob_vm_id(vm_));
  }
  Napi::Value KernelMemory(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), mapping_ != nullptr && mapping_->kernel_memory);
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

  // protect(offset, len, prot): mprotect of our own guest mapping (7.7 and
  // older). ENOTSUP for 7.8's immutable kernel mapping.
  Napi::Value Protect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t offset = ArgU64(info, 0, "offset");
    uint64_t len = ArgU64(info, 1, "len");
    int prot = ArgI32(info, 2, "prot");
    if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) {
      throw Napi::RangeError::New(env, "prot has unknown bits");
    }
    if (mapping_ == nullptr || offset > mapping_->size || len > mapping_->size - offset ||
        offset % 4096 != 0) {
      ThrowErrno(env, EINVAL, "mprotect");
    }
    if (mapping_->kernel_memory) ThrowErrno(env, ENOTSUP, "mprotect");
    int r = ob_protect(mapping_->addr + offset, len, prot);
    if (r < 0) ThrowErrno(env, -r, "mprotect");
    return env.Undefined();
  }

  // bindExit(Float64Array): where run() writes exit details from now on.
  Napi::Value BindExit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Napi::TypeError::New(env, "exit must be a Float64Array");
    }
    Napi::Float64Array exit = info[0].As<Napi::Float64Array>();
    if (exit.ElementLength() < OB_EXIT_FIELDS) {
      throw Napi::RangeError::New(env, "exit has too few elements");
    }
    exit_ref_ = Napi::Persistent(exit);
    exit_ = exit.Data();
    return env.Undefined();
  }

  // resetCpu(state: Uint8Array): VMM_IOC_RESETCPU with a whole struct vcpu_reg_state.
  Napi::Value ResetCpu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "state must be a Uint8Array");
    }
    Napi::Uint8Array state = info[0].As<Napi::Uint8Array>();
    int r = ob_vm_reset_cpu(Live(env), state.Data(), state.ByteLength());
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VMM_IOC_RESETCPU");
    return env.Undefined();
  }

  // readRegs(): VMM_IOC_READREGS, the struct vcpu_reg_state as a new Uint8Array.
  Napi::Value ReadRegs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Uint8Array out = Napi::Uint8Array::New(env, kRegStateSize);
    int r = ob_vm_read_regs(Live(env), out.Data(), out.ByteLength());
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VMM_IOC_READREGS");
    return out;
  }

  // run(): VMM_IOC_RUN until an exit the tender must see; returns its ExitKind.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (exit_ == nullptr) throw Napi::Error::New(env, "bindExit() was not called");
    int kind = ob_vm_run(Live(env), exit_);
    if (kind < 0) ThrowErrno(env, -kind, "ioctl", "VMM_IOC_RUN");
    return Napi::Number::New(env, kind);
  }

  // destroy(): VMM_IOC_TERM now (idempotent); the memory views stay valid.
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (vm_ == nullptr) return env.Undefined();
    const char* step = nullptr;
    int r = ob_vm_destroy(vm_, &step);
    ob_vm_free(vm_);
    vm_ = nullptr;
    if (r < 0) ThrowStep(env, r, step);
    return env.Undefined();
  }

  static constexpr size_t kRegStateSize = 568;
  struct ob_vm* vm_ = nullptr;
  MappingState* mapping_ = nullptr;
  Napi::Reference<Napi::Float64Array> exit_ref_;
  double* exit_ = nullptr;
};

// ---- module functions ----

Napi::Value Osrelease(const Napi::CallbackInfo& info) {
  char buf[32];
  int r = ob_osrelease(buf, sizeof(buf));
  if (r < 0) ThrowErrno(info.Env(), -r, "sysctl", "kern.osrelease");
  return Napi::String::New(info.Env(), buf);
}

// releaseTable(): [{ release, ioctls: [{ name, request }] }] as ob_abi.h defines them.
Napi::Value ReleaseTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (int rel = 0; rel < ob_release_count(); rel++) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("release", ob_release_name(rel));
    Napi::Array ioctls = Napi::Array::New(env);
    for (int i = 0; i < ob_ioctl_count(); i++) {
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("name", ob_ioctl_name(i));
      entry.Set("request", Napi::Number::New(env, ob_ioctl_request(rel, i)));
      ioctls.Set(static_cast<uint32_t>(i), entry);
    }
    row.Set("ioctls", ioctls);
    out.Set(static_cast<uint32_t>(rel), row);
  }
  return out;
}

Napi::Value Tsc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t hz = 0;
  int invariant = 0;
  const char* step = nullptr;
  int r = ob_tsc(&hz, &invariant, &step);
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
  int r = ob_tap_open(name.c_str(), &fd, &mtu, &step);
  if (r < 0) ThrowStep(env, r, step);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("mtu", Napi::Number::New(env, mtu));
  return out;
}

// vmExists(release, id): whether VM `id` still exists (see ob_vm_probe).
Napi::Value VmExists(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int release = ArgI32(info, 0, "release");
  uint64_t id = ArgU64(info, 1, "id");
  int r = ob_vm_probe(release, static_cast<uint32_t>(id));
  if (r < 0) ThrowErrno(env, -r, "ioctl", "VMM_IOC_READREGS");
  return Napi::Boolean::New(env, r == 1);
}

// lookupUser(name): { uid, gid, dir } from the passwd database, or null.
Napi::Value LookupUser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  errno = 0;
  struct passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    if (errno != 0) ThrowErrno(env, errno, "getpwnam");
    return env.Null();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("uid", Napi::Number::New(env, pw->pw_uid));
  out.Set("gid", Napi::Number::New(env, pw->pw_gid));
  out.Set("dir", pw->pw_dir != nullptr ? pw->pw_dir : "");
  return out;
}

// lookupGroup(name): the group's gid, or null.
Napi::Value LookupGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  errno = 0;
  struct group* gr = ::getgrnam(name.c_str());
  if (gr == nullptr) {
    if (errno != 0) ThrowErrno(env, errno, "getgrnam");
    return env.Null();
  }
  return Napi::Number::New(env, gr->gr_gid);
}

// dropPrivileges(dir, uid, gid, promises): chroot, chdir, setgroups,
// setresgid, setresuid, pledge; throws with `syscall` naming the failed one.
Napi::Value DropPrivileges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = ArgString(info, 0, "dir");
  uint64_t uid = ArgU64(info, 1, "uid");
  uint64_t gid = ArgU64(info, 2, "gid");
  std::string promises = ArgString(info, 3, "promises");
  if (uid > 0xffffffffu || gid > 0xffffffffu) throw Napi::RangeError::New(env, "uid/gid are 32-bit");
  const char* step = nullptr;
  int r = ob_drop_privileges(dir.c_str(), static_cast<uint32_t>(uid), static_cast<uint32_t>(gid),
                             promises.c_str(), &step);
  if (r < 0) ThrowErrno(env, -r, step != nullptr ? step : "pledge");
  return env.Undefined();
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
    if (ob_pending_signal() != 0) {
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

// catchTerminationSignals(): SIGINT and SIGTERM no longer kill the process;
// they end a running VMM_IOC_RUN or poll wait instead (see ob_signal_arrived). No
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
  return Napi::Number::New(info.Env(), ob_pending_signal());
}

// exitNow(status): _exit, without the runtime's teardown (whose system calls a
// sandboxed process may no longer make). The VM goes with the destroyer.
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int status = ArgI32(info, 0, "status");
  ::_exit(status & 0xff);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Vm", Vm::Define(env));
  exports.Set("osrelease", Napi::Function::New<Osrelease>(env));
  exports.Set("releaseTable", Napi::Function::New<ReleaseTable>(env));
  exports.Set("tsc", Napi::Function::New<Tsc>(env));
  exports.Set("openTap", Napi::Function::New<OpenTap>(env));
  exports.Set("vmExists", Napi::Function::New<VmExists>(env));
  exports.Set("lookupUser", Napi::Function::New<LookupUser>(env));
  exports.Set("lookupGroup", Napi::Function::New<LookupGroup>(env));
  exports.Set("dropPrivileges", Napi::Function::New<DropPrivileges>(env));
  exports.Set("pollWait", Napi::Function::New<PollWait>(env));
  exports.Set("walltimeNs", Napi::Function::New<WalltimeNs>(env));
  exports.Set("catchTerminationSignals", Napi::Function::New<CatchTerminationSignals>(env));
  exports.Set("pendingSignal", Napi::Function::New<PendingSignal>(env));
  exports.Set("exitNow", Napi::Function::New<ExitNow>(env));
  exports.Set("exitFields", Napi::Number::New(env, OB_EXIT_FIELDS));
  return exports;
}

}  // namespace

NODE_API_MODULE(hvt_openbsd_vmm, Init)
