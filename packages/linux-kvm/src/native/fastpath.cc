// The native fast path (docs/architecture.md 3.2). Mechanism only: core's
// modules say which hypercalls may be served here, on which descriptors and
// with which struct layouts; core's handlers stay the one definition of every
// check's outcome and every message. So this side serves an exit only when
// it is sure that the handler would have done exactly the same (every check
// passes, the system calls succeed plainly), and otherwise returns false with
// nothing done, for the handler to serve the exit from the start. The checks
// below are the handlers' (GuestStruct.at and .buffer, the device lookups);
// the differential test (test/src/fast-path.test.ts) compares the two.
#include "fastpath.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "common.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "guest structs are little-endian");

namespace hvt {

namespace {

// Prot bits of @hvtjs/core's platform.ts.
constexpr int kProtRead = 1;
constexpr int kProtWrite = 2;
// Solo5Result.OK.
constexpr int32_t kResultOk = 0;
constexpr int32_t kResultAgain = 1;
// Handles are manifest indices (fewer than 64); a plan naming more is refused.
constexpr uint64_t kMaxHandles = 1024;
// The largest hypercall struct a plan may describe.
constexpr uint64_t kMaxStruct = 4096;

uint64_t LoadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void StoreU64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
void StoreI32(uint8_t* p, int32_t v) { std::memcpy(p, &v, 4); }

// writeAllWaiting's pause between two EAGAINs: 1 ms, in a futex wait as
// Atomics.wait makes it (a call the sandbox allows the runtime anyway).
void WaitOneMillisecond() {
  static int word = 0;
  struct timespec t = {0, 1000000};
  ::syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &t, nullptr, 0);
}

const char* KindName(FastPath::Kind k) {
  switch (k) {
    case FastPath::Kind::kWalltime:
      return "walltime";
    case FastPath::Kind::kPuts:
      return "puts";
    case FastPath::Kind::kBlockRead:
      return "block-read";
    case FastPath::Kind::kBlockWrite:
      return "block-write";
    case FastPath::Kind::kNetWrite:
      return "net-write";
    case FastPath::Kind::kNetRead:
      return "net-read";
    default:
      return "";
  }
}

// One field of a core layout: its offset, after checking that it has the
// width this file reads or writes and lies inside the struct.
uint32_t FieldOffset(const Napi::Object& layout, uint64_t size, const char* name, uint64_t width) {
  Napi::Env env = layout.Env();
  Napi::Value fields = layout.Get("fields");
  if (!fields.IsObject() || !fields.As<Napi::Object>().Get(name).IsObject()) {
    throw Napi::TypeError::New(env, std::string("fast path: layout has no field ") + name);
  }
  Napi::Object f = fields.As<Napi::Object>().Get(name).As<Napi::Object>();
  uint64_t offset = PropUint64(f, "offset");
  if (PropUint64(f, "size") != width || PropUint64(f, "count") != 1 || offset > size ||
      width > size - offset) {
    throw Napi::RangeError::New(env, std::string("fast path: field ") + name + " is not a " +
                                         std::to_string(width) + "-byte field of its struct");
  }
  return static_cast<uint32_t>(offset);
}

FastPath::Call CallFrom(const Napi::Object& o) {
  Napi::Env env = o.Env();
  FastPath::Call c;
  std::string kind = o.Get("kind").ToString().Utf8Value();
  for (auto k : {FastPath::Kind::kWalltime, FastPath::Kind::kPuts, FastPath::Kind::kBlockRead,
                 FastPath::Kind::kBlockWrite, FastPath::Kind::kNetWrite,
                 FastPath::Kind::kNetRead}) {
    if (kind == KindName(k)) c.kind = k;
  }
  if (c.kind == FastPath::Kind::kNone) {
    throw Napi::TypeError::New(env, "fast path: unknown kind " + kind);
  }
  if (!o.Get("layout").IsObject()) throw Napi::TypeError::New(env, "fast path: no layout");
  Napi::Object layout = o.Get("layout").As<Napi::Object>();
  FastPath::Layout& l = c.layout;
  l.size = PropUint64(layout, "size");
  l.access = static_cast<int>(PropUint64(layout, "access"));
  if (l.size == 0 || l.size > kMaxStruct || (l.access & ~(kProtRead | kProtWrite)) != 0) {
    throw Napi::RangeError::New(env, "fast path: bad struct layout");
  }
  switch (c.kind) {
    case FastPath::Kind::kWalltime:
      l.nsecs = FieldOffset(layout, l.size, "nsecs", 8);
      break;
    case FastPath::Kind::kPuts:
      l.data = FieldOffset(layout, l.size, "data", 8);
      l.len = FieldOffset(layout, l.size, "len", 8);
      c.fd = static_cast<int>(PropUint64(o, "fd"));
      break;
    default: {
      bool block = c.kind == FastPath::Kind::kBlockRead || c.kind == FastPath::Kind::kBlockWrite;
      l.handle = FieldOffset(layout, l.size, "handle", 8);
      l.data = FieldOffset(layout, l.size, "data", 8);
      l.len = FieldOffset(layout, l.size, "len", 8);
      l.ret = FieldOffset(layout, l.size, "ret", 4);
      if (block) l.offset = FieldOffset(layout, l.size, "offset", 8);
      if (!o.Get("devices").IsArray()) throw Napi::TypeError::New(env, "fast path: no devices");
      Napi::Array devices = o.Get("devices").As<Napi::Array>();
      for (uint32_t i = 0; i < devices.Length(); i++) {
        if (!devices.Get(i).IsObject()) throw Napi::TypeError::New(env, "fast path: bad device");
        Napi::Object d = devices.Get(i).As<Napi::Object>();
        uint64_t handle = PropUint64(d, "handle");
        uint64_t fd = PropUint64(d, "fd");
        if (handle >= kMaxHandles || fd > 0x7fffffff) {
          throw Napi::RangeError::New(env, "fast path: bad device handle or fd");
        }
        if (c.devices.size() <= handle) c.devices.resize(handle + 1);
        c.devices[handle].fd = static_cast<int>(fd);
        if (block) c.devices[handle].capacity = PropUint64(d, "capacity");
      }
      break;
    }
  }
  return c;
}

}  // namespace

