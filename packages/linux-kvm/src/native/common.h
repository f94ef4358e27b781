// Shared helpers of the addon: the kit's N-API glue (errno errors shaped like
// Node's, argument reading, signals, poll, clocks), this addon as the kit's
// Host, fd ownership. Everything here is mechanism: no user-facing wording.
#pragma once

#include <hvt/posix_addon.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>

namespace hvt {

// This addon as hvt/posix_addon.h's Host (signals.cc, tap.cc): a caught signal
// also ends a running KVM_RUN, and the ring's I/O thread has a signal of its own.
struct LinuxHost {
  static void SignalArrived(int sig);
  static int PendingSignal();
  static int IoThreadSignal();
  static bool IoThreadFailed();
  static int TapOpen(const char* name, int* fd, int* mtu, const char** step);
  static constexpr const char* kIoctlPrefixes[] = {"TUN", "SIOC"};
};

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

// ioctl, restarted while a signal interrupts it (a profiler's SIGPROF, a
// termination signal the run loop reports later). Every ioctl but KVM_RUN,
// whose EINTR is how a signal reaches the run loop, goes through here.
template <typename Arg>
int RetryIoctl(int fd, unsigned long request, Arg arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r < 0 && errno == EINTR);
  return r;
}

// ioctl(fd, request, arg) on the fd an object wraps: the result, or an error
// with syscall "ioctl" and `name` as the request (EBADF once closed).
template <class Arg>
int CheckedIoctl(Napi::Env env, const OwnedFd& fd, unsigned long request, const char* name,
                 Arg arg) {
  int r = RetryIoctl(LiveFd(env, fd, "ioctl", name), request, arg);
  if (r < 0) ThrowErrno(env, errno, "ioctl", name);
  return r;
}

// checkExtension(cap): KVM_CHECK_EXTENSION on /dev/kvm or a VM fd.
Napi::Value CheckExtensionOf(const Napi::CallbackInfo& info, const OwnedFd& fd);

// Per-environment data: constructors needed to recognise wrapped objects.
struct AddonData {
  Napi::FunctionReference guestMapping;
  Napi::FunctionReference fastPath;
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
void InitEventFd(Napi::Env env, Napi::Object exports);
void InitClock(Napi::Env env, Napi::Object exports);
void InitNetRing(Napi::Env env, Napi::Object exports);
void InitSandbox(Napi::Env env, Napi::Object exports);
void InitFastPath(Napi::Env env, Napi::Object exports);
void InitDebug(Napi::Env env, Napi::Object exports);

}  // namespace hvt
