// The node-addon-api glue every POSIX platform addon repeats otherwise:
// argument checking, errors shaped like Node's system errors, guest-memory
// views that outlive the VM, SIGINT/SIGTERM catching, the readability wait,
// the wall clock and the tap/TSC wrappers. Header-only (inline), as
// node-addon-api itself: an addon includes it and lists
// require('@hvtjs/posix-kit/native').include_dir in its include_dirs.
//
// The platform-specific parts come in as a Host type with static members:
//   static void SignalArrived(int sig);       // async-signal-safe: abort the run
//   static int PendingSignal();                // the caught signal, or 0
//   static int IoThreadSignal();               // what a failing I/O thread sends, or 0
//   static bool IoThreadFailed();              // one did: runs and waits end at once
//   static int TapOpen(const char* name, int* fd, int* mtu, const char** step);
//   static int Tsc(uint64_t* hz, int* invariant, const char** step);  // ExportHost only
//   static constexpr const char* kIoctlPrefixes[];  // names reported as "ioctl"
// and, for the BSD cores' VM object and ring (HVT_CORE_CALLS gives them):
//   static int AddKick(Handle*, int port, int fd);    // the ring's kick (hvt/bsd_ring.h)
//   static void IoThreadFailure(int delta);           // a failed ring thread, +1 / -1
//   static void IoThreadInterrupt();                  // async-signal-safe: abort the run
// Core calls return a negative errno and name the failed step in *step.
#ifndef HVT_POSIX_ADDON_H
#define HVT_POSIX_ADDON_H

#include <fcntl.h>
#include <napi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "hvt/net_ring_addon.h"