void FastPath::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "FastPath", {InstanceMethod<&FastPath::ServeJs>("serve")});
  GetAddonData(env).fastPath = Napi::Persistent(ctor);
  exports.Set("FastPath", ctor);
}

FastPath::FastPath(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FastPath>(info) {
  Napi::Env env = info.Env();
  GuestMapping* mapping = GuestMapping::FromValue(env, info[0]);
  if (info.Length() < 2 || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "fast path: plan must be an object");
  }
  Napi::Object plan = info[1].As<Napi::Object>();
  visible_ = PropUint64(plan, "visibleSize");
  uint64_t port_base = PropUint64(plan, "portBase");
  if (port_base > 0xffff) throw Napi::RangeError::New(env, "fast path: bad port base");
  port_base_ = static_cast<uint32_t>(port_base);
  if (!plan.Get("restricted").IsArray() || !plan.Get("calls").IsArray()) {
    throw Napi::TypeError::New(env, "fast path: plan needs restricted and calls arrays");
  }
  Napi::Array restricted = plan.Get("restricted").As<Napi::Array>();
  for (uint32_t i = 0; i < restricted.Length(); i++) {
    Napi::Value v = restricted.Get(i);
    if (!v.IsObject()) throw Napi::TypeError::New(env, "fast path: bad restricted range");
    Napi::Object r = v.As<Napi::Object>();
    Range range{PropUint64(r, "start"), PropUint64(r, "end"),
                static_cast<int>(PropUint64(r, "prot"))};
    if (range.end < range.start) throw Napi::RangeError::New(env, "fast path: bad range");
    restricted_.push_back(range);
    if (range.end > restricted_end_) restricted_end_ = range.end;
  }
  Napi::Array calls = plan.Get("calls").As<Napi::Array>();
  if (calls.Length() > kCalls) throw Napi::RangeError::New(env, "fast path: too many calls");
  for (uint32_t nr = 0; nr < calls.Length(); nr++) {
    Napi::Value v = calls.Get(nr);
    if (v.IsObject()) calls_[nr] = CallFrom(v.As<Napi::Object>());
  }
  // Every range the checks admit lies below visible_: it must be mapped.
  mem_ = mapping->HostRange(0, visible_);
  state_ = mapping->Retain();
  if (mem_ == nullptr || state_ == nullptr) {
    if (state_ != nullptr) GuestMapping::Unretain(state_);
    state_ = nullptr;
    throw Napi::RangeError::New(env, "fast path: the visible size exceeds the guest mapping");
  }
}

