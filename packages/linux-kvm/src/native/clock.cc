// Host clocks.
#include <cerrno>
#include <ctime>

#include "common.h"

namespace hvt {

namespace {

// walltimeNs(): CLOCK_REALTIME in nanoseconds since the epoch, as a bigint.
Napi::Value WalltimeNs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  if (::clock_gettime(CLOCK_REALTIME, &ts) != 0) ThrowErrno(info.Env(), errno, "clock_gettime");
  uint64_t ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
  return Napi::BigInt::New(info.Env(), ns);
}

}  // namespace

void InitClock(Napi::Env env, Napi::Object exports) {
  exports.Set("walltimeNs", Napi::Function::New<WalltimeNs>(env));
}

}  // namespace hvt