// The Host members that forward to a core following the naming convention of
// the BSD cores (<p>_vm_new, <p>_vm_create, ..., <p>_signal_arrived): used
// inside the Host struct, which adds kIoctlPrefixes, kSelector, kRunRequest,
// kExitFields, MappingKind and Unmap.
#define HVT_CORE_CALLS(p)                                                                    \
  using Handle = struct p##_vm;                                                              \
  static void SignalArrived(int sig) { p##_signal_arrived(sig); }                            \
  static int PendingSignal() { return p##_pending_signal(); }                                \
  static int IoThreadSignal() { return hvt::RingFailureSignal(); }                           \
  static bool IoThreadFailed() { return p##_io_thread_failed() != 0; }                       \
  static void IoThreadFailure(int delta) { p##_io_thread_failure(delta); }                   \
  static void IoThreadInterrupt() { p##_io_thread_interrupt(); }                             \
  static int AddKick(Handle* vm, int port, int fd) { return p##_vm_add_kick(vm, port, fd); } \
  static int TapOpen(const char* name, int* fd, int* mtu, const char** step) {               \
    return p##_tap_open(name, fd, mtu, step);                                                \
  }                                                                                          \
  static int Tsc(uint64_t* hz, int* invariant, const char** step) {                          \
    return p##_tsc(hz, invariant, step);                                                     \
  }                                                                                          \
  static Handle* New() { return p##_vm_new(); }                                              \
  static int Create(Handle* vm, int selector, const char* name, uint64_t size,               \
                    const char** step) {                                                     \
    return p##_vm_create(vm, selector, name, size, step);                                    \
  }                                                                                          \
  static uint8_t* Memory(Handle* vm, uint64_t* size) { return p##_vm_memory(vm, size); }     \
  static int Fd(Handle* vm) { return p##_vm_fd(vm); }                                        \
  static int Run(Handle* vm, double* exit) { return p##_vm_run(vm, exit); }                  \
  static int Destroy(Handle* vm, const char** step) { return p##_vm_destroy(vm, step); }     \
  static void Free(Handle* vm) { p##_vm_free(vm); }                                          \
  static int Protect(uint8_t* addr, uint64_t len, int prot) { return p##_protect(addr, len, prot); }

namespace hvt {

struct ErrnoEntry {
  int value;
  const char* name;
};

// Names for the errors these calls can report; others read "E<n>". A table
// rather than strerrorname_np(), which needs glibc 2.32 (prebuilt addons also
// load on older glibc and on musl). Where two names share a number the first
// wins, as Node names it (ENOTSUP). Those not every system has are guarded.
#define HVT_ERRNO(name) {name, #name},
inline const ErrnoEntry kErrnoNames[] = {
    HVT_ERRNO(EPERM) HVT_ERRNO(ENOENT) HVT_ERRNO(ESRCH) HVT_ERRNO(EINTR) HVT_ERRNO(EIO)
    HVT_ERRNO(ENXIO) HVT_ERRNO(E2BIG) HVT_ERRNO(ENOEXEC) HVT_ERRNO(EBADF) HVT_ERRNO(ECHILD)
    HVT_ERRNO(EAGAIN) HVT_ERRNO(ENOMEM) HVT_ERRNO(EACCES) HVT_ERRNO(EFAULT) HVT_ERRNO(EBUSY)
    HVT_ERRNO(EEXIST) HVT_ERRNO(EXDEV) HVT_ERRNO(ENODEV) HVT_ERRNO(ENOTDIR) HVT_ERRNO(EISDIR)
    HVT_ERRNO(EINVAL) HVT_ERRNO(ENFILE) HVT_ERRNO(EMFILE) HVT_ERRNO(ENOTTY) HVT_ERRNO(ETXTBSY)
    HVT_ERRNO(EFBIG) HVT_ERRNO(ENOSPC) HVT_ERRNO(ESPIPE) HVT_ERRNO(EROFS) HVT_ERRNO(EMLINK)
    HVT_ERRNO(EPIPE) HVT_ERRNO(EDOM) HVT_ERRNO(ERANGE) HVT_ERRNO(EDEADLK) HVT_ERRNO(ENAMETOOLONG)
    HVT_ERRNO(ENOLCK) HVT_ERRNO(ENOSYS) HVT_ERRNO(ENOTEMPTY) HVT_ERRNO(ELOOP) HVT_ERRNO(ENOMSG)
    HVT_ERRNO(EIDRM) HVT_ERRNO(EOVERFLOW) HVT_ERRNO(EILSEQ) HVT_ERRNO(ENOTSOCK)
    HVT_ERRNO(EDESTADDRREQ) HVT_ERRNO(EMSGSIZE) HVT_ERRNO(EPROTOTYPE) HVT_ERRNO(ENOPROTOOPT)
    HVT_ERRNO(EPROTONOSUPPORT) HVT_ERRNO(ENOTSUP) HVT_ERRNO(EOPNOTSUPP) HVT_ERRNO(EAFNOSUPPORT)
    HVT_ERRNO(EADDRINUSE) HVT_ERRNO(EADDRNOTAVAIL) HVT_ERRNO(ENETDOWN) HVT_ERRNO(ENETUNREACH)
    HVT_ERRNO(ENETRESET) HVT_ERRNO(ECONNABORTED) HVT_ERRNO(ECONNRESET) HVT_ERRNO(ENOBUFS)
    HVT_ERRNO(EISCONN) HVT_ERRNO(ENOTCONN) HVT_ERRNO(ETIMEDOUT) HVT_ERRNO(ECONNREFUSED)
    HVT_ERRNO(EHOSTUNREACH) HVT_ERRNO(EALREADY) HVT_ERRNO(EINPROGRESS) HVT_ERRNO(ESTALE)
    HVT_ERRNO(EDQUOT) HVT_ERRNO(ECANCELED)
#ifdef ENOTBLK
    HVT_ERRNO(ENOTBLK)
#endif
#ifdef EUSERS
    HVT_ERRNO(EUSERS)
#endif
#ifdef EHOSTDOWN
    HVT_ERRNO(EHOSTDOWN)
#endif
#ifdef EBADMSG
    HVT_ERRNO(EBADMSG)
#endif
#ifdef EPROTO
    HVT_ERRNO(EPROTO)
#endif
#ifdef ENODATA
    HVT_ERRNO(ENODATA)
#endif
#ifdef ETIME
    HVT_ERRNO(ETIME)
#endif
#ifdef ENOLINK
    HVT_ERRNO(ENOLINK)
#endif
#ifdef EBADFD
    HVT_ERRNO(EBADFD)
#endif
#ifdef EOWNERDEAD
    HVT_ERRNO(EOWNERDEAD)
#endif
#ifdef ENOTRECOVERABLE
    HVT_ERRNO(ENOTRECOVERABLE)
#endif
#ifdef EHWPOISON
    HVT_ERRNO(EHWPOISON)
#endif
#ifdef ECAPMODE
    HVT_ERRNO(ECAPMODE)
#endif
#ifdef ENOTCAPABLE
    HVT_ERRNO(ENOTCAPABLE)
#endif
};
#undef HVT_ERRNO

inline std::string ErrnoName(int err) {
  for (const ErrnoEntry& e : kErrnoNames) {
    if (e.value == err) return e.name;
  }
  return "E" + std::to_string(err);
}

// An Error like Node's system errors: message strerror(err), `code`, `errno`
// (positive), `syscall`, `request` (an ioctl's or step's name) and `path` (an
// opened file) when known. The TypeScript side words them for people.
inline Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                              const char* request = nullptr, const char* path = nullptr) {
  Napi::Error error = Napi::Error::New(env, std::strerror(err));
  Napi::Object obj = error.Value();
  obj.Set("code", ErrnoName(err));
  obj.Set("errno", Napi::Number::New(env, err));
  obj.Set("syscall", syscall);
  if (request != nullptr) obj.Set("request", request);
  if (path != nullptr) obj.Set("path", path);
  return error;
}

// Throws ErrnoError (C++ exceptions unwind to node-addon-api's callback wrapper).
[[noreturn]] inline void ThrowErrno(Napi::Env env, int err, const char* syscall,
                                    const char* request = nullptr, const char* path = nullptr) {
  throw ErrnoError(env, err, syscall, request, path);
}

// A failed core call: `step` names it ("open", an ioctl, "sysctl kern.x");
// names with one of the Host's ioctl prefixes are reported as syscall "ioctl".
template <class Host>
[[noreturn]] void ThrowStep(Napi::Env env, int negative_errno, const char* step) {
  const char* s = step != nullptr ? step : "?";
  bool is_ioctl = false;
  for (const char* prefix : Host::kIoctlPrefixes) {
    if (std::strncmp(s, prefix, std::strlen(prefix)) == 0) is_ioctl = true;
  }
  ThrowErrno(env, -negative_errno, is_ioctl ? "ioctl" : s, s);
}

// A number or bigint as an unsigned 64-bit integer; `name` for the error.
inline uint64_t ToUint64(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw Napi::RangeError::New(env, std::string(name) + " must fit in 64 bits");
    return out;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d > 9007199254740991.0 || std::floor(d) != d) {
      throw Napi::RangeError::New(env, std::string(name) + " must be a non-negative safe integer");
    }
    return static_cast<uint64_t>(d);
  }
  throw Napi::TypeError::New(env, std::string(name) + " must be a number or bigint");
}

inline uint64_t ArgUint64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i) throw Napi::TypeError::New(info.Env(), std::string(name) + " is missing");
  return ToUint64(info.Env(), info[i], name);
}

// A property of an object as an unsigned 64-bit integer (number or bigint).
inline uint64_t PropUint64(const Napi::Object& obj, const char* name) {
  return ToUint64(obj.Env(), obj.Get(name), name);
}

inline int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Env env = info.Env();
  if (info.Length() <= i || !info[i].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(name) + " must be a number");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (std::floor(d) != d || d < -2147483648.0 || d > 2147483647.0) {
    throw Napi::RangeError::New(env, std::string(name) + " must be a 32-bit integer");
  }
  return static_cast<int32_t>(d);
}

inline std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* name) {
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
// long after the VM is gone, so the range stays mapped until the last one is
// released; `unmap` then gets the range and the platform's `kind` flag.
struct CountedMapping {
  uint8_t* addr = nullptr;
  uint64_t size = 0;
  size_t refs = 0;
  int kind = 0;
  void (*unmap)(uint8_t* addr, uint64_t size, int kind) = nullptr;
};

inline void ReleaseMapping(CountedMapping* m) {
  if (--m->refs == 0) {
    m->unmap(m->addr, m->size, m->kind);
    delete m;
  }
}

// chunks(chunkSize): external ArrayBuffers over the guest mapping, in order.
inline Napi::Value MappingChunks(const Napi::CallbackInfo& info, CountedMapping* m) {
  Napi::Env env = info.Env();
  uint64_t chunk = ArgUint64(info, 0, "chunkSize");
  if (chunk == 0) throw Napi::RangeError::New(env, "chunkSize must be positive");
  if (m == nullptr) ThrowErrno(env, EBADF, "mmap");
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (uint64_t off = 0; off < m->size; off += chunk, i++) {
    uint64_t len = m->size - off < chunk ? m->size - off : chunk;
    m->refs++;
    out.Set(i, Napi::ArrayBuffer::New(
                   env, m->addr + off, len,
                   [](Napi::Env, void*, CountedMapping* s) { ReleaseMapping(s); }, m));
  }
  return out;
}

// The host address of a page-aligned range inside the mapping; EINVAL (as
// `syscall`) otherwise.
inline uint8_t* MappingRange(Napi::Env env, CountedMapping* m, uint64_t offset, uint64_t len,
                             const char* syscall) {
  if (m == nullptr || offset > m->size || len > m->size - offset || offset % 4096 != 0) {
    ThrowErrno(env, EINVAL, syscall);
  }
  return m->addr + offset;
}

// protect(offset, len, prot)'s prot: READ 1, WRITE 2, EXEC 4 and nothing else.
inline int ArgProt(const Napi::CallbackInfo& info, size_t i) {
  int prot = ArgInt32(info, i, "prot");
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) {
    throw Napi::RangeError::New(info.Env(), "prot has unknown bits");
  }
  return prot;
}

// bindExit(Float64Array): keeps the array alive in `ref` and returns its data,
// where run() writes exit details from now on.
inline double* BindExitArray(const Napi::CallbackInfo& info, size_t min_fields,
                             Napi::Reference<Napi::Float64Array>& ref) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    throw Napi::TypeError::New(env, "exit must be a Float64Array");
  }
  Napi::Float64Array exit = info[0].As<Napi::Float64Array>();
  if (exit.ElementLength() < min_fields) {
    throw Napi::RangeError::New(env, "exit has too few elements");
  }
  ref = Napi::Persistent(exit);
  return exit.Data();
}

// ---- the VM object ----

// What a platform's VM object shares, over its core's C calls. Derived is the
// addon's Napi::ObjectWrap class (it calls Create() from its constructor and
// adds CommonProperties() to its own); Host names the core's calls:
//   using Handle = struct xx_vm;                  static Handle* New();
//   static int Create(Handle*, int selector, const char* name, uint64_t size,
//                     const char** step);         static void Free(Handle*);
//   static uint8_t* Memory(Handle*, uint64_t* size);
//   static int MappingKind(Handle*);              (CountedMapping::kind)
//   static void Unmap(uint8_t* addr, uint64_t size, int kind);
//   static int Fd(Handle*);                       static int Run(Handle*, double* exit);
//   static int Destroy(Handle*, const char** step);
//   static int Protect(uint8_t* addr, uint64_t len, int prot);
//   kSelector ("osreldate", "release"), kRunRequest ("VM_RUN"), kExitFields.
template <class Derived, class Host>
class VmBase {
 public:
  using Wrap = Napi::ObjectWrap<Derived>;

  // fd, chunks, protect, bindExit, run, addKick and destroy.
  static std::vector<Napi::ClassPropertyDescriptor<Derived>> CommonProperties() {
    return {
        Wrap::InstanceAccessor("fd", &Derived::Fd, nullptr),
        Wrap::InstanceMethod("chunks", &Derived::Chunks),
        Wrap::InstanceMethod("protect", &Derived::Protect),
        Wrap::InstanceMethod("bindExit", &Derived::BindExit),
        Wrap::InstanceMethod("run", &Derived::Run),
        Wrap::InstanceMethod("addKick", &Derived::AddKick),
        Wrap::InstanceMethod("destroy", &Derived::Destroy),
    };
  }

  // The VM object `v` holds (for the ring thread, which keeps its guest RAM),
  // or nullptr when v is no VM object of this addon.
  static Derived* FromValue(Napi::Value v) {
    if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kTag)) return nullptr;
    return Wrap::Unwrap(v.As<Napi::Object>());
  }
  CountedMapping* mapping() const { return mapping_; }

 protected:
  // new Vm(selector, name, memSize): creates the VM and the guest mapping.
  // Throws with `request` naming the failed step.
  void Create(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int selector = ArgInt32(info, 0, Host::kSelector);
    std::string name = ArgString(info, 1, "name");
    uint64_t mem_size = ArgUint64(info, 2, "memSize");
    vm_ = Host::New();
    if (vm_ == nullptr) ThrowErrno(env, ENOMEM, "calloc");
    const char* step = nullptr;
    int r = Host::Create(vm_, selector, name.c_str(), mem_size, &step);
    if (r < 0) {
      Host::Free(vm_);
      vm_ = nullptr;
      ThrowStep<Host>(env, r, step);
    }
    uint64_t size = 0;
    uint8_t* addr = Host::Memory(vm_, &size);
    mapping_ = new CountedMapping{addr, size, 1, Host::MappingKind(vm_), Host::Unmap};
    info.This().As<Napi::Object>().TypeTag(&kTag);
  }

  static constexpr napi_type_tag kTag = {0x6876742e766d6261ULL, 0x736520766d206f62ULL};

  ~VmBase() {
    if (vm_ != nullptr) {
      Host::Destroy(vm_, nullptr);
      Host::Free(vm_);
    }
    if (mapping_ != nullptr) ReleaseMapping(mapping_);
  }

  // The live VM, or EBADF once destroyed.
  typename Host::Handle* Live(Napi::Env env) {
    if (vm_ == nullptr || Host::Fd(vm_) < 0) ThrowErrno(env, EBADF, "ioctl");
    return vm_;
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : Host::Fd(vm_));
  }

  Napi::Value Chunks(const Napi::CallbackInfo& info) { return MappingChunks(info, mapping_); }

  // protect(offset, len, prot): mprotect of the host view (READ 1, WRITE 2,
  // EXEC 4). ENOTSUP where the mapping is the kernel's (a nonzero kind).
  Napi::Value Protect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t offset = ArgUint64(info, 0, "offset");
    uint64_t len = ArgUint64(info, 1, "len");
    int prot = ArgProt(info, 2);
    uint8_t* addr = MappingRange(env, mapping_, offset, len, "mprotect");
    if (mapping_->kind != 0) ThrowErrno(env, ENOTSUP, "mprotect");
    int r = Host::Protect(addr, len, prot);
    if (r < 0) ThrowErrno(env, -r, "mprotect");
    return env.Undefined();
  }

  // bindExit(Float64Array): where run() writes exit details from now on.
  Napi::Value BindExit(const Napi::CallbackInfo& info) {
    exit_ = BindExitArray(info, Host::kExitFields, exit_ref_);
    return info.Env().Undefined();
  }

  // run(): the run ioctl until an exit the tender must see; returns its ExitKind.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (exit_ == nullptr) throw Napi::Error::New(env, "bindExit() was not called");
    int kind = Host::Run(Live(env), exit_);
    if (kind < 0) ThrowErrno(env, -kind, "ioctl", Host::kRunRequest);
    return Napi::Number::New(env, kind);
  }

  // addKick(port, fd): a 4-byte OUT to `port` writes a byte to `fd` inside
  // the run loop and resumes the guest (the ring's kick pipe); fd -1 undoes it.
  Napi::Value AddKick(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int port = ArgInt32(info, 0, "port");
    int fd = ArgInt32(info, 1, "fd");
    int r = Host::AddKick(Live(env), port, fd);
    if (r < 0) ThrowErrno(env, -r, "addKick");
    return env.Undefined();
  }

  // destroy(): the VM goes now (idempotent); the memory views stay valid.
  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (vm_ == nullptr) return env.Undefined();
    const char* step = nullptr;
    int r = Host::Destroy(vm_, &step);
    Host::Free(vm_);
    vm_ = nullptr;
    if (r < 0) ThrowStep<Host>(env, r, step);
    return env.Undefined();
  }

  typename Host::Handle* vm_ = nullptr;
  CountedMapping* mapping_ = nullptr;
  Napi::Reference<Napi::Float64Array> exit_ref_;
  double* exit_ = nullptr;
};

