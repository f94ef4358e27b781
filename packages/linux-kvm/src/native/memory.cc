#include "memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common.h"

namespace hvt {

namespace {

size_t HostPageSize() { return static_cast<size_t>(::sysconf(_SC_PAGESIZE)); }

void DropMappingRef(MappingState* s) {
  if (--s->refs == 0) {
    ::munmap(s->addr, s->size);
    delete s;
  }
}

// A non-negative integer argument below 2^53, without throwing: the I/O
// calls below are on the hot path and report every problem as -errno.
bool IoArg(const Napi::CallbackInfo& info, size_t i, uint64_t* out) {
  if (i >= info.Length() || !info[i].IsNumber()) return false;
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

// The granule of residentPages(): what dumpcore writes per page, independent of
// the host's page size.
constexpr size_t kResidentUnit = 4096;

}  // namespace

void GuestMapping::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "GuestMapping",
                                    {
                                        InstanceAccessor<&GuestMapping::Size>("size"),
                                        InstanceMethod<&GuestMapping::Chunks>("chunks"),
                                        InstanceMethod<&GuestMapping::Protect>("protect"),
                                        InstanceMethod<&GuestMapping::Resident>("resident"),
                                        InstanceMethod<&GuestMapping::Release>("release"),
                                        InstanceMethod<&GuestMapping::Pread>("pread"),
                                        InstanceMethod<&GuestMapping::Pwrite>("pwrite"),
                                        InstanceMethod<&GuestMapping::Read>("read"),
                                        InstanceMethod<&GuestMapping::Write>("write"),
                                    });
  GetAddonData(env).guestMapping = Napi::Persistent(ctor);
  exports.Set("GuestMapping", ctor);
}

// new GuestMapping(size): zero-filled guest RAM. MAP_SHARED so that KVM and
// every view see the same pages; MAP_NORESERVE so that a 4 GiB guest that
// touches little costs little and is not refused by overcommit accounting.
GuestMapping::GuestMapping(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<GuestMapping>(info) {
  uint64_t size = ArgUint64(info, 0, "size");
  if (size == 0 || size % HostPageSize() != 0) {
    throw Napi::RangeError::New(info.Env(), "size must be a positive multiple of the page size");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (addr == MAP_FAILED) ThrowErrno(info.Env(), errno, "mmap");
  state_ = new MappingState();
  state_->addr = static_cast<uint8_t*>(addr);
  state_->size = size;
  state_->refs = 1;
  owner_ = true;
}

GuestMapping::~GuestMapping() { DropOwner(); }

void GuestMapping::DropOwner() {
  if (owner_) {
    owner_ = false;
    DropMappingRef(state_);
    state_ = nullptr;
  }
}

uint8_t* GuestMapping::HostRange(uint64_t offset, uint64_t len) const {
  if (state_ == nullptr || state_->released) return nullptr;
  if (offset > state_->size || len > state_->size - offset) return nullptr;
  return state_->addr + offset;
}

MappingState* GuestMapping::Retain() {
  if (state_ == nullptr || state_->released) return nullptr;
  state_->refs++;
  return state_;
}

void GuestMapping::Unretain(MappingState* s) { DropMappingRef(s); }

GuestMapping* GuestMapping::FromValue(Napi::Env env, Napi::Value v) {
  if (!v.IsObject() ||
      !v.As<Napi::Object>().InstanceOf(GetAddonData(env).guestMapping.Value())) {
    throw Napi::TypeError::New(env, "expected a GuestMapping");
  }
  return Unwrap(v.As<Napi::Object>());
}

Napi::Value GuestMapping::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           state_ == nullptr ? 0.0 : static_cast<double>(state_->size));
}

// chunks(chunkSize): external ArrayBuffers covering the mapping in order, each
// chunkSize bytes except a shorter last one. No copy: they alias guest RAM.
Napi::Value GuestMapping::Chunks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t chunk = ArgUint64(info, 0, "chunkSize");
  if (chunk == 0) throw Napi::RangeError::New(env, "chunkSize must be positive");
  if (state_ == nullptr || state_->released) ThrowErrno(env, EBADF, "mmap");
  Napi::Array out = Napi::Array::New(env);
  uint32_t i = 0;
  for (uint64_t off = 0; off < state_->size; off += chunk, i++) {
    uint64_t len = state_->size - off < chunk ? state_->size - off : chunk;
    state_->refs++;
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, state_->addr + off, len,
        [](Napi::Env, void*, MappingState* s) { DropMappingRef(s); }, state_);
    out.Set(i, ab);
  }
  return out;
}

// protect(offset, len, prot): mprotect with PROT_* bits (READ 1, WRITE 2, EXEC 4).
Napi::Value GuestMapping::Protect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = ArgUint64(info, 0, "offset");
  uint64_t len = ArgUint64(info, 1, "len");
  int prot = ArgInt32(info, 2, "prot");
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) != 0) {
    throw Napi::RangeError::New(env, "prot has unknown bits");
  }
  uint8_t* addr = HostRange(offset, len);
  if (addr == nullptr || offset % HostPageSize() != 0) ThrowErrno(env, EINVAL, "mprotect");
  if (::mprotect(addr, len, prot) != 0) ThrowErrno(env, errno, "mprotect");
  return env.Undefined();
}

