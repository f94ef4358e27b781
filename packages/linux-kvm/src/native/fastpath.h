// The native fast path (docs/architecture.md 3.2): the vCPU's run loop serves
// the simple hypercalls of a plan that core built, and returns to JavaScript
// every exit it is not sure of, untouched, for core's handler to serve whole.
#pragma once

#include <napi.h>

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "memory.h"

namespace hvt {

class FastPath : public Napi::ObjectWrap<FastPath> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // new FastPath(mapping, plan): plan as vm.ts's nativeFastPathPlan() lays it out.
  explicit FastPath(const Napi::CallbackInfo& info);
  ~FastPath() override;
  static FastPath* FromValue(Napi::Env env, Napi::Value v);

  // Serves hypercall `nr` with its struct at `gpa` when the plan covers it and
  // every check passes; false (nothing done, or an I/O result left for core's
  // handler, see PendingIo) when core must serve it.
  bool Serve(uint32_t nr, uint64_t gpa);
  // The same for a 4-byte OUT of `value` to `port`: a hypercall when the port
  // is the plan's base plus a number it has a call for.
  bool ServePort(uint32_t port, uint32_t value) {
    return port > port_base_ && port - port_base_ < kCalls && Serve(port - port_base_, value);
  }
  // Drops an I/O result that core's handler did not take (the next run starts).
  void ForgetPending();

  // Field offsets of a hypercall struct, as core's layout declares them.
  struct Layout {
    uint64_t size = 0;
    int access = 0;
    uint32_t nsecs = 0, data = 0, len = 0, handle = 0, offset = 0, ret = 0;
  };
  struct Device {
    int fd = -1;  // -1: the handle is not served natively
    uint64_t capacity = 0;
  };
  enum class Kind { kNone, kWalltime, kPuts, kBlockRead, kBlockWrite, kNetWrite, kNetRead };
  struct Call {
    Kind kind = Kind::kNone;
    Layout layout;
    int fd = -1;
    std::vector<Device> devices;  // by handle
  };
  struct Range {
    uint64_t start, end;
    int prot;
  };

 private:
  Napi::Value ServeJs(const Napi::CallbackInfo& info);

  bool Usable(uint64_t gpa, uint64_t len, int access) const;
  const Device* DeviceFor(const Call& c, uint64_t gpa) const;
  bool Walltime(const Call& c, uint64_t gpa);
  bool Puts(const Call& c, uint64_t gpa);
  bool BlockIo(const Call& c, uint64_t gpa, bool write);
  struct Frame {
    int fd = -1;
    uint64_t data = 0, len = 0;
  };
  bool FrameOf(const Call& c, uint64_t gpa, int access, Frame* out) const;
  ssize_t FrameIo(GuestIoOp op, const Frame& f);
  bool NetWrite(const Call& c, uint64_t gpa);
  bool NetRead(const Call& c, uint64_t gpa);

  MappingState* state_ = nullptr;
  uint8_t* mem_ = nullptr;
  uint64_t visible_ = 0;
  uint32_t port_base_ = 0;
  std::vector<Range> restricted_;
  uint64_t restricted_end_ = 0;
  static constexpr uint32_t kCalls = 9;
  Call calls_[kCalls];
};

}  // namespace hvt
