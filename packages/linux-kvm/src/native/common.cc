#include "common.h"

#include <unistd.h>

namespace hvt {

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
  hvt::ExportPosixHost<hvt::LinuxHost>(env, exports);
  hvt::InitEventFd(env, exports);
  hvt::InitClock(env, exports);
  hvt::InitNetRing(env, exports);
  hvt::InitSandbox(env, exports);
  hvt::InitFastPath(env, exports);
  hvt::InitDebug(env, exports);
  return exports;
}

NODE_API_MODULE(hvt_linux_kvm, Init)