// resident(offset, len): one byte per 4 KiB of [offset, offset+len), 1 where the
// host holds the page (it was read or written: shared anonymous memory gets a
// page on any touch), 0 where it was never touched and so holds zeros.
Napi::Value GuestMapping::Resident(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t offset = ArgUint64(info, 0, "offset");
  uint64_t len = ArgUint64(info, 1, "len");
  size_t page = HostPageSize();
  uint8_t* addr = HostRange(offset, len);
  if (addr == nullptr || offset % page != 0 || offset % kResidentUnit != 0) {
    ThrowErrno(env, EINVAL, "mincore");
  }
  size_t units = (len + kResidentUnit - 1) / kResidentUnit;
  Napi::Uint8Array out = Napi::Uint8Array::New(env, units);
  if (len == 0) return out;
  size_t host_pages = (len + page - 1) / page;
  std::vector<unsigned char> vec(host_pages);
  if (::mincore(addr, host_pages * page, vec.data()) != 0) ThrowErrno(env, errno, "mincore");
  for (size_t u = 0; u < units; u++) {
    out[u] = vec[(u * kResidentUnit) / page] & 1;
  }
  return out;
}

// release(): drops the guest's memory now. Views that JavaScript still holds
// must stay safe to touch, so the range is not unmapped here: it is replaced by
// fresh private zero memory (readable and writable, whatever protect() set),
// and unmapped when the last view is collected.
Napi::Value GuestMapping::Release(const Napi::CallbackInfo& info) {
  if (state_ != nullptr && !state_->released) {
    // If this fails the old pages simply live until the views are collected.
    ::mmap(state_->addr, state_->size, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    state_->released = true;
  }
  DropOwner();
  return info.Env().Undefined();
}

void InitMemory(Napi::Env env, Napi::Object exports) { GuestMapping::Init(env, exports); }

// Guest I/O (the hypercalls' block and net paths): one system call between a
// descriptor and guest RAM at guest-physical [gpa, gpa+len), nothing copied,
// nothing allocated. Core has already validated the range against the guest
// ABI; here it only has to lie inside the mapping, else -EFAULT. Each returns
// the bytes transferred, or minus the errno (EINTR is retried).
//   pread(fd, gpa, len, position)   pwrite(fd, gpa, len, position)
//   read(fd, gpa, len)              write(fd, gpa, len)
namespace {

using IoOp = GuestIoOp;

Napi::Value GuestIo(const Napi::CallbackInfo& info, MappingState* state,
                    const GuestMapping& mapping, IoOp op) {
  Napi::Env env = info.Env();
  uint64_t fd, gpa, len, position = 0;
  bool positioned = op == IoOp::kPread || op == IoOp::kPwrite;
  if (!IoArg(info, 0, &fd) || fd > 0x7fffffff || !IoArg(info, 1, &gpa) || !IoArg(info, 2, &len) ||
      (positioned && !IoArg(info, 3, &position))) {
    return Napi::Number::New(env, -EINVAL);
  }
  if (state != nullptr && state->pending.op != IoOp::kNone) {
    // The fast path made this very call already: its result, taken once.
    PendingIo p = state->pending;
    state->pending = PendingIo();
    if (p.op == op && p.fd == static_cast<int>(fd) && p.gpa == gpa && p.len == len && !positioned) {
      return Napi::Number::New(env, p.result);
    }
  }
  uint8_t* host = mapping.HostRange(gpa, len);
  if (host == nullptr) return Napi::Number::New(env, -EFAULT);
  ssize_t n;
  do {
    switch (op) {
      case IoOp::kPread:
        n = ::pread(static_cast<int>(fd), host, len, static_cast<off_t>(position));
        break;
      case IoOp::kPwrite:
        n = ::pwrite(static_cast<int>(fd), host, len, static_cast<off_t>(position));
        break;
      case IoOp::kRead:
        n = ::read(static_cast<int>(fd), host, len);
        break;
      default:
        n = ::write(static_cast<int>(fd), host, len);
        break;
    }
  } while (n < 0 && errno == EINTR);
  return Napi::Number::New(env, n < 0 ? -static_cast<double>(errno) : static_cast<double>(n));
}

}  // namespace

Napi::Value GuestMapping::Pread(const Napi::CallbackInfo& info) {
  return GuestIo(info, state_, *this, IoOp::kPread);
}
Napi::Value GuestMapping::Pwrite(const Napi::CallbackInfo& info) {
  return GuestIo(info, state_, *this, IoOp::kPwrite);
}
Napi::Value GuestMapping::Read(const Napi::CallbackInfo& info) {
  return GuestIo(info, state_, *this, IoOp::kRead);
}
Napi::Value GuestMapping::Write(const Napi::CallbackInfo& info) {
  return GuestIo(info, state_, *this, IoOp::kWrite);
}

}  // namespace hvt