// ---- signals ----

inline volatile sig_atomic_t g_caught = 0;
// The thread that runs the vCPU and the poll waits (the JavaScript thread).
inline pthread_t g_owner;

// Whether the calling thread is the one catchTerminationSignals() was called on.
inline bool OnOwnerThread() { return pthread_equal(pthread_self(), g_owner) != 0; }

template <class Host>
void OnTerminationSignal(int sig) {
  int saved = errno;
  Host::SignalArrived(sig);
  // Only a signal pending on the thread inside the run ioctl or ppoll makes it
  // return; the kernel may have picked one of Node's or V8's threads instead.
  if (!OnOwnerThread()) pthread_kill(g_owner, sig);
  errno = saved;
}

// The signals that end a run or a poll wait early: SIGINT, SIGTERM and the
// Host's I/O-thread signal, if it has one.
template <class Host>
void WakeSignalSet(sigset_t* set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  int io = Host::IoThreadSignal();
  if (io != 0) sigaddset(set, io);
}

// catchTerminationSignals(): SIGINT and SIGTERM no longer kill the process;
// they end a running vCPU or poll wait instead (Host::SignalArrived). This
// replaces Node's handlers, which would kill the process at once and cannot
// run anyway while this thread is inside the run ioctl. No SA_RESTART:
// blocking calls must return EINTR. Idempotent.
template <class Host>
Napi::Value CatchTerminationSignals(const Napi::CallbackInfo& info) {
  if (g_caught) return info.Env().Undefined();
  g_owner = pthread_self();
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnTerminationSignal<Host>;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = 0;
  if (sigaction(SIGINT, &sa, nullptr) != 0 || sigaction(SIGTERM, &sa, nullptr) != 0) {
    ThrowErrno(info.Env(), errno, "sigaction");
  }
  g_caught = 1;
  return info.Env().Undefined();
}

