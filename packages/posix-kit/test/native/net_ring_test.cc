// The ring engine (include/hvt/net_ring.h) on its own, with real parts: guest
// RAM is an anonymous shared mapping, devices are datagram socketpairs (one
// frame per read/write, as a tap), the kick is a pipe (the BSDs': read end
// blocking, write end non-blocking) or an eventfd (Linux's). The test plays
// the guest from this thread.
//
//   net_ring_test SCENARIO pipe|eventfd
// prints "ok" and exits 0, or names the failed check and exits 1.
#include <hvt/net_ring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

using hvt::ring::Failure;
using hvt::ring::Ring;

namespace {

#define CHECK(cond)                                                 \
  do {                                                              \
    if (!(cond)) {                                                  \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
      std::exit(1);                                                 \
    }                                                               \
  } while (0)

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kMem = 4 * kMiB;
constexpr uint64_t kRingGpa = 2 * kMiB;
constexpr uint64_t kVisible = kRingGpa;
constexpr uint64_t kFrame = 0x100000;
constexpr uint32_t kHandle = 1;

std::atomic<int> g_interrupts{0};
void OnInterrupt(void* context) {
  CHECK(context == &g_interrupts);
  g_interrupts.fetch_add(1);
}

void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Polls `pred` for up to 5 s.
template <typename F>
bool WaitFor(F pred) {
  for (int i = 0; i < 500; i++) {
    if (pred()) return true;
    Sleep(10);
  }
  return pred();
}

struct Guest {
  uint8_t* mem = nullptr;
  Ring* ring = nullptr;
  int kick_read = -1;
  int kick_write = -1;
  bool eventfd = false;
  int device = -1;  // the ring's end
  int peer = -1;    // the test's end
  hvt::ring::Setup setup;
  hvt::ring::Server server;

