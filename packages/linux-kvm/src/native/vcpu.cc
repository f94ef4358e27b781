// The KVM vCPU object: a vCPU fd, its mapped kvm_run area and its ioctls.
#include <linux/kvm.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>

#include "common.h"
#include "cpuid.h"
#include "debug.h"
#include "fastpath.h"
#include "signals.h"

namespace hvt {

namespace {

// Mirrors ExitKind and ExitField of @hvtjs/core's platform.ts; the package's
// tests check that the two agree.
enum ExitKind : int {
  kExitIo = 1,
  kExitMmio = 2,
  kExitSignal = 3,
  kExitTranslationFault = 4,
  kExitFailEntry = 5,
  kExitInternalError = 6,
  kExitOther = 7,
  kExitIoThread = 8,
  kExitDebug = 9,
  kExitDebugInput = 10,
};
enum ExitField : int {
  kFieldReason = 0,
  kFieldPort = 1,
  kFieldAddress = 1,
  kFieldSize = 2,
  kFieldDirection = 3,
  kFieldValue = 4,
  kFieldSignal = 5,
  kFieldDetail = 6,
  kFieldErrno = 7,
  kExitFieldCount = 8,
};

// Little-endian value of the first min(size, 4) bytes at p.
double LittleEndian32(const uint8_t* p, uint32_t size) {
  uint32_t v = 0;
  for (uint32_t i = 0; i < size && i < 4; i++) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}

// Blocks SIGINT/SIGTERM in this thread for a scope, so that the handler never
// sees a kvm_run pointer that is being unmapped.
class TerminationSignalsBlocked {
 public:
  TerminationSignalsBlocked() {
    sigset_t set;
    TerminationSignalSet(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~TerminationSignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

}  // namespace

class VcpuFd : public Napi::ObjectWrap<VcpuFd> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "VcpuFd",
                                      {
                                          InstanceAccessor<&VcpuFd::Fd>("fd"),
                                          InstanceMethod<&VcpuFd::BindExit>("bindExit"),
                                          InstanceMethod<&VcpuFd::Run>("run"),
                                          InstanceMethod<&VcpuFd::ArmFastPath>("armFastPath"),
                                          InstanceMethod<&VcpuFd::SetCpuid2>("setCpuid2"),
                                          InstanceMethod<&VcpuFd::SetSregs>("setSregs"),
                                          InstanceMethod<&VcpuFd::GetSregs>("getSregs"),
                                          InstanceMethod<&VcpuFd::SetRegs>("setRegs"),
                                          InstanceMethod<&VcpuFd::GetRegs>("getRegs"),
                                          InstanceMethod<&VcpuFd::TscKhz>("tscKhz"),
                                          InstanceMethod<&VcpuFd::FirstRun>("firstRun"),
                                          InstanceMethod<&VcpuFd::Close>("close"),
                                      });
    exports.Set("VcpuFd", ctor);
  }

  // new VcpuFd(fd, mmapSize): takes ownership of a vCPU fd (also when this
  // throws) and maps its kvm_run area of mmapSize bytes.
  explicit VcpuFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VcpuFd>(info) {
    fd_.Reset(ArgInt32(info, 0, "fd"));
    uint64_t size = ArgUint64(info, 1, "mmapSize");
    if (size < sizeof(struct kvm_run)) ThrowErrno(info.Env(), EINVAL, "mmap");
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) ThrowErrno(info.Env(), errno, "mmap");
    run_ = static_cast<struct kvm_run*>(p);
    run_size_ = size;
  }

  ~VcpuFd() override { Release(); }