template <class Host>
Napi::Value PendingSignal(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), Host::PendingSignal());
}

// The signal a failing ring thread interrupts the vCPU thread with: a
// real-time one where there are (Linux, FreeBSD; Node, V8 and libuv use none),
// else SIGUSR2 (OpenBSD; Node uses it only when asked to, for reports).
inline int RingFailureSignal() {
#ifdef SIGRTMIN
  return SIGRTMIN + 4;
#else
  return SIGUSR2;
#endif
}

template <class Host>
void OnIoThreadSignal(int) {
  int saved = errno;
  Host::IoThreadInterrupt();
  errno = saved;
}

// ---- host facilities ----

constexpr size_t kMaxPollFds = 53;

// pollWait(fds: Int32Array, timeoutNs): bit i set when fds[i] is readable (or
// would report an error or hang-up on read); 0 on timeout, when a termination
// signal arrived or an I/O thread failed. A negative timeout waits without
// limit; 0 only checks.
template <class Host>
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
    // one that arrives in between still interrupts the wait instead of being
    // noticed only at the timeout. A failed ring thread's signal ends the
    // wait too (the next run reports it).
    sigset_t wake;
    sigset_t old;
    WakeSignalSet<Host>(&wake);
    pthread_sigmask(SIG_BLOCK, &wake, &old);
    if (Host::PendingSignal() != 0 || Host::IoThreadFailed()) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      return Napi::Number::New(env, 0);
    }
    sigset_t during = old;
    sigdelset(&during, SIGINT);
    sigdelset(&during, SIGTERM);
    if (Host::IoThreadSignal() != 0) sigdelset(&during, Host::IoThreadSignal());
    r = ::ppoll(pfds, n, tsp, &during);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  } else {
    if (Host::IoThreadFailed()) return Napi::Number::New(env, 0);
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

inline Napi::Value WalltimeNs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) ThrowErrno(info.Env(), errno, "clock_gettime");
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

