// The allocation-free wall clock (walltimeNs is the kit's).
#include <cerrno>
#include <ctime>

#include "common.h"

namespace hvt {

namespace {

// The allocation-free clock: realtimeBuffer() is one 8-byte ArrayBuffer per
// addon instance; readRealtime() stores CLOCK_REALTIME's nanoseconds there as
// two u32 halves (low, high), so that a WALLTIME exit costs one call and no
// bigint. Returns 0, or minus the errno.
struct ClockData {
  uint32_t halves[2] = {0, 0};
};

Napi::Value ReadRealtime(const Napi::CallbackInfo& info) {
  auto* data = static_cast<ClockData*>(info.Data());
  struct timespec ts;
  if (::clock_gettime(CLOCK_REALTIME, &ts) != 0) return Napi::Number::New(info.Env(), -errno);
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  data->halves[0] = static_cast<uint32_t>(ns);
  data->halves[1] = static_cast<uint32_t>(ns >> 32);
  return Napi::Number::New(info.Env(), 0);
}

}  // namespace

void InitClock(Napi::Env env, Napi::Object exports) {
  // Lives as long as the buffer that aliases it (the addon's exports keep it).
  auto* data = new ClockData();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, data->halves, sizeof data->halves, [](Napi::Env, void*, ClockData* d) { delete d; }, data);
  exports.Set("realtimeBuffer", buffer);
  exports.Set("readRealtime", Napi::Function::New(env, ReadRealtime, "readRealtime", data));
}

}  // namespace hvt