 private:
  void Release() {
    if (run_ != nullptr) {
      TerminationSignalsBlocked blocked;
      ClearSignalRun(run_);
      ::munmap(run_, run_size_);
      run_ = nullptr;
    }
    fast_ = nullptr;
    fast_ref_.Reset();
    fd_.Close();
  }

  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_.get()); }

  // bindExit(Float64Array): where run() writes exit details from now on. Bound
  // once so that run() needs no arguments and allocates nothing.
  Napi::Value BindExit(const Napi::CallbackInfo& info) {
    exit_ = BindExitArray(info, kExitFieldCount, exit_ref_);
    return info.Env().Undefined();
  }

  // armFastPath(fastPath): from now on run() lets fastPath serve the
  // hypercall exits it can, and goes straight back into the guest.
  Napi::Value ArmFastPath(const Napi::CallbackInfo& info) {
    FastPath* fast = FastPath::FromValue(info.Env(), info[0]);
    fast_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    fast_ = fast;
    return info.Env().Undefined();
  }

  // Whether the fast path served this exit: a 4-byte OUT (a hypercall's
  // transport, docs/guest-abi.md 7.2) whose port and value it took.
  bool ServedFast(struct kvm_run* run) {
    if (run->exit_reason != KVM_EXIT_IO || run->io.direction != KVM_EXIT_IO_OUT ||
        run->io.size != 4) {
      return false;
    }
    uint64_t off = run->io.data_offset;
    if (off > run_size_ || 4 > run_size_ - off) return false;
    uint32_t value = static_cast<uint32_t>(LittleEndian32(reinterpret_cast<uint8_t*>(run) + off, 4));
    return fast_->ServePort(run->io.port, value);
  }

  // run(): KVM_RUN until an exit the tender must see; returns an ExitKind and
  // fills the bound exit array.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (exit_ == nullptr) throw Napi::Error::New(env, "bindExit() was not called");
    int fd = LiveFd(env, fd_, "ioctl", "KVM_RUN");
    double* e = exit_;
    // The vCPU that runs is the one the signal handler must kick out.
    SetSignalRun(run_);
    // An I/O result the fast path left for the previous exit's handler is stale now.
    if (fast_ != nullptr) fast_->ForgetPending();
    for (;;) {
      int sig = PendingSignal();
      if (sig != 0) {
        e[kFieldReason] = KVM_EXIT_INTR;
        e[kFieldSignal] = sig;
        return Napi::Number::New(env, kExitSignal);
      }
      if (IoThreadFailed()) {
        e[kFieldReason] = KVM_EXIT_INTR;
        return Napi::Number::New(env, kExitIoThread);
      }
      if (DebugInputPending()) {
        e[kFieldReason] = KVM_EXIT_INTR;
        return Napi::Number::New(env, kExitDebugInput);
      }
      if (::ioctl(fd, KVM_RUN, 0) == 0) {
        // Served: back into the guest, after the signal checks above, so that a
        // pending SIGINT/SIGTERM still ends run() as before.
        if (fast_ != nullptr && ServedFast(run_)) continue;
        break;
      }
      int err = errno;
      if (err == EINTR) {
        // Some other signal, or ours (then the check above returns it).
        run_->immediate_exit = 0;
        continue;
      }
      if (err == EFAULT) {
        e[kFieldReason] = run_->exit_reason;
        e[kFieldErrno] = err;
        return Napi::Number::New(env, kExitTranslationFault);
      }
      ThrowErrno(env, err, "ioctl", "KVM_RUN");
    }

    struct kvm_run* run = run_;
    e[kFieldReason] = run->exit_reason;
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        uint32_t size = run->io.size;
        e[kFieldPort] = run->io.port;
        e[kFieldSize] = size;
        e[kFieldDirection] = run->io.direction == KVM_EXIT_IO_OUT ? 1 : 0;
        // The data lies inside the mapped area; never read past it.
        uint64_t off = run->io.data_offset;
        bool inside = off <= run_size_ && (size > 4 ? 4 : size) <= run_size_ - off;
        e[kFieldValue] =
            inside ? LittleEndian32(reinterpret_cast<uint8_t*>(run) + off, size) : 0;
        return Napi::Number::New(env, kExitIo);
      }
      case KVM_EXIT_MMIO:
        e[kFieldAddress] = static_cast<double>(run->mmio.phys_addr);
        e[kFieldSize] = run->mmio.len;
        e[kFieldDirection] = run->mmio.is_write ? 1 : 0;
        e[kFieldValue] = LittleEndian32(run->mmio.data, run->mmio.len);
        return Napi::Number::New(env, kExitMmio);
      case KVM_EXIT_FAIL_ENTRY:
        e[kFieldDetail] = static_cast<double>(run->fail_entry.hardware_entry_failure_reason);
        return Napi::Number::New(env, kExitFailEntry);
      case KVM_EXIT_INTERNAL_ERROR:
        e[kFieldDetail] = run->internal.suberror;
        return Napi::Number::New(env, kExitInternalError);
#if defined(__x86_64__)
      case KVM_EXIT_DEBUG:
        e[kFieldDetail] = run->debug.arch.exception;
        e[kFieldAddress] = static_cast<double>(run->debug.arch.pc);
        return Napi::Number::New(env, kExitDebug);
#endif
      default:
        return Napi::Number::New(env, kExitOther);
    }
  }

