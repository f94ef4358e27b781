#include "common.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace hvt {

const char* ErrnoName(int err) {
  // A table instead of strerrorname_np(): that needs glibc 2.32, and prebuilt
  // binaries must also load on older glibc and on musl.
  switch (err) {
#define HVT_ERRNO(name) \
  case name:            \
    return #name;
    HVT_ERRNO(EPERM)
    HVT_ERRNO(ENOENT)
    HVT_ERRNO(ESRCH)
    HVT_ERRNO(EINTR)
    HVT_ERRNO(EIO)
    HVT_ERRNO(ENXIO)
    HVT_ERRNO(E2BIG)
    HVT_ERRNO(ENOEXEC)
    HVT_ERRNO(EBADF)
    HVT_ERRNO(ECHILD)
    HVT_ERRNO(EAGAIN)
    HVT_ERRNO(ENOMEM)
    HVT_ERRNO(EACCES)
    HVT_ERRNO(EFAULT)
    HVT_ERRNO(ENOTBLK)
    HVT_ERRNO(EBUSY)
    HVT_ERRNO(EEXIST)
    HVT_ERRNO(EXDEV)
    HVT_ERRNO(ENODEV)
    HVT_ERRNO(ENOTDIR)
    HVT_ERRNO(EISDIR)
    HVT_ERRNO(EINVAL)
    HVT_ERRNO(ENFILE)
    HVT_ERRNO(EMFILE)
    HVT_ERRNO(ENOTTY)
    HVT_ERRNO(ETXTBSY)
    HVT_ERRNO(EFBIG)
    HVT_ERRNO(ENOSPC)
    HVT_ERRNO(ESPIPE)
    HVT_ERRNO(EROFS)
    HVT_ERRNO(EMLINK)
    HVT_ERRNO(EPIPE)
    HVT_ERRNO(EDOM)
    HVT_ERRNO(ERANGE)
    HVT_ERRNO(EDEADLK)
    HVT_ERRNO(ENAMETOOLONG)
    HVT_ERRNO(ENOLCK)
    HVT_ERRNO(ENOSYS)
    HVT_ERRNO(ENOTEMPTY)
    HVT_ERRNO(ELOOP)
    HVT_ERRNO(ENOMSG)
    HVT_ERRNO(EIDRM)
    HVT_ERRNO(ENODATA)
    HVT_ERRNO(ETIME)
    HVT_ERRNO(ENOLINK)
    HVT_ERRNO(EPROTO)
    HVT_ERRNO(EBADMSG)
    HVT_ERRNO(EOVERFLOW)
    HVT_ERRNO(EBADFD)
    HVT_ERRNO(EILSEQ)
    HVT_ERRNO(EUSERS)
    HVT_ERRNO(ENOTSOCK)
    HVT_ERRNO(EDESTADDRREQ)
    HVT_ERRNO(EMSGSIZE)
    HVT_ERRNO(EPROTOTYPE)
    HVT_ERRNO(ENOPROTOOPT)
    HVT_ERRNO(EPROTONOSUPPORT)
    HVT_ERRNO(EOPNOTSUPP)
    HVT_ERRNO(EAFNOSUPPORT)
    HVT_ERRNO(EADDRINUSE)
    HVT_ERRNO(EADDRNOTAVAIL)
    HVT_ERRNO(ENETDOWN)
    HVT_ERRNO(ENETUNREACH)
    HVT_ERRNO(ENETRESET)
    HVT_ERRNO(ECONNABORTED)
    HVT_ERRNO(ECONNRESET)
    HVT_ERRNO(ENOBUFS)
    HVT_ERRNO(EISCONN)
    HVT_ERRNO(ENOTCONN)
    HVT_ERRNO(ETIMEDOUT)
    HVT_ERRNO(ECONNREFUSED)
    HVT_ERRNO(EHOSTDOWN)
    HVT_ERRNO(EHOSTUNREACH)
    HVT_ERRNO(EALREADY)
    HVT_ERRNO(EINPROGRESS)
    HVT_ERRNO(ESTALE)
    HVT_ERRNO(EDQUOT)
    HVT_ERRNO(ECANCELED)
    HVT_ERRNO(EOWNERDEAD)
    HVT_ERRNO(ENOTRECOVERABLE)
    HVT_ERRNO(EHWPOISON)
#undef HVT_ERRNO
    default: {
      // Only reached for numbers the table lacks; one buffer is enough because
      // the addon runs on the JavaScript thread alone.
      static char unknown[24];
      std::snprintf(unknown, sizeof unknown, "E%d", err);
      return unknown;
    }
  }
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const char* request,
                       const char* path) {
  Napi::Error error = Napi::Error::New(env, std::strerror(err));
  Napi::Object obj = error.Value();
  obj.Set("code", Napi::String::New(env, ErrnoName(err)));
  obj.Set("errno", Napi::Number::New(env, err));
  obj.Set("syscall", Napi::String::New(env, syscall));
  if (request != nullptr) obj.Set("request", Napi::String::New(env, request));
  if (path != nullptr) obj.Set("path", Napi::String::New(env, path));
  return error;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const char* request,
                const char* path) {
  throw ErrnoError(env, err, syscall, request, path);
}

int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(v) || v != std::trunc(v) || v < INT32_MIN || v > INT32_MAX) {
    throw Napi::RangeError::New(info.Env(), std::string(name) + " must be a 32-bit integer");
  }
  return static_cast<int32_t>(v);
}

double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  return info[i].As<Napi::Number>().DoubleValue();
}

static uint64_t ToUint64(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) {
      throw Napi::RangeError::New(env, std::string(name) + " must fit in 64 bits");
    }
    return r;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::trunc(d) || d < 0 || d > 9007199254740991.0) {
      throw Napi::RangeError::New(env, std::string(name) + " must be a non-negative safe integer");
    }
    return static_cast<uint64_t>(d);
  }
  throw Napi::TypeError::New(env, std::string(name) + " must be a number or bigint");
}

uint64_t ArgUint64(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " is missing");
  }
  return ToUint64(info.Env(), info[i], name);
}

uint64_t PropUint64(const Napi::Object& obj, const char* name) {
  return ToUint64(obj.Env(), obj.Get(name), name);
}

void OwnedFd::Close() {
  if (fd_ >= 0) {
    // close() errors are not actionable here: on Linux the fd is released even
    // when close reports EINTR or EIO.
    ::close(fd_);
    fd_ = -1;
  }
}

int LiveFd(Napi::Env env, const OwnedFd& fd, const char* syscall, const char* request) {
  if (!fd.valid()) ThrowErrno(env, EBADF, syscall, request);
  return fd.get();
}

AddonData& GetAddonData(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace hvt

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // One AddonData per environment (main thread or worker), freed with it.
  env.SetInstanceData(new hvt::AddonData());
  hvt::InitSystem(env, exports);
  hvt::InitVm(env, exports);
  hvt::InitVcpu(env, exports);
#if defined(__aarch64__)
  hvt::InitVcpuAarch64(env, exports);
#endif
  hvt::InitMemory(env, exports);
  hvt::InitTap(env, exports);
  hvt::InitPoll(env, exports);
  hvt::InitEventFd(env, exports);
  hvt::InitClock(env, exports);
  hvt::InitSignals(env, exports);
  hvt::InitNetRing(env, exports);
  hvt::InitSandbox(env, exports);
  return exports;
}

NODE_API_MODULE(hvt_linux_kvm, Init)