// openTap(name): { fd, mtu } of the tap device (Host::TapOpen).
template <class Host>
Napi::Value OpenTap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  int fd = -1;
  int mtu = 0;
  const char* step = nullptr;
  int r = Host::TapOpen(name.c_str(), &fd, &mtu, &step);
  if (r < 0) ThrowStep<Host>(env, r, step);
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("mtu", Napi::Number::New(env, mtu));
  return out;
}

// tsc(): { hz, invariant } from the Host's sysctls.
template <class Host>
Napi::Value Tsc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t hz = 0;
  int invariant = 0;
  const char* step = nullptr;
  int r = Host::Tsc(&hz, &invariant, &step);
  if (r < 0) ThrowErrno(env, -r, "sysctl", step);
  Napi::Object out = Napi::Object::New(env);
  out.Set("hz", Napi::Number::New(env, static_cast<double>(hz)));
  out.Set("invariant", Napi::Boolean::New(env, invariant != 0));
  return out;
}

// exitNow(status): _exit, without the runtime's teardown (whose system calls a
// sandboxed process may no longer make: it restores terminal modes, resets
// signal handlers and joins threads).
inline Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int status = ArgInt32(info, 0, "status");
  ::_exit(status & 0xff);
}

// The module functions every platform addon has, under the names the TS kit
// expects (posixHost).
template <class Host>
void ExportPosixHost(Napi::Env env, Napi::Object exports) {
  exports.Set("openTap", Napi::Function::New<OpenTap<Host>>(env));
  exports.Set("pollWait", Napi::Function::New<PollWait<Host>>(env));
  exports.Set("walltimeNs", Napi::Function::New<WalltimeNs>(env));
  exports.Set("catchTerminationSignals", Napi::Function::New<CatchTerminationSignals<Host>>(env));
  exports.Set("pendingSignal", Napi::Function::New<PendingSignal<Host>>(env));
  exports.Set("exitNow", Napi::Function::New<ExitNow>(env));
}