#if defined(__x86_64__)
  // setCpuid2(buffer): KVM_SET_CPUID2 with a struct kvm_cpuid2 (as returned by
  // Kvm.supportedCpuid).
  Napi::Value SetCpuid2(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArrayBuffer()) {
      throw Napi::TypeError::New(env, "cpuid must be an ArrayBuffer");
    }
    Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
    size_t len = ab.ByteLength();
    auto* cpuid = static_cast<CpuidHeader*>(ab.Data());
    if (len < sizeof(CpuidHeader) ||
        (len - sizeof(CpuidHeader)) / sizeof(struct kvm_cpuid_entry2) < cpuid->nent) {
      throw Napi::RangeError::New(env, "cpuid buffer is shorter than its entry count");
    }
    int fd = LiveFd(env, fd_, "ioctl", "KVM_SET_CPUID2");
    if (RetryIoctl(fd, kIoctlSetCpuid2, cpuid) < 0) ThrowErrno(env, errno, "ioctl", "KVM_SET_CPUID2");
    return env.Undefined();
  }

  static struct kvm_segment SegmentFrom(const Napi::Object& state, const char* name) {
    Napi::Value v = state.Get(name);
    if (!v.IsObject()) {
      throw Napi::TypeError::New(state.Env(), std::string(name) + " must be an object");
    }
    Napi::Object o = v.As<Napi::Object>();
    struct kvm_segment s = {};
    s.base = PropUint64(o, "base");
    s.limit = static_cast<uint32_t>(PropUint64(o, "limit"));
    s.selector = static_cast<uint16_t>(PropUint64(o, "selector"));
    s.type = static_cast<uint8_t>(PropUint64(o, "type"));
    s.present = static_cast<uint8_t>(PropUint64(o, "present"));
    s.dpl = static_cast<uint8_t>(PropUint64(o, "dpl"));
    s.db = static_cast<uint8_t>(PropUint64(o, "db"));
    s.s = static_cast<uint8_t>(PropUint64(o, "s"));
    s.l = static_cast<uint8_t>(PropUint64(o, "l"));
    s.g = static_cast<uint8_t>(PropUint64(o, "g"));
    s.avl = static_cast<uint8_t>(PropUint64(o, "avl"));
    s.unusable = static_cast<uint8_t>(PropUint64(o, "unusable"));
    return s;
  }

  static struct kvm_dtable TableFrom(const Napi::Object& state, const char* name) {
    Napi::Value v = state.Get(name);
    if (!v.IsObject()) {
      throw Napi::TypeError::New(state.Env(), std::string(name) + " must be an object");
    }
    struct kvm_dtable t = {};
    t.base = PropUint64(v.As<Napi::Object>(), "base");
    t.limit = static_cast<uint16_t>(PropUint64(v.As<Napi::Object>(), "limit"));
    return t;
  }

  // setSregs(state): KVM_SET_SREGS with every field that state does not name
  // (CR2, CR8, APIC base, pending interrupts, an absent IDT) zero, as the
  // reference does by writing a zero-initialised struct.
  Napi::Value SetSregs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Napi::TypeError::New(env, "state must be an object");
    }
    Napi::Object state = info[0].As<Napi::Object>();
    struct kvm_sregs sregs = {};
    sregs.cs = SegmentFrom(state, "cs");
    sregs.ds = SegmentFrom(state, "ds");
    sregs.es = SegmentFrom(state, "es");
    sregs.fs = SegmentFrom(state, "fs");
    sregs.gs = SegmentFrom(state, "gs");
    sregs.ss = SegmentFrom(state, "ss");
    sregs.tr = SegmentFrom(state, "tr");
    sregs.ldt = SegmentFrom(state, "ldt");
    sregs.gdt = TableFrom(state, "gdt");
    if (state.Has("idt")) sregs.idt = TableFrom(state, "idt");
    sregs.cr0 = PropUint64(state, "cr0");
    sregs.cr3 = PropUint64(state, "cr3");
    sregs.cr4 = PropUint64(state, "cr4");
    sregs.efer = PropUint64(state, "efer");
    int fd = LiveFd(env, fd_, "ioctl", "KVM_SET_SREGS");
    if (RetryIoctl(fd, KVM_SET_SREGS, &sregs) < 0) ThrowErrno(env, errno, "ioctl", "KVM_SET_SREGS");
    return env.Undefined();
  }

  static Napi::Object SegmentTo(Napi::Env env, const struct kvm_segment& s) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(s.base)));
    o.Set("limit", Napi::Number::New(env, s.limit));
    o.Set("selector", Napi::Number::New(env, s.selector));
    o.Set("type", Napi::Number::New(env, s.type));
    o.Set("present", Napi::Number::New(env, s.present));
    o.Set("dpl", Napi::Number::New(env, s.dpl));
    o.Set("db", Napi::Number::New(env, s.db));
    o.Set("s", Napi::Number::New(env, s.s));
    o.Set("l", Napi::Number::New(env, s.l));
    o.Set("g", Napi::Number::New(env, s.g));
    o.Set("avl", Napi::Number::New(env, s.avl));
    o.Set("unusable", Napi::Number::New(env, s.unusable));
    return o;
  }

  Napi::Value GetSregs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct kvm_sregs sregs = {};
    int fd = LiveFd(env, fd_, "ioctl", "KVM_GET_SREGS");
    if (RetryIoctl(fd, KVM_GET_SREGS, &sregs) < 0) ThrowErrno(env, errno, "ioctl", "KVM_GET_SREGS");
    Napi::Object o = Napi::Object::New(env);
    o.Set("cs", SegmentTo(env, sregs.cs));
    o.Set("ds", SegmentTo(env, sregs.ds));
    o.Set("es", SegmentTo(env, sregs.es));
    o.Set("fs", SegmentTo(env, sregs.fs));
    o.Set("gs", SegmentTo(env, sregs.gs));
    o.Set("ss", SegmentTo(env, sregs.ss));
    o.Set("tr", SegmentTo(env, sregs.tr));
    o.Set("ldt", SegmentTo(env, sregs.ldt));
    for (auto [name, t] : {std::pair{"gdt", sregs.gdt}, std::pair{"idt", sregs.idt}}) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(t.base)));
      d.Set("limit", Napi::Number::New(env, t.limit));
      o.Set(name, d);
    }
    o.Set("cr0", Napi::BigInt::New(env, static_cast<uint64_t>(sregs.cr0)));
    o.Set("cr2", Napi::BigInt::New(env, static_cast<uint64_t>(sregs.cr2)));
    o.Set("cr3", Napi::BigInt::New(env, static_cast<uint64_t>(sregs.cr3)));
    o.Set("cr4", Napi::BigInt::New(env, static_cast<uint64_t>(sregs.cr4)));
    o.Set("cr8", Napi::BigInt::New(env, static_cast<uint64_t>(sregs.cr8)));
    o.Set("efer", Napi::BigInt::New(env, static_cast<uint64_t>(sregs.efer)));
    o.Set("apicBase", Napi::BigInt::New(env, static_cast<uint64_t>(sregs.apic_base)));
    return o;
  }