  explicit Guest(const std::string& kick) {
    void* m = mmap(nullptr, kMem, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    mem = static_cast<uint8_t*>(m);
    ring = reinterpret_cast<Ring*>(mem + kRingGpa);
    if (kick == "pipe") {
      int fds[2];
      CHECK(pipe2(fds, O_CLOEXEC) == 0);
      CHECK(fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0);
      kick_read = fds[0];
      kick_write = fds[1];
    } else {
#if defined(__linux__)
      eventfd = true;
      kick_read = kick_write = ::eventfd(0, EFD_CLOEXEC);
      CHECK(kick_read >= 0);
#else
      CHECK(!"eventfd kick is Linux's");
#endif
    }
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    device = sv[0];
    peer = sv[1];
    setup.guest = mem;
    setup.visible = kVisible;
    setup.ring = ring;
    setup.fds[kHandle] = device;
    setup.kick_fd = kick_read;
    setup.wake_fd = kick_write;
    setup.interrupt = OnInterrupt;
    setup.context = &g_interrupts;
  }

  void Start() {
    const char* step = nullptr;
    CHECK(server.Start(setup, &step) == 0);
  }

  // The guest's side of a kick: a byte on the pipe (the BSD run loop writes
  // one), an increment of the eventfd (KVM signals it).
  void Kick() const {
    if (eventfd) {
      uint64_t one = 1;
      CHECK(write(kick_write, &one, sizeof one) == 8);
    } else {
      char one = 1;
      CHECK(write(kick_write, &one, 1) == 1);
    }
  }

  void Entry(uint32_t index, uint32_t op, uint32_t handle, uint64_t data, uint32_t len,
             uint32_t id = 0) {
    hvt::ring::Entry* e = &ring->entries[index & hvt::ring::kMask];
    e->operation = op;
    e->handle = handle;
    e->data = data;
    e->len = len;
    e->id = id;
  }

  void Publish(uint32_t tail) { __atomic_store_n(&ring->ent_tail, tail, __ATOMIC_SEQ_CST); }
  uint32_t EntHead() const { return __atomic_load_n(&ring->ent_head, __ATOMIC_SEQ_CST); }
  uint32_t ComTail() const { return __atomic_load_n(&ring->com_tail, __ATOMIC_SEQ_CST); }
  bool Sleeping() const { return __atomic_load_n(&ring->needs_kick, __ATOMIC_SEQ_CST) == 1; }

  const Failure* WaitFailure() {
    WaitFor([&] { return server.failure() != nullptr; });
    return server.failure();
  }
};

void ExpectFailure(Guest& g, int kind) {
  const Failure* f = g.WaitFailure();
  CHECK(f != nullptr);
  CHECK(f->kind == kind);
  // The guest is stopped once, after the failure is recorded.
  CHECK(WaitFor([] { return g_interrupts.load() == 1; }));
}

// A frame each way; unknown operations and bad handles as 10.3 says.
void Frames(Guest& g) {
  g.Start();
  std::memcpy(g.mem + kFrame, "hvtjs-ring-write", 16);
  g.Entry(0, hvt::ring::kOpNetWrite, kHandle, kFrame, 60);
  g.Entry(1, 77, kHandle, kFrame, 60);                       // unknown: consumed
  g.Entry(2, hvt::ring::kOpNetWrite, 9, kMem * 4, 0xffffffff);  // bad handle: skipped, unchecked
  g.Publish(3);
  g.Kick();
  CHECK(WaitFor([&] { return g.EntHead() == 3; }));
  char buf[2048];
  ssize_t n = recv(g.peer, buf, sizeof buf, 0);
  CHECK(n == 60);
  CHECK(std::memcmp(buf, "hvtjs-ring-write", 16) == 0);
  CHECK(recv(g.peer, buf, sizeof buf, 0) < 0);  // one frame only
  CHECK(g.ComTail() == 0);                       // writes get no completion

  CHECK(send(g.peer, "hvtjs-ring-read", 15, 0) == 15);
  g.Entry(3, hvt::ring::kOpNetRead, kHandle, kFrame + 4096, 2048, 1000);
  g.Entry(4, hvt::ring::kOpNetRead, kHandle, kFrame + 4096, 2048, 1001);  // nothing there
  g.Entry(5, hvt::ring::kOpNetRead, 63, kFrame, 2048, 1002);              // no device
  g.Publish(6);
  g.Kick();
  CHECK(WaitFor([&] { return g.ComTail() == 3 && g.EntHead() == 6; }));
  const hvt::ring::Commit* c = g.ring->commits;
  CHECK(c[0].id == 1000 && c[0].ret == hvt::ring::kResultOk && c[0].len == 15);
  CHECK(std::memcmp(g.mem + kFrame + 4096, "hvtjs-ring-read", 15) == 0);
  CHECK(c[1].id == 1001 && c[1].ret == hvt::ring::kResultAgain && c[1].len == 0);
  CHECK(c[2].id == 1002 && c[2].ret == hvt::ring::kResultEinval && c[2].len == 0);
  CHECK(g.server.failure() == nullptr);
  CHECK(!g.server.Stop());
  CHECK(g_interrupts.load() == 0);
}

// Past its spin the thread sleeps on the kick: a published entry waits for it.
void KickWakes(Guest& g) {
  g.Start();
  CHECK(WaitFor([&] { return g.Sleeping(); }));
  g.Entry(0, hvt::ring::kOpNetWrite, kHandle, kFrame, 60);
  g.Publish(1);
  Sleep(200);
  CHECK(g.EntHead() == 0);
  g.Kick();
  CHECK(WaitFor([&] { return g.EntHead() == 1; }));
  char buf[128];
  CHECK(recv(g.peer, buf, sizeof buf, 0) == 60);
  CHECK(WaitFor([&] { return g.Sleeping(); }));
  CHECK(!g.server.Stop());
}

// Stop() wakes a sleeping thread and joins it; a second Stop() does nothing.
void StopWhileSleeping(Guest& g) {
  g.Start();
  CHECK(WaitFor([&] { return g.Sleeping(); }));
  auto t0 = std::chrono::steady_clock::now();
  CHECK(!g.server.Stop());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(!g.server.Stop());
  CHECK(g.server.failure() == nullptr);
}

// At HALT the guest may have published writes the thread has not seen yet (it
// halts right after its last reply): Stop() still sends them, in order; reads
// are not served any more (the frame stays queued), garbage ends the pass, and
// nothing is reported.
void StopFlushesWrites(Guest& g) {
  g.Start();
  CHECK(WaitFor([&] { return g.Sleeping(); }));
  CHECK(send(g.peer, "queued", 6, 0) == 6);
  std::memcpy(g.mem + kFrame, "last-reply-one", 14);
  std::memcpy(g.mem + kFrame + 128, "last-reply-two", 14);
  g.Entry(0, hvt::ring::kOpNetWrite, kHandle, kFrame, 60);
  g.Entry(1, hvt::ring::kOpNetRead, kHandle, kFrame + 4096, 2048, 7);
  g.Entry(2, hvt::ring::kOpNetWrite, kHandle, kFrame + 128, 60);
  g.Entry(3, hvt::ring::kOpNetWrite, kHandle, kVisible, 60);  // outside: the pass ends
  g.Entry(4, hvt::ring::kOpNetWrite, kHandle, kFrame, 60);
  g.Publish(5);  // no kick: the guest halted before the thread looked
  CHECK(!g.server.Stop());
  char buf[128];
  CHECK(recv(g.peer, buf, sizeof buf, 0) == 60);
  CHECK(std::memcmp(buf, "last-reply-one", 14) == 0);
  CHECK(recv(g.peer, buf, sizeof buf, 0) == 60);
  CHECK(std::memcmp(buf, "last-reply-two", 14) == 0);
  CHECK(recv(g.peer, buf, sizeof buf, 0) < 0);  // nothing after the bad entry
  CHECK(g.ComTail() == 0);
  CHECK(recv(g.device, buf, sizeof buf, 0) == 6);  // the read was not served
  CHECK(g.server.failure() == nullptr);
  CHECK(g_interrupts.load() == 0);
}

// A blocking device that takes no frame: the thread waits in poll, and Stop()
// still gets it out.
void StopWhileBlockedOnDevice(Guest& g) {
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
  int flags = fcntl(sv[0], F_GETFL);
  CHECK(fcntl(sv[0], F_SETFL, flags | O_NONBLOCK) == 0);
  while (send(sv[0], g.mem, 1024, 0) > 0) {
  }
  CHECK(fcntl(sv[0], F_SETFL, flags) == 0);  // blocking again, and full
  g.setup.fds[kHandle] = sv[0];
  g.Start();
  g.Entry(0, hvt::ring::kOpNetWrite, kHandle, kFrame, 60);
  g.Publish(1);
  g.Kick();
  Sleep(200);
  CHECK(g.EntHead() == 0);
  CHECK(!g.server.Stop());
  CHECK(g.server.failure() == nullptr);
}

// Buffers that are not inside guest-visible memory (7.3) are fatal.
void DataRange(Guest& g, uint64_t data, uint32_t len, uint32_t op) {
  g.Start();
  g.Entry(0, op, kHandle, data, len, 7);
  g.Publish(1);
  g.Kick();
  ExpectFailure(g, hvt::ring::kDataRange);
  const Failure* f = g.server.failure();
  CHECK(f->operation == op && f->handle == kHandle && f->gpa == data && f->len == len);
  CHECK(f->head == 0 && f->tail == 1);
  CHECK(g.EntHead() == 0 && g.ComTail() == 0);
  CHECK(g.server.Stop());  // joined a failed thread
}

// More than a ring's worth ahead, or behind: garbage, not work.
void Indices(Guest& g, uint32_t tail) {
  g.Start();
  g.Publish(tail);
  g.Kick();
  ExpectFailure(g, hvt::ring::kIndices);
  CHECK(g.server.failure()->head == 0 && g.server.failure()->tail == tail);
  CHECK(g.EntHead() == 0);
  CHECK(g.server.Stop());
}

void WriteError(Guest& g) {
  int ro = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  CHECK(ro >= 0);
  g.setup.fds[kHandle] = ro;
  g.Start();
  g.Entry(0, hvt::ring::kOpNetWrite, kHandle, kFrame, 60);
  g.Publish(1);
  g.Kick();
  ExpectFailure(g, hvt::ring::kWriteError);
  CHECK(g.server.failure()->err == EBADF);
  CHECK(g.server.Stop());
}

// A pipe of one page takes a page of a larger frame: a short write.
void ShortWrite(Guest& g) {
#if defined(__linux__)
  int fds[2];
  CHECK(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
  CHECK(fcntl(fds[1], F_SETPIPE_SZ, 4096) == 4096);
  g.setup.fds[kHandle] = fds[1];
  g.Start();
  g.Entry(0, hvt::ring::kOpNetWrite, kHandle, kFrame, 8192);
  g.Publish(1);
  g.Kick();
  ExpectFailure(g, hvt::ring::kShortWrite);
  CHECK(g.server.failure()->done == 4096 && g.server.failure()->len == 8192);
  CHECK(g.server.Stop());
#endif
}

// The kick's other end is gone: reading it says end of file.
void KickEof(Guest& g) {
  CHECK(!g.eventfd);  // an eventfd has no end of file
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  CHECK(null >= 0);
  close(g.kick_write);
  g.setup.wake_fd = null;
  g.Start();
  ExpectFailure(g, hvt::ring::kKickRead);
  CHECK(g.server.failure()->err == EIO);
  CHECK(g.server.Stop());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::printf("usage: net_ring_test SCENARIO pipe|eventfd\n");
    return 2;
  }
  std::string scenario = argv[1];
  Guest g(argv[2]);
  if (scenario == "frames") {
    Frames(g);
  } else if (scenario == "kick-wakes") {
    KickWakes(g);
  } else if (scenario == "stop-sleeping") {
    StopWhileSleeping(g);
  } else if (scenario == "stop-flushes") {
    StopFlushesWrites(g);
  } else if (scenario == "stop-blocked") {
    StopWhileBlockedOnDevice(g);
  } else if (scenario == "data-at-top") {
    // Ends exactly at the top of visible memory: the strict rule refuses it.
    DataRange(g, kVisible - 60, 60, hvt::ring::kOpNetWrite);
  } else if (scenario == "data-huge-len") {
    DataRange(g, 0x1000, 0xffffffff, hvt::ring::kOpNetRead);
  } else if (scenario == "data-wrapped") {
    DataRange(g, 0xfffffffffffff000ULL, 0x2000, hvt::ring::kOpNetWrite);
  } else if (scenario == "data-in-ring") {
    DataRange(g, kRingGpa, 64, hvt::ring::kOpNetRead);
  } else if (scenario == "indices-ahead") {
    Indices(g, hvt::ring::kEntries + 1);
  } else if (scenario == "indices-behind") {
    Indices(g, 0xffffffffu);
  } else if (scenario == "write-error") {
    WriteError(g);
  } else if (scenario == "short-write") {
    ShortWrite(g);
  } else if (scenario == "kick-eof") {
    KickEof(g);
  } else if (scenario == "layout") {
    CHECK(hvt::ring::LayoutError(kMem, kRingGpa, kVisible) == nullptr);
    CHECK(hvt::ring::LayoutError(kMem, kRingGpa, kVisible + 4096) != nullptr);
    CHECK(hvt::ring::LayoutError(kMem, kMem - 4096, kVisible) != nullptr);
    CHECK(hvt::ring::LayoutError(kMem, kRingGpa + 4, kVisible) != nullptr);
    CHECK(hvt::ring::LayoutError(kMem, kMem, kVisible) != nullptr);
    CHECK(hvt::ring::LayoutError(kMem, ~0ULL - 63, kVisible) != nullptr);
  } else {
    std::printf("unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  std::printf("ok\n");
  return 0;
}