FastPath::~FastPath() {
  if (state_ != nullptr) GuestMapping::Unretain(state_);
}

FastPath* FastPath::FromValue(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(GetAddonData(env).fastPath.Value())) {
    throw Napi::TypeError::New(env, "expected a FastPath");
  }
  return Unwrap(v.As<Napi::Object>());
}

void FastPath::ForgetPending() { state_->pending = PendingIo(); }

// guestRangeUsable of core's guest-abi.ts: below the visible size, strictly
// at the top (gpa + len < visible in exact arithmetic), then GuestMemory's
// permits() against the loader's protections.
bool FastPath::Usable(uint64_t gpa, uint64_t len, int access) const {
  if (gpa >= visible_ || len >= visible_ - gpa) return false;
  if (gpa >= restricted_end_ || len == 0) return true;
  uint64_t end = gpa + len;
  for (const Range& r : restricted_) {
    if (gpa < r.end && end > r.start && (r.prot & access) != access) return false;
  }
  return true;
}

// The device behind the struct's handle (its low 32 bits, as core reads it),
// or nullptr: not a device, or one this plan leaves to core.
const FastPath::Device* FastPath::DeviceFor(const Call& c, uint64_t gpa) const {
  uint32_t handle = LoadU32(mem_ + gpa + c.layout.handle);
  if (handle >= c.devices.size() || c.devices[handle].fd < 0) return nullptr;
  return &c.devices[handle];
}

bool FastPath::Serve(uint32_t nr, uint64_t gpa) {
  if (nr >= kCalls) return false;
  const Call& c = calls_[nr];
  if (c.kind == Kind::kNone || !Usable(gpa, c.layout.size, c.layout.access)) return false;
  switch (c.kind) {
    case Kind::kWalltime:
      return Walltime(c, gpa);
    case Kind::kPuts:
      return Puts(c, gpa);
    case Kind::kBlockRead:
      return BlockIo(c, gpa, false);
    case Kind::kBlockWrite:
      return BlockIo(c, gpa, true);
    case Kind::kNetWrite:
      return NetWrite(c, gpa);
    case Kind::kNetRead:
      return NetRead(c, gpa);
    default:
      return false;
  }
}

// walltimeHypercall: CLOCK_REALTIME's nanoseconds into nsecs.
bool FastPath::Walltime(const Call& c, uint64_t gpa) {
  struct timespec ts;
  if (::clock_gettime(CLOCK_REALTIME, &ts) != 0) return false;
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  StoreU64(mem_ + gpa + c.layout.nsecs, ns);
  return true;
}

// putsHypercall: the buffer, all of it, to the console (writeAllWaiting: EAGAIN
// waits, any other failure ends the write and is ignored, as the handler does).
bool FastPath::Puts(const Call& c, uint64_t gpa) {
  uint64_t data = LoadU64(mem_ + gpa + c.layout.data);
  uint64_t len = LoadU64(mem_ + gpa + c.layout.len);
  if (!Usable(data, len, kProtRead)) return false;
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = ::write(c.fd, mem_ + data + done, len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) break;
      WaitOneMillisecond();
      continue;
    }
    done += static_cast<uint64_t>(n);
  }
  return true;
}

// BlockModule.blockIo when every check passes and transferAll moves every
// byte. The EINVAL results and every failure are the handler's to serve. A
// failed or short transfer is simply repeated by the handler: positioned I/O
// of the same bytes at the same offsets leaves the file and the buffer as one
// transfer would, provided a read's buffer does not cover its own struct (the
// handler re-reads the struct), which is left to the handler too.
bool FastPath::BlockIo(const Call& c, uint64_t gpa, bool write) {
  const Device* d = DeviceFor(c, gpa);
  if (d == nullptr) return false;
  uint64_t offset = LoadU64(mem_ + gpa + c.layout.offset);
  uint64_t len = LoadU64(mem_ + gpa + c.layout.len);
  if (offset >= d->capacity || len > d->capacity - offset) return false;
  uint64_t data = LoadU64(mem_ + gpa + c.layout.data);
  if (!Usable(data, len, write ? kProtRead : kProtWrite)) return false;
  if (!write && data < gpa + c.layout.size && gpa < data + len) return false;
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = write ? ::pwrite(d->fd, mem_ + data + done, len - done,
                                 static_cast<off_t>(offset + done))
                      : ::pread(d->fd, mem_ + data + done, len - done,
                                static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<uint64_t>(n);
  }
  StoreI32(mem_ + gpa + c.layout.ret, kResultOk);
  return true;
}