#define HVT_GENERAL_REGISTERS(X) \
  X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) X(r12) \
  X(r13) X(r14) X(r15) X(rip) X(rflags)

  // setRegs(regs): KVM_SET_REGS; registers regs does not name are zero.
  Napi::Value SetRegs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      throw Napi::TypeError::New(env, "regs must be an object");
    }
    Napi::Object o = info[0].As<Napi::Object>();
    struct kvm_regs regs = {};
#define HVT_READ_REG(r) \
  if (o.Has(#r)) regs.r = PropUint64(o, #r);
    HVT_GENERAL_REGISTERS(HVT_READ_REG)
#undef HVT_READ_REG
    int fd = LiveFd(env, fd_, "ioctl", "KVM_SET_REGS");
    if (RetryIoctl(fd, KVM_SET_REGS, &regs) < 0) ThrowErrno(env, errno, "ioctl", "KVM_SET_REGS");
    return env.Undefined();
  }

  Napi::Value GetRegs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct kvm_regs regs = {};
    int fd = LiveFd(env, fd_, "ioctl", "KVM_GET_REGS");
    if (RetryIoctl(fd, KVM_GET_REGS, &regs) < 0) ThrowErrno(env, errno, "ioctl", "KVM_GET_REGS");
    Napi::Object o = Napi::Object::New(env);
#define HVT_WRITE_REG(r) o.Set(#r, Napi::BigInt::New(env, static_cast<uint64_t>(regs.r)));
    HVT_GENERAL_REGISTERS(HVT_WRITE_REG)
#undef HVT_WRITE_REG
    return o;
  }
#undef HVT_GENERAL_REGISTERS

  // tscKhz(): the vCPU's TSC frequency in kHz (EIO: the host TSC is unstable).
  Napi::Value TscKhz(const Napi::CallbackInfo& info) {
    int fd = LiveFd(info.Env(), fd_, "ioctl", "KVM_GET_TSC_KHZ");
    int r = RetryIoctl(fd, KVM_GET_TSC_KHZ, 0);
    if (r < 0) ThrowErrno(info.Env(), errno, "ioctl", "KVM_GET_TSC_KHZ");
    return Napi::Number::New(info.Env(), r);
  }
