// eventfds: the ring I/O doorbell that KVM signals in-kernel (KVM_IOEVENTFD).
#include <sys/eventfd.h>

#include <cerrno>

#include "common.h"

namespace hvt {

namespace {

// eventfd(initval, flags): a new eventfd; the caller owns it (close with
// fs.closeSync). flags default to EFD_CLOEXEC (blocking reads).
Napi::Value EventFd(const Napi::CallbackInfo& info) {
  int initval = info.Length() > 0 ? ArgInt32(info, 0, "initval") : 0;
  int flags = info.Length() > 1 ? ArgInt32(info, 1, "flags") : EFD_CLOEXEC;
  if (initval < 0) throw Napi::RangeError::New(info.Env(), "initval must not be negative");
  int fd = ::eventfd(static_cast<unsigned>(initval), flags);
  if (fd < 0) ThrowErrno(info.Env(), errno, "eventfd");
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

void InitEventFd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New<EventFd>(env));
  Napi::Object flags = Napi::Object::New(env);
  flags.Set("CLOEXEC", Napi::Number::New(env, EFD_CLOEXEC));
  flags.Set("NONBLOCK", Napi::Number::New(env, EFD_NONBLOCK));
  exports.Set("eventfdFlags", flags);
}

}  // namespace hvt
