// The network ring's host side (docs/guest-abi.md 10.3), for every platform:
// a thread that moves frames between struct hvt_ring in guest RAM and the
// device fds while the vCPU runs, so that the guest needs no exit per frame.
// It must be native: the JavaScript thread sits inside the run ioctl while
// the guest works.
//
// Plain POSIX C++ (threads, read/write/poll), no N-API and no hypervisor: a
// platform hands it the guest RAM's host address, the devices, the kick
// descriptor to wait on and a way to stop the guest when the thread fails
// (RingSetup). How the guest's kick reaches that descriptor is the
// platform's: an eventfd that KVM signals in the kernel on Linux, a pipe the
// vCPU thread writes on the kick port's exit on the BSDs (10.2). The N-API
// object around it is hvt/net_ring_addon.h.
//
// The guest can rewrite any byte of the ring at any moment, so every value it
// owns (ent_tail, each entry) is loaded once into a local, checked, and only
// the local is used; the host's own indices live in locals too and are only
// ever stored into the ring, never read back. Guest data is touched only by
// the kernel (read/write on the device fd), never copied here. What the
// devices are, where the ring lies and what a failure means is decided in
// TypeScript (packages/core/src/modules/net.ts).
#ifndef HVT_NET_RING_H
#define HVT_NET_RING_H

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#if defined(__FreeBSD__) || defined(__OpenBSD__)
#include <pthread_np.h>
#endif

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace hvt {
namespace ring {

constexpr uint32_t kEntries = 1024;
constexpr uint32_t kMask = kEntries - 1;
// Manifest indices are below 64 (MFT_MAX_ENTRIES).
constexpr uint32_t kMaxHandles = 64;
// How long the thread looks for new entries before it asks for a kick.
constexpr int kSpins = 4096;
// The serving thread's name (the sandbox policies list it).
constexpr const char* kThreadName = "net-ring-io";

constexpr uint32_t kOpNetWrite = 1;
constexpr uint32_t kOpNetRead = 2;
constexpr int32_t kResultOk = 0;
constexpr int32_t kResultAgain = 1;
constexpr int32_t kResultEinval = 2;

struct Entry {
  uint32_t operation;
  uint32_t handle;
  uint64_t data;
  uint32_t len;
  uint32_t id;
  uint64_t reserved;
};

struct Commit {
  uint32_t id;
  int32_t ret;
  uint32_t len;
  uint32_t reserved;
};

// struct hvt_ring (10.1): guest-written indices in cache line 0, host-written in 1.
struct Ring {
  uint32_t ent_tail;
  uint32_t com_head;
  uint8_t pad0[56];
  uint32_t ent_head;
  uint32_t com_tail;
  uint32_t needs_kick;
  uint8_t pad1[52];
  Entry entries[kEntries];
  Commit commits[kEntries];
};
static_assert(sizeof(Entry) == 32, "ring entry");
static_assert(sizeof(Commit) == 16, "ring commit");
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
  kKickRead = 5,    // the kick descriptor could not be read
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

// Where the ring lies: nullptr when it may be served, else why not. The ring
// must lie in the mapping at or above `visible` (data buffers are checked
// against `visible`, so they can never reach the ring) and be aligned.
inline const char* LayoutError(uint64_t mapping_size, uint64_t ring_gpa, uint64_t visible) {
  if (ring_gpa % alignof(Ring) != 0 || ring_gpa < visible || visible > mapping_size ||
      ring_gpa > mapping_size || mapping_size - ring_gpa < sizeof(Ring)) {
    return "ring or visible size outside guest memory";
  }
  return nullptr;
}

// What the thread serves and how it reaches the rest of the tender.
struct Setup {
  // Host address of guest-physical 0, and the guest-visible size (7.3).
  uint8_t* guest = nullptr;
  uint64_t visible = 0;
  // Host address of struct hvt_ring (see LayoutError).
  Ring* ring = nullptr;
  // fds[h]: the device fd of manifest index h, or -1.
  int fds[kMaxHandles];
  // Read to sleep until the guest kicks: an eventfd, or a pipe's read end.
  int kick_fd = -1;
  // Written to wake the thread (stop): the same eventfd, or the pipe's write end.
  int wake_fd = -1;
  // Called once, on the serving thread, after the failure is recorded: stops
  // the guest so that the run loop reports it. Must not block.
  void (*interrupt)(void* context) = nullptr;
  void* context = nullptr;

  Setup() {
    for (int& fd : fds) fd = -1;
  }
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

// Reads what a kick left: an eventfd's 8-byte counter, or up to 8 pipe bytes.
// The bytes, 0 at end of file, or -1 with errno.
inline ssize_t ReadKick(int fd) {
  uint64_t buf;
  return ::read(fd, &buf, sizeof buf);
}

// A wake-up that an eventfd and a pipe both take: an 8-byte increment of 1.
// A full pipe or counter (EAGAIN) is already readable.
inline void WriteKick(int fd) {
  uint64_t one = 1;
  (void)!::write(fd, &one, sizeof one);
}

// The serving thread. Start it on the JavaScript thread, Stop() it (or let the
// destructor) before the guest memory, the devices or the kick go.
class Server {
 public:
  Server() = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { Stop(); }

  // Starts the thread, with every signal blocked in it (a process signal must
  // go to a thread whose handlers may run, never to this one), and returns
  // once it runs, so that a sandbox applied later finds it past its start-up
  // system calls. 0, or an errno with *step naming the failed call.
  int Start(const Setup& setup, const char** step) {
    s_ = setup;
    for (uint32_t h = 0; h < kMaxHandles; h++) {
      blocking_[h] = false;
      if (s_.fds[h] < 0) continue;
      int flags = ::fcntl(s_.fds[h], F_GETFL);
      if (flags < 0) {
        *step = "fcntl";
        return errno;
      }
      blocking_[h] = (flags & O_NONBLOCK) == 0;
    }
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&thread_, nullptr, &Server::Main, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (err != 0) {
      *step = "pthread_create";
      return err;
    }
    joinable_ = true;
#if defined(__linux__)
    pthread_setname_np(thread_, kThreadName);
#elif defined(__FreeBSD__) || defined(__OpenBSD__)
    pthread_set_name_np(thread_, kThreadName);
#endif
    while (!started_.load(std::memory_order_acquire)) sched_yield();
    return 0;
  }

  // Idempotent: tells the thread to stop, wakes it and joins it. True when
  // this call joined a thread that had failed.
  bool Stop() {
    if (!joinable_) return false;
    stop_.store(true, std::memory_order_release);
    WriteKick(s_.wake_fd);
    pthread_join(thread_, nullptr);
    joinable_ = false;
    return failed_.load(std::memory_order_acquire);
  }

  // Why the thread stopped serving, once it has (nullptr before).
  const Failure* failure() const {
    return failed_.load(std::memory_order_acquire) ? &failure_ : nullptr;
  }

 private:
  static void* Main(void* self) {
    auto* server = static_cast<Server*>(self);
    server->started_.store(true, std::memory_order_release);
    server->Serve();
    return nullptr;
  }

  bool Stopping() const { return stop_.load(std::memory_order_acquire); }

  // Records why the thread gives up and stops the guest, whose run loop then
  // reports it. Called once, just before Serve returns.
  void Fail(const Failure& failure) {
    failure_ = failure;
    failed_.store(true, std::memory_order_release);
    if (s_.interrupt != nullptr) s_.interrupt(s_.context);
  }

  // 7.3: gpa < M and gpa + len < M (len is 32 bits and M at most 4 GiB, so no
  // sum overflows).
  bool DataValid(uint64_t gpa, uint32_t len) const {
    return gpa < s_.visible && gpa + len < s_.visible;
  }

  // Waits until ent_tail differs from head; false when stopping or failed.
  bool WaitForEntries(uint32_t head, uint32_t* tail) {
    for (;;) {
      for (int i = 0; i < kSpins; i++) {
        if (Stopping()) return false;
        uint32_t t = LoadAcquire(&s_.ring->ent_tail);
        if (t != head) {
          *tail = t;
          return true;
        }
        CpuRelax();
      }
      // The guest kicks only when it sees needs_kick set after publishing: the
      // full fence on both sides keeps each from missing the other's store.
      StoreRelaxed(&s_.ring->needs_kick, 1u);
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
      uint32_t t = LoadAcquire(&s_.ring->ent_tail);
      if (t == head && !Stopping()) {
        ssize_t n = ReadKick(s_.kick_fd);
        if (n <= 0 && !(n < 0 && errno == EINTR)) {
          Failure f;
          f.kind = kKickRead;
          f.err = n < 0 ? errno : EIO;
          Fail(f);
          return false;
        }
      }
      StoreRelease(&s_.ring->needs_kick, 0u);
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
      struct pollfd p[2] = {{fd, POLLOUT, 0}, {s_.kick_fd, POLLIN, 0}};
      int r = ::poll(p, 2, -1);
      if (Stopping()) return false;
      if (r < 0) {
        if (errno == EINTR) continue;
        return true;  // the write itself reports the problem
      }
      if (p[0].revents != 0) return true;
      if (p[1].revents & POLLIN) (void)ReadKick(s_.kick_fd);
    }
  }

  static Failure EntryFailure(int kind, const Entry& e, uint32_t head, uint32_t tail) {
    Failure f;
    f.kind = kind;
    f.operation = e.operation;
    f.handle = e.handle;
    f.gpa = e.data;
    f.len = e.len;
    f.head = head;
    f.tail = tail;
    return f;
  }

  // NET_WRITE (10.3): invalid handles are skipped without a completion. When
  // `final` (the last pass after HALT), a blocking device that takes no frame
  // now is not waited for: the frame is dropped, as a full tap drops it.
  bool Write(const Entry& e, uint32_t head, uint32_t tail, bool final) {
    if (e.handle >= kMaxHandles || s_.fds[e.handle] < 0) return true;
    if (!DataValid(e.data, e.len)) {
      Fail(EntryFailure(kDataRange, e, head, tail));
      return false;
    }
    int fd = s_.fds[e.handle];
    if (blocking_[e.handle]) {
      if (final) {
        struct pollfd p = {fd, POLLOUT, 0};
        if (::poll(&p, 1, 0) <= 0) return true;
      } else if (!WaitWritable(fd)) {
        return false;
      }
    }
    ssize_t n;
    do {
      n = ::write(fd, s_.guest + e.data, e.len);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A descriptor handed over (made non-blocking) that takes no frame
      // now: dropped, as a tap drops frames when its queue is full.
      return true;
    }
    // After HALT a device that fails is not reported: the pass just ends.
    if (final && (n < 0 || static_cast<uint64_t>(n) != e.len)) return false;
    if (n < 0) {
      Failure f = EntryFailure(kWriteError, e, head, tail);
      f.err = errno;
      Fail(f);
      return false;
    }
    if (static_cast<uint64_t>(n) != e.len) {
      Failure f = EntryFailure(kShortWrite, e, head, tail);
      f.done = n;
      Fail(f);
      return false;
    }
    return true;
  }

  // NET_READ (10.3): a completion for every entry; only a bad buffer is fatal.
  bool Read(const Entry& e, uint32_t head, uint32_t tail, int32_t* ret, uint32_t* got) {
    *ret = kResultEinval;
    *got = 0;
    if (e.handle >= kMaxHandles || s_.fds[e.handle] < 0) return true;
    if (!DataValid(e.data, e.len)) {
      Fail(EntryFailure(kDataRange, e, head, tail));
      return false;
    }
    int fd = s_.fds[e.handle];
    if (blocking_[e.handle]) {
      struct pollfd p = {fd, POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) {
        *ret = kResultAgain;
        return true;
      }
    }
    ssize_t n;
    do {
      n = ::read(fd, s_.guest + e.data, e.len);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      *ret = kResultOk;
      *got = static_cast<uint32_t>(n);
    } else if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
      *ret = kResultAgain;
    }
    return true;
  }

  Entry Snapshot(uint32_t slot) const {
    const Entry* src = &s_.ring->entries[slot];
    Entry e;
    e.operation = LoadRelaxed(&src->operation);
    e.handle = LoadRelaxed(&src->handle);
    e.data = LoadRelaxed(&src->data);
    e.len = LoadRelaxed(&src->len);
    e.id = LoadRelaxed(&src->id);
    e.reserved = 0;
    return e;
  }

  void Serve() {
    Ring* ring = s_.ring;
    // The tender zeroed the ring, so both host indices start at 0.
    uint32_t head = 0;
    uint32_t com_tail = 0;
    for (;;) {
      uint32_t tail;
      // Told to stop (HALT): the frames the guest wrote before it halted still
      // go out, in one last pass over what it published, without waiting.
      // After HALT nothing is reported any more: garbage ends the pass quietly.
      bool final = false;
      if (!WaitForEntries(head, &tail)) {
        if (failed_.load(std::memory_order_acquire)) return;
        tail = LoadAcquire(&ring->ent_tail);
        if (tail == head || tail - head > kEntries) return;
        final = true;
      }
      // The guest may have at most a ring's worth in flight; an index further
      // ahead (or behind) is garbage, not work.
      if (tail - head > kEntries) {
        Failure f;
        f.kind = kIndices;
        f.head = head;
        f.tail = tail;
        Fail(f);
        return;
      }
      while (head != tail && (final || !Stopping())) {
        Entry e = Snapshot(head & kMask);
        if (e.operation == kOpNetWrite) {
          if (final && !DataValid(e.data, e.len)) break;
          if (!Write(e, head, tail, final)) return;
        } else if (e.operation == kOpNetRead && !final) {
          // Writes before this read are done: let the guest see their slots free.
          StoreRelease(&ring->ent_head, head);
          int32_t ret;
          uint32_t got;
          if (!Read(e, head, tail, &ret, &got)) return;
          Commit* c = &ring->commits[com_tail & kMask];
          StoreRelaxed(&c->id, e.id);
          StoreRelaxed(&c->ret, ret);
          StoreRelaxed(&c->len, got);
          StoreRelaxed(&c->reserved, 0u);
          com_tail++;
          StoreRelease(&ring->com_tail, com_tail);
        }
        // Unknown operations are consumed without a completion, as writes are.
        head++;
        if (e.operation == kOpNetRead && !final) StoreRelease(&ring->ent_head, head);
      }
      StoreRelease(&ring->ent_head, head);
      if (final) return;
    }
  }

  Setup s_;
  bool blocking_[kMaxHandles] = {};
  pthread_t thread_{};
  bool joinable_ = false;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  // Written by the thread before failed_ is set, read after it is seen.
  Failure failure_;
};

}  // namespace ring
}  // namespace hvt

#endif
