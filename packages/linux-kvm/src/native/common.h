// Shared helpers of the addon: errno errors shaped like Node's, fd ownership,
// argument reading. Everything here is mechanism: no user-facing wording.
#pragma once

#include <napi.h>

#include <cstdint>

namespace hvt {

// Builds an Error whose message is strerror(err) and which carries `code`
// (errno name), `errno` (positive number) and `syscall`, like Node's system
// errors; `request` names the ioctl when syscall is "ioctl", `path` the file
// for open(). The TypeScript layer turns these into the reference's messages.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const char* request = nullptr, const char* path = nullptr);

// Throws ErrnoError as a JavaScript exception (C++ exceptions are enabled, so
// this unwinds to node-addon-api's callback wrapper).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall,
                             const char* request = nullptr, const char* path = nullptr);

// The errno name ("EACCES"), or "E<n>" for numbers outside the table.
const char* ErrnoName(int err);

// Argument readers that throw a TypeError/RangeError naming the argument.
int32_t ArgInt32(const Napi::CallbackInfo& info, size_t i, const char* name);
uint64_t ArgUint64(const Napi::CallbackInfo& info, size_t i, const char* name);
double ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name);
// A property of an object as an unsigned 64-bit integer (number or bigint).
uint64_t PropUint64(const Napi::Object& obj, const char* name);

// An fd owned by a wrapper object: closed once, on close() or destruction.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { Close(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close();
  // Gives the fd away: the caller closes it from now on.
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

// The fd an object wraps, or an EBADF error once it was closed: a use after
// destroy() must fail cleanly instead of acting on a recycled fd number.
int LiveFd(Napi::Env env, const OwnedFd& fd, const char* syscall, const char* request);

// Per-environment data: constructors needed to recognise wrapped objects.
struct AddonData {
  Napi::FunctionReference guestMapping;
};
AddonData& GetAddonData(Napi::Env env);

void InitSystem(Napi::Env env, Napi::Object exports);
void InitVm(Napi::Env env, Napi::Object exports);
void InitVcpu(Napi::Env env, Napi::Object exports);
#if defined(__aarch64__)
// vcpu_aarch64.cc, built for arm64 only; after InitVcpu (it adds to vcpuIoctls).
void InitVcpuAarch64(Napi::Env env, Napi::Object exports);
#endif
void InitMemory(Napi::Env env, Napi::Object exports);
void InitTap(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);
void InitEventFd(Napi::Env env, Napi::Object exports);
void InitClock(Napi::Env env, Napi::Object exports);
void InitSignals(Napi::Env env, Napi::Object exports);
void InitNetRing(Napi::Env env, Napi::Object exports);
void InitSandbox(Napi::Env env, Napi::Object exports);

}  // namespace hvt