#else
  // The x86 register interface does not exist on this architecture.
  Napi::Value SetCpuid2(const Napi::CallbackInfo& info) { return NoX86(info, "KVM_SET_CPUID2"); }
  Napi::Value SetSregs(const Napi::CallbackInfo& info) { return NoX86(info, "KVM_SET_SREGS"); }
  Napi::Value GetSregs(const Napi::CallbackInfo& info) { return NoX86(info, "KVM_GET_SREGS"); }
  Napi::Value SetRegs(const Napi::CallbackInfo& info) { return NoX86(info, "KVM_SET_REGS"); }
  Napi::Value GetRegs(const Napi::CallbackInfo& info) { return NoX86(info, "KVM_GET_REGS"); }
  Napi::Value TscKhz(const Napi::CallbackInfo& info) { return NoX86(info, "KVM_GET_TSC_KHZ"); }
  static Napi::Value NoX86(const Napi::CallbackInfo& info, const char* request) {
    ThrowErrno(info.Env(), ENOSYS, "ioctl", request);
  }
#endif

  // firstRun(): a KVM_RUN that returns at once (immediate_exit) without
  // entering the guest, so that the work KVM defers to a vCPU's first run is
  // done now. Since Linux 6.13 that includes starting a per-VM worker task
  // (huge page recovery) that counts as a thread of this process: after the
  // sandbox forbids new threads, a first KVM_RUN would fail with EAGAIN.
  Napi::Value FirstRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int fd = LiveFd(env, fd_, "ioctl", "KVM_RUN");
    run_->immediate_exit = 1;
    int r = ::ioctl(fd, KVM_RUN, 0);
    int err = errno;
    run_->immediate_exit = 0;
    if (r == 0 || err != EINTR) ThrowErrno(env, r == 0 ? EINVAL : err, "ioctl", "KVM_RUN");
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  OwnedFd fd_;
  struct kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  Napi::Reference<Napi::Float64Array> exit_ref_;
  double* exit_ = nullptr;
  Napi::ObjectReference fast_ref_;
  FastPath* fast_ = nullptr;
};

void InitVcpu(Napi::Env env, Napi::Object exports) {
  VcpuFd::Init(env, exports);
  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("IO", Napi::Number::New(env, kExitIo));
  kinds.Set("MMIO", Napi::Number::New(env, kExitMmio));
  kinds.Set("SIGNAL", Napi::Number::New(env, kExitSignal));
  kinds.Set("TRANSLATION_FAULT", Napi::Number::New(env, kExitTranslationFault));
  kinds.Set("FAIL_ENTRY", Napi::Number::New(env, kExitFailEntry));
  kinds.Set("INTERNAL_ERROR", Napi::Number::New(env, kExitInternalError));
  kinds.Set("OTHER", Napi::Number::New(env, kExitOther));
  kinds.Set("IO_THREAD", Napi::Number::New(env, kExitIoThread));
  kinds.Set("DEBUG", Napi::Number::New(env, kExitDebug));
  kinds.Set("DEBUG_INPUT", Napi::Number::New(env, kExitDebugInput));
  exports.Set("exitKind", kinds);
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("REASON", Napi::Number::New(env, kFieldReason));
  fields.Set("PORT", Napi::Number::New(env, kFieldPort));
  fields.Set("ADDRESS", Napi::Number::New(env, kFieldAddress));
  fields.Set("SIZE", Napi::Number::New(env, kFieldSize));
  fields.Set("DIRECTION", Napi::Number::New(env, kFieldDirection));
  fields.Set("VALUE", Napi::Number::New(env, kFieldValue));
  fields.Set("SIGNAL", Napi::Number::New(env, kFieldSignal));
  fields.Set("DETAIL", Napi::Number::New(env, kFieldDetail));
  fields.Set("ERRNO", Napi::Number::New(env, kFieldErrno));
  exports.Set("exitField", fields);
  // The requests the run loop issues on a vCPU fd, for the sandbox policy.
  Napi::Object requests = Napi::Object::New(env);
  requests.Set("KVM_RUN", Napi::Number::New(env, KVM_RUN));
#if defined(__x86_64__)
  requests.Set("KVM_GET_REGS", Napi::Number::New(env, KVM_GET_REGS));
  requests.Set("KVM_GET_SREGS", Napi::Number::New(env, KVM_GET_SREGS));
#endif
  exports.Set("vcpuIoctls", requests);
}

}  // namespace hvt
