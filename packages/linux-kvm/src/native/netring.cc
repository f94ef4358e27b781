// The network ring's host side (docs/guest-abi.md 10.3): a thread that moves frames
// between struct hvt_ring in guest RAM and the device fds while the vCPU runs,
// so that the guest needs no exit per frame. It must be native: the JavaScript
// thread sits inside KVM_RUN while the guest works.
//
// The guest can rewrite any byte of the ring at any moment, so every value it
// owns (ent_tail, each entry) is loaded once into a local, checked, and only
// the local is used; the host's own indices live in locals too and are only
// ever stored into the ring, never read back. Guest data is touched only by the
// kernel (read/write on the device fd), never copied here. What the devices
// are, where the ring lies and what a failure means is decided in TypeScript.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "common.h"
#include "memory.h"
#include "signals.h"

namespace hvt {

namespace {

constexpr uint32_t kRingEntries = 1024;
constexpr uint32_t kRingMask = kRingEntries - 1;
// Manifest indices are below 64 (MFT_MAX_ENTRIES).
constexpr uint32_t kMaxHandles = 64;
// How long the thread looks for new entries before it asks for a kick.
constexpr int kSpins = 4096;

constexpr uint32_t kOpNetWrite = 1;
constexpr uint32_t kOpNetRead = 2;
constexpr int32_t kResultOk = 0;
constexpr int32_t kResultAgain = 1;
constexpr int32_t kResultEinval = 2;

struct RingEntry {
  uint32_t operation;
  uint32_t handle;
  uint64_t data;
  uint32_t len;
  uint32_t id;
  uint64_t reserved;
};

struct RingCommit {
  uint32_t id;
  int32_t ret;
  uint32_t len;
  uint32_t reserved;
};

// struct hvt_ring: guest-written indices in cache line 0, host-written in 1.
struct Ring {
  uint32_t ent_tail;
  uint32_t com_head;
  uint8_t pad0[56];
  uint32_t ent_head;
  uint32_t com_tail;
  uint32_t needs_kick;
  uint8_t pad1[52];
  RingEntry entries[kRingEntries];
  RingCommit commits[kRingEntries];
};
static_assert(sizeof(RingEntry) == 32, "ring entry");
static_assert(sizeof(RingCommit) == 16, "ring commit");
static_assert(offsetof(Ring, ent_head) == 64, "ring ent_head");
static_assert(offsetof(Ring, entries) == 128, "ring entries");
static_assert(offsetof(Ring, commits) == 32896, "ring commits");
static_assert(sizeof(Ring) == 49280, "struct hvt_ring");

// Why the thread stopped serving. Mirrors NetRingFailureKind in packages/core/src/platform.ts.
enum FailureKind : int {
  kNoFailure = 0,
  kDataRange = 1,   // an entry's (data, len) is not inside guest-visible memory
  kWriteError = 2,  // write() to the device failed
  kShortWrite = 3,  // write() took part of the frame
  kIndices = 4,     // ent_tail ran more than a ring ahead of ent_head
  kKickRead = 5,    // the kick eventfd could not be read
};

struct Failure {
  int kind = kNoFailure;
  uint32_t operation = 0;
  uint32_t handle = 0;
  uint64_t gpa = 0;
  uint32_t len = 0;
  int err = 0;
  int64_t done = 0;
  uint32_t head = 0;
  uint32_t tail = 0;
};

template <typename T>
T LoadRelaxed(const T* p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}
template <typename T>
T LoadAcquire(const T* p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <typename T>
void StoreRelaxed(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
template <typename T>
void StoreRelease(T* p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

inline void CpuRelax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

}  // namespace

class NetRing : public Napi::ObjectWrap<NetRing> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(env, "NetRing",
                                      {
                                          InstanceMethod<&NetRing::StopJs>("stop"),
                                          InstanceMethod<&NetRing::FailureJs>("failure"),
                                      });
    exports.Set("NetRing", ctor);
  }

  // new NetRing(mapping, ringGpa, visibleSize, kickFd, fds): starts the thread.
  // fds[h] is the device fd of manifest index h, or -1 where there is none.
  // Construct it on the thread that runs the vCPU: that thread is the one a
  // failure interrupts. Returns once the thread runs, so that the sandbox,
  // applied later, finds it past its start-up system calls.
  explicit NetRing(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetRing>(info) {
    Napi::Env env = info.Env();
    GuestMapping* mapping = GuestMapping::FromValue(env, info[0]);
    uint64_t ring_gpa = ArgUint64(info, 1, "ringGpa");
    uint64_t visible = ArgUint64(info, 2, "visibleSize");
    kick_fd_ = ArgInt32(info, 3, "kickFd");
    if (info.Length() < 5 || !info[4].IsTypedArray() ||
        info[4].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(env, "fds must be an Int32Array");
    }
    Napi::Int32Array fds = info[4].As<Napi::Int32Array>();
    if (fds.ElementLength() > kMaxHandles) throw Napi::RangeError::New(env, "at most 64 fds");
    // Data buffers are checked against `visible`, so they can never reach the
    // ring itself, which must lie at or above it.
    if (ring_gpa % alignof(Ring) != 0 || ring_gpa < visible ||
        mapping->HostRange(ring_gpa, sizeof(Ring)) == nullptr ||
        mapping->HostRange(0, visible) == nullptr) {
      throw Napi::RangeError::New(env, "ring or visible size outside guest memory");
    }
    if (kick_fd_ < 0) throw Napi::RangeError::New(env, "bad kick fd");
    for (uint32_t h = 0; h < kMaxHandles; h++) {
      fds_[h] = h < fds.ElementLength() ? fds[h] : -1;
      if (fds_[h] < 0) continue;
      int flags = ::fcntl(fds_[h], F_GETFL);
      if (flags < 0) ThrowErrno(env, errno, "fcntl");
      blocking_[h] = (flags & O_NONBLOCK) == 0;
    }
    int err = InstallIoThreadSignalHandler();
    if (err != 0) ThrowErrno(env, err, "sigaction");

    mapping_ = mapping->Retain();
    guest_ = mapping->HostRange(0, visible);
    ring_ = reinterpret_cast<Ring*>(mapping->HostRange(ring_gpa, sizeof(Ring)));
    visible_ = visible;
    pid_ = ::getpid();
    vcpu_tid_ = static_cast<pid_t>(::syscall(SYS_gettid));

    // The thread starts with every signal blocked: a process signal must go
    // to a thread whose handlers may run, never to this one.
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&thread_, nullptr, &NetRing::Main, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (err != 0) {
      GuestMapping::Unretain(mapping_);
      mapping_ = nullptr;
      ThrowErrno(env, err, "pthread_create");
    }
    joinable_ = true;
    pthread_setname_np(thread_, "net-ring-io");
    while (!started_.load(std::memory_order_acquire)) sched_yield();
  }

  ~NetRing() override { Stop(); }

 private:
  static void* Main(void* self) {
    auto* ring = static_cast<NetRing*>(self);
    ring->started_.store(true, std::memory_order_release);
    ring->Serve();
    return nullptr;
  }

  bool Stopping() const { return stop_.load(std::memory_order_acquire); }

  // Records why the thread gives up and interrupts the vCPU thread, whose run
  // loop then reports it. Called once, just before Serve returns.
  void Fail(const Failure& failure) {
    failure_ = failure;
    failed_.store(true, std::memory_order_release);
    NotifyIoThreadFailure(pid_, vcpu_tid_);
  }

  // 7.3: gpa < M and gpa + len < M (len is 32 bits and M at most 4 GiB, so no
  // sum overflows).
  bool DataValid(uint64_t gpa, uint32_t len) const {
    return gpa < visible_ && gpa + len < visible_;
  }

  // Waits until ent_tail differs from head; false when stopping or failed.
  bool WaitForEntries(uint32_t head, uint32_t* tail) {
    for (;;) {
      for (int i = 0; i < kSpins; i++) {
        if (Stopping()) return false;
        uint32_t t = LoadAcquire(&ring_->ent_tail);
        if (t != head) {
          *tail = t;
          return true;
        }
        CpuRelax();
      }
      // The guest kicks only when it sees needs_kick set after publishing: the
      // full fence on both sides keeps each from missing the other's store.
      StoreRelaxed(&ring_->needs_kick, 1u);
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
      uint32_t t = LoadAcquire(&ring_->ent_tail);
      if (t == head && !Stopping()) {
        uint64_t count;
        ssize_t n = ::read(kick_fd_, &count, sizeof count);
        if (n != static_cast<ssize_t>(sizeof count) && !(n < 0 && errno == EINTR)) {
          Failure f;
          f.kind = kKickRead;
          f.err = n < 0 ? errno : EIO;
          Fail(f);
          return false;
        }
      }
      StoreRelease(&ring_->needs_kick, 0u);
      if (t != head) {
        *tail = t;
        return true;
      }
    }
  }

  // For a device fd that may block (one passed in by the caller): waits until
  // it takes a write, or the thread is told to stop (false).
  bool WaitWritable(int fd) {
    for (;;) {
      struct pollfd p[2] = {{fd, POLLOUT, 0}, {kick_fd_, POLLIN, 0}};
      int r = ::poll(p, 2, -1);
      if (Stopping()) return false;
      if (r < 0) {
        if (errno == EINTR) continue;
        return true;  // the write itself reports the problem
      }
      if (p[0].revents != 0) return true;
      uint64_t count;
      if (p[1].revents & POLLIN) (void)!::read(kick_fd_, &count, sizeof count);
    }
  }

  // NET_WRITE (10.3): invalid handles are skipped without a completion.
  bool Write(const RingEntry& e, uint32_t head, uint32_t tail) {
    if (e.handle >= kMaxHandles || fds_[e.handle] < 0) return true;
    Failure f;
    f.operation = e.operation;
    f.handle = e.handle;
    f.gpa = e.data;
    f.len = e.len;
    f.head = head;
    f.tail = tail;
    if (!DataValid(e.data, e.len)) {
      f.kind = kDataRange;
      Fail(f);
      return false;
    }
    int fd = fds_[e.handle];
    if (blocking_[e.handle] && !WaitWritable(fd)) return false;
    ssize_t n;
    do {
      n = ::write(fd, guest_ + e.data, e.len);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A descriptor handed over (made non-blocking) that takes no frame
      // now: dropped, as a tap drops frames when its queue is full.
      return true;
    }
    if (n < 0) {
      f.kind = kWriteError;
      f.err = errno;
      Fail(f);
      return false;
    }
    if (static_cast<uint64_t>(n) != e.len) {
      f.kind = kShortWrite;
      f.done = n;
      Fail(f);
      return false;
    }
    return true;
  }

  // NET_READ (10.3): a completion for every entry; only a bad buffer is fatal.
  bool Read(const RingEntry& e, uint32_t head, uint32_t tail, int32_t* ret, uint32_t* got) {
    *ret = kResultEinval;
    *got = 0;
    if (e.handle >= kMaxHandles || fds_[e.handle] < 0) return true;
    if (!DataValid(e.data, e.len)) {
      Failure f;
      f.kind = kDataRange;
      f.operation = e.operation;
      f.handle = e.handle;
      f.gpa = e.data;
      f.len = e.len;
      f.head = head;
      f.tail = tail;
      Fail(f);
      return false;
    }
    int fd = fds_[e.handle];
    if (blocking_[e.handle]) {
      struct pollfd p = {fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) {
        *ret = kResultAgain;
        return true;
      }
    }
    ssize_t n;
    do {
      n = ::read(fd, guest_ + e.data, e.len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      *ret = kResultOk;
      *got = static_cast<uint32_t>(n);
    } else if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
      *ret = kResultAgain;
    }
    return true;
  }

  RingEntry Snapshot(uint32_t slot) const {
    const RingEntry* src = &ring_->entries[slot];
    RingEntry e;
    e.operation = LoadRelaxed(&src->operation);
    e.handle = LoadRelaxed(&src->handle);
    e.data = LoadRelaxed(&src->data);
    e.len = LoadRelaxed(&src->len);
    e.id = LoadRelaxed(&src->id);
    e.reserved = 0;
    return e;
  }

  void Serve() {
    // The tender zeroed the ring, so both host indices start at 0.
    uint32_t head = 0;
    uint32_t com_tail = 0;
    for (;;) {
      uint32_t tail;
      if (!WaitForEntries(head, &tail)) return;
      // The guest may have at most a ring's worth in flight; an index further
      // ahead (or behind) is garbage, not work.
      if (tail - head > kRingEntries) {
        Failure f;
        f.kind = kIndices;
        f.head = head;
        f.tail = tail;
        Fail(f);
        return;
      }
      while (head != tail && !Stopping()) {
        RingEntry e = Snapshot(head & kRingMask);
        if (e.operation == kOpNetWrite) {
          if (!Write(e, head, tail)) return;
        } else if (e.operation == kOpNetRead) {
          // Writes before this read are done: let the guest see their slots free.
          StoreRelease(&ring_->ent_head, head);
          int32_t ret;
          uint32_t got;
          if (!Read(e, head, tail, &ret, &got)) return;
          RingCommit* c = &ring_->commits[com_tail & kRingMask];
          StoreRelaxed(&c->id, e.id);
          StoreRelaxed(&c->ret, ret);
          StoreRelaxed(&c->len, got);
          StoreRelaxed(&c->reserved, 0u);
          com_tail++;
          StoreRelease(&ring_->com_tail, com_tail);
        }
        // Unknown operations are consumed without a completion, as writes are.
        head++;
        if (e.operation == kOpNetRead) StoreRelease(&ring_->ent_head, head);
      }
      StoreRelease(&ring_->ent_head, head);
      if (Stopping()) return;
    }
  }

  // Idempotent: tells the thread to stop, wakes it and joins it.
  void Stop() {
    if (joinable_) {
      stop_.store(true, std::memory_order_release);
      uint64_t one = 1;
      (void)!::write(kick_fd_, &one, sizeof one);
      pthread_join(thread_, nullptr);
      joinable_ = false;
      if (failed_.load(std::memory_order_acquire)) ClearIoThreadFailure();
    }
    if (mapping_ != nullptr) {
      GuestMapping::Unretain(mapping_);
      mapping_ = nullptr;
    }
  }

  Napi::Value StopJs(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  // failure(): why the thread stopped serving, or undefined.
  Napi::Value FailureJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!failed_.load(std::memory_order_acquire)) return env.Undefined();
    const Failure& f = failure_;
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", Napi::Number::New(env, f.kind));
    o.Set("operation", Napi::Number::New(env, f.operation));
    o.Set("handle", Napi::Number::New(env, f.handle));
    o.Set("gpa", Napi::BigInt::New(env, f.gpa));
    o.Set("len", Napi::Number::New(env, f.len));
    o.Set("code", f.err != 0 ? Napi::Value(Napi::String::New(env, ErrnoName(f.err)))
                             : env.Undefined());
    o.Set("done", Napi::Number::New(env, static_cast<double>(f.done)));
    o.Set("head", Napi::Number::New(env, f.head));
    o.Set("tail", Napi::Number::New(env, f.tail));
    return o;
  }

  MappingState* mapping_ = nullptr;
  uint8_t* guest_ = nullptr;
  Ring* ring_ = nullptr;
  uint64_t visible_ = 0;
  int kick_fd_ = -1;
  int fds_[kMaxHandles] = {};
  bool blocking_[kMaxHandles] = {};
  pid_t pid_ = 0;
  pid_t vcpu_tid_ = 0;
  pthread_t thread_{};
  bool joinable_ = false;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  // Written by the thread before failed_ is set, read after it is seen.
  Failure failure_;
};

void InitNetRing(Napi::Env env, Napi::Object exports) {
  NetRing::Init(env, exports);
  exports.Set("ioThreadSignal", Napi::Number::New(env, IoThreadSignal()));
}

}  // namespace hvt