// ... and those of a platform whose VM object is a VmBase over a C core.
template <class Host>
void ExportHost(Napi::Env env, Napi::Object exports) {
  ExportPosixHost<Host>(env, exports);
  exports.Set("tsc", Napi::Function::New<Tsc<Host>>(env));
  exports.Set("exitFields", Napi::Number::New(env, Host::kExitFields));
}

// ---- the network ring ----

// The argument reading and errors hvt/net_ring_addon.h asks a ring Host for:
// the kit's, for every platform's ring Host to inherit.
struct RingHostGlue {
  static int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name) {
    return hvt::ArgInt32(info, i, name);
  }
  static uint64_t ArgUint64(const Napi::CallbackInfo& info, size_t i, const char* name) {
    return hvt::ArgUint64(info, i, name);
  }
  [[noreturn]] static void ThrowErrno(Napi::Env env, int err, const char* syscall) {
    hvt::ThrowErrno(env, err, syscall);
  }
  static std::string ErrnoName(int err) { return hvt::ErrnoName(err); }
};

// The BSDs' part of the ring's N-API object (hvt/net_ring_addon.h): guest RAM
// is the VM object's mapping, held until the thread is joined; a failing
// thread marks the failure in the core and interrupts the vCPU thread with
// RingFailureSignal(), whose handler makes a run about to start fail at once
// (one already in the kernel returns for the pending signal), so that the
// run loop returns IO_THREAD and a POLL wait ends. The kick is a pipe the run
// loop writes at the kick port's exit (AddKick, hvt/bsd_ring.h).
template <class Host, class VmClass>
struct VmRingHost : RingHostGlue {
  using Memory = CountedMapping*;
  using Target = pthread_t;