// A NET_* struct's device and frame buffer (as netWrite and netRead take
// them: the device, then the buffer for `access`), when both pass.
bool FastPath::FrameOf(const Call& c, uint64_t gpa, int access, Frame* out) const {
  const Device* d = DeviceFor(c, gpa);
  if (d == nullptr) return false;
  out->fd = d->fd;
  out->data = LoadU64(mem_ + gpa + c.layout.data);
  out->len = LoadU64(mem_ + gpa + c.layout.len);
  return Usable(out->data, out->len, access);
}

// The one write or read of a frame (EINTR retried, as GuestMapping's I/O).
ssize_t FastPath::FrameIo(GuestIoOp op, const Frame& f) {
  ssize_t n;
  do {
    n = op == GuestIoOp::kWrite ? ::write(f.fd, mem_ + f.data, f.len)
                                : ::read(f.fd, mem_ + f.data, f.len);
  } while (n < 0 && errno == EINTR);
  return n;
}

// NetModule.netWrite when the device takes the whole frame. Any other result
// of the one write (EAGAIN, an error, a short write) is left pending for the
// handler's own write of the same frame, which then drops, fails or reports
// exactly as it would have.
bool FastPath::NetWrite(const Call& c, uint64_t gpa) {
  Frame f;
  if (!FrameOf(c, gpa, kProtRead, &f)) return false;
  ssize_t n = FrameIo(GuestIoOp::kWrite, f);
  if (n >= 0 && static_cast<uint64_t>(n) == f.len) {
    StoreI32(mem_ + gpa + c.layout.ret, kResultOk);
    return true;
  }
  state_->pending = {GuestIoOp::kWrite, f.fd, f.data, f.len,
                     n < 0 ? -static_cast<double>(errno) : static_cast<double>(n)};
  return false;
}

// NetModule.netRead on a device without a readiness check: a frame (len and
// OK) or nothing to read (AGAIN). A failed read is left pending for the
// handler's own read, which reports it.
bool FastPath::NetRead(const Call& c, uint64_t gpa) {
  Frame f;
  if (!FrameOf(c, gpa, kProtWrite, &f)) return false;
  ssize_t n = FrameIo(GuestIoOp::kRead, f);
  if (n > 0) {
    StoreU64(mem_ + gpa + c.layout.len, static_cast<uint64_t>(n));
    StoreI32(mem_ + gpa + c.layout.ret, kResultOk);
    return true;
  }
  if (n == 0 || errno == EAGAIN) {
    StoreI32(mem_ + gpa + c.layout.ret, kResultAgain);
    return true;
  }
  state_->pending = {GuestIoOp::kRead, f.fd, f.data, f.len, -static_cast<double>(errno)};
  return false;
}

// serve(nr, gpa[, times]): Serve() as the run loop calls it, for the
// differential test; `times` repeats it (the per-exit micro-benchmark).
// True when every call was served.
Napi::Value FastPath::ServeJs(const Napi::CallbackInfo& info) {
  uint32_t nr = static_cast<uint32_t>(ArgUint64(info, 0, "nr"));
  uint64_t gpa = ArgUint64(info, 1, "gpa");
  uint64_t times = info.Length() > 2 ? ArgUint64(info, 2, "times") : 1;
  ForgetPending();
  bool served = true;
  for (uint64_t i = 0; i < times && served; i++) served = Serve(nr, gpa);
  return Napi::Boolean::New(info.Env(), served);
}

void InitFastPath(Napi::Env env, Napi::Object exports) { FastPath::Init(env, exports); }

}  // namespace hvt
