// The KVM system object: the /dev/kvm fd and its ioctls.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "cpuid.h"

namespace hvt {

class Kvm : public Napi::ObjectWrap<Kvm> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor = DefineClass(
        env, "Kvm",
        {
            InstanceAccessor<&Kvm::Fd>("fd"),
            InstanceMethod<&Kvm::ApiVersion>("apiVersion"),
            InstanceMethod<&Kvm::CheckExtension>("checkExtension"),
            InstanceMethod<&Kvm::VcpuMmapSize>("vcpuMmapSize"),
            InstanceMethod<&Kvm::CreateVm>("createVm"),
            InstanceMethod<&Kvm::SupportedCpuid>("supportedCpuid"),
            InstanceMethod<&Kvm::Close>("close"),
        });
    exports.Set("Kvm", ctor);
  }

  // new Kvm(path): opens the KVM device (normally /dev/kvm).
  explicit Kvm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Kvm>(info) {
    if (info.Length() < 1 || !info[0].IsString()) {
      throw Napi::TypeError::New(info.Env(), "path must be a string");
    }
    std::string path = info[0].As<Napi::String>().Utf8Value();
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) ThrowErrno(info.Env(), errno, "open", nullptr, path.c_str());
    fd_.Reset(fd);
  }

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_.get()); }

  Napi::Value ApiVersion(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Napi::Number::New(env,
                             CheckedIoctl(env, fd_, KVM_GET_API_VERSION, "KVM_GET_API_VERSION", 0));
  }

  Napi::Value CheckExtension(const Napi::CallbackInfo& info) {
    return CheckExtensionOf(info, fd_);
  }

  Napi::Value VcpuMmapSize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Napi::Number::New(
        env, CheckedIoctl(env, fd_, KVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE", 0));
  }

  // createVm(type): the new VM fd; the caller owns it (wrap it in VmFd).
  Napi::Value CreateVm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int type = info.Length() > 0 ? ArgInt32(info, 0, "type") : 0;
    return Napi::Number::New(env, CheckedIoctl(env, fd_, KVM_CREATE_VM, "KVM_CREATE_VM", type));
  }

  // supportedCpuid(): struct kvm_cpuid2 as the host reports it, ready for
  // VcpuFd.setCpuid2. The buffer starts at 100 entries (the reference's size)
  // and grows on E2BIG, since newer CPUs report more leaves.
  Napi::Value SupportedCpuid(const Napi::CallbackInfo& info) {
#if defined(__x86_64__)
    int fd = LiveFd(info.Env(), fd_, "ioctl", "KVM_GET_SUPPORTED_CPUID");
    for (uint32_t nent = 100; nent <= 6400; nent *= 2) {
      size_t bytes = sizeof(CpuidHeader) + nent * sizeof(struct kvm_cpuid_entry2);
      std::vector<uint8_t> buf(bytes, 0);
      auto* cpuid = reinterpret_cast<CpuidHeader*>(buf.data());
      cpuid->nent = nent;
      if (RetryIoctl(fd, kIoctlGetSupportedCpuid, cpuid) == 0) {
        size_t used = sizeof(CpuidHeader) + cpuid->nent * sizeof(struct kvm_cpuid_entry2);
        Napi::ArrayBuffer out = Napi::ArrayBuffer::New(info.Env(), used);
        std::memcpy(out.Data(), buf.data(), used);
        return out;
      }
      if (errno != E2BIG) ThrowErrno(info.Env(), errno, "ioctl", "KVM_GET_SUPPORTED_CPUID");
    }
    ThrowErrno(info.Env(), E2BIG, "ioctl", "KVM_GET_SUPPORTED_CPUID");
#else
    ThrowErrno(info.Env(), ENOSYS, "ioctl", "KVM_GET_SUPPORTED_CPUID");
#endif
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    fd_.Close();
    return info.Env().Undefined();
  }

  OwnedFd fd_;
};

Napi::Value CheckExtensionOf(const Napi::CallbackInfo& info, const OwnedFd& fd) {
  Napi::Env env = info.Env();
  int cap = ArgInt32(info, 0, "cap");
  return Napi::Number::New(env,
                           CheckedIoctl(env, fd, KVM_CHECK_EXTENSION, "KVM_CHECK_EXTENSION", cap));
}

void InitSystem(Napi::Env env, Napi::Object exports) {
  Kvm::Init(env, exports);
  Napi::Object caps = Napi::Object::New(env);
  caps.Set("USER_MEMORY", KVM_CAP_USER_MEMORY);
  caps.Set("IOEVENTFD", KVM_CAP_IOEVENTFD);
  caps.Set("GET_TSC_KHZ", KVM_CAP_GET_TSC_KHZ);
  caps.Set("IMMEDIATE_EXIT", KVM_CAP_IMMEDIATE_EXIT);
  exports.Set("caps", caps);
  exports.Set("kvmRunSize", Napi::Number::New(env, sizeof(struct kvm_run)));
}

}  // namespace hvt