  static Memory Acquire(Napi::Env env, Napi::Value owner, uint8_t** base, uint64_t* size) {
    VmClass* vm = VmClass::FromValue(owner);
    if (vm == nullptr) throw Napi::TypeError::New(env, "expected a Vm");
    CountedMapping* m = vm->mapping();
    if (m == nullptr) ThrowErrno(env, EBADF, "mmap");
    m->refs++;
    *base = m->addr;
    *size = m->size;
    return m;
  }
  static void Release(Memory m) { ReleaseMapping(m); }

  static Target PrepareInterrupt(Napi::Env env) {
    static bool installed = false;
    if (!installed) {
      struct sigaction sa;
      std::memset(&sa, 0, sizeof(sa));
      sa.sa_handler = OnIoThreadSignal<Host>;
      sigfillset(&sa.sa_mask);
      // No SA_RESTART: an interrupted run ioctl or ppoll must return EINTR.
      sa.sa_flags = 0;
      if (sigaction(RingFailureSignal(), &sa, nullptr) != 0) ThrowErrno(env, errno, "sigaction");
      installed = true;
    }
    return pthread_self();
  }
  static void Interrupt(const Target& vcpu) {
    Host::IoThreadFailure(1);
    pthread_kill(vcpu, RingFailureSignal());
  }
  static void FailureJoined() { Host::IoThreadFailure(-1); }

};

// kickPipe(): [readFd, writeFd] of a new close-on-exec pipe, the write end
// non-blocking (the run loop must never wait on it).
inline Napi::Value KickPipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) ThrowErrno(env, errno, "pipe");
  int flags = ::fcntl(fds[1], F_GETFL);
  if (flags < 0 || ::fcntl(fds[1], F_SETFL, flags | O_NONBLOCK) != 0) {
    int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    ThrowErrno(env, err, "fcntl");
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// NetRing (over VmClass objects), kickPipe and ioThreadSignal.
template <class Host, class VmClass>
void ExportNetRing(Napi::Env env, Napi::Object exports) {
  exports.Set("NetRing", NetRingObject<VmRingHost<Host, VmClass>>::Define(env));
  exports.Set("kickPipe", Napi::Function::New<KickPipe>(env));
  exports.Set("ioThreadSignal", Napi::Number::New(env, RingFailureSignal()));
}

}  // namespace hvt

#endif
