// The KVM VM object: a VM fd and its ioctls.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>

#include "common.h"
#include "memory.h"

namespace hvt {

class VmFd : public Napi::ObjectWrap<VmFd> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function ctor =
        DefineClass(env, "VmFd",
                    {
                        InstanceAccessor<&VmFd::Fd>("fd"),
                        InstanceMethod<&VmFd::CheckExtension>("checkExtension"),
                        InstanceMethod<&VmFd::CreateVcpu>("createVcpu"),
                        InstanceMethod<&VmFd::SetUserMemoryRegion>("setUserMemoryRegion"),
                        InstanceMethod<&VmFd::IoEventFd>("ioeventfd"),
                        InstanceMethod<&VmFd::Close>("close"),
                    });
    exports.Set("VmFd", ctor);
  }

  // new VmFd(fd): takes ownership of a VM fd returned by Kvm.createVm.
  explicit VmFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VmFd>(info) {
    fd_.Reset(ArgInt32(info, 0, "fd"));
  }

 private:
  Napi::Value Fd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_.get()); }

  Napi::Value CheckExtension(const Napi::CallbackInfo& info) {
    return CheckExtensionOf(info, fd_);
  }

  // createVcpu(id): the new vCPU fd; the caller owns it (wrap it in VcpuFd).
  Napi::Value CreateVcpu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int id = ArgInt32(info, 0, "id");
    return Napi::Number::New(env, CheckedIoctl(env, fd_, KVM_CREATE_VCPU, "KVM_CREATE_VCPU", id));
  }

  // setUserMemoryRegion(slot, flags, gpa, mapping, offset, size): backs
  // [gpa, gpa+size) with mapping bytes [offset, offset+size).
  Napi::Value SetUserMemoryRegion(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct kvm_userspace_memory_region region = {};
    region.slot = static_cast<uint32_t>(ArgInt32(info, 0, "slot"));
    region.flags = static_cast<uint32_t>(ArgInt32(info, 1, "flags"));
    region.guest_phys_addr = ArgUint64(info, 2, "gpa");
    if (info.Length() < 4) throw Napi::TypeError::New(env, "mapping is missing");
    GuestMapping* mapping = GuestMapping::FromValue(env, info[3]);
    uint64_t offset = ArgUint64(info, 4, "offset");
    region.memory_size = ArgUint64(info, 5, "size");
    uint8_t* host = mapping->HostRange(offset, region.memory_size);
    if (host == nullptr) ThrowErrno(env, EINVAL, "ioctl", "KVM_SET_USER_MEMORY_REGION");
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    CheckedIoctl(env, fd_, KVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION", &region);
    return env.Undefined();
  }

  // ioeventfd(addr, len, eventfd, flags): KVM signals eventfd on a guest write
  // of len bytes to addr (a port with KVM_IOEVENTFD_FLAG_PIO), without an exit.
  Napi::Value IoEventFd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct kvm_ioeventfd ioev = {};
    ioev.addr = ArgUint64(info, 0, "addr");
    ioev.len = static_cast<uint32_t>(ArgInt32(info, 1, "len"));
    ioev.fd = ArgInt32(info, 2, "eventfd");
    ioev.flags = static_cast<uint32_t>(ArgInt32(info, 3, "flags"));
    CheckedIoctl(env, fd_, KVM_IOEVENTFD, "KVM_IOEVENTFD", &ioev);
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    fd_.Close();
    return info.Env().Undefined();
  }

  OwnedFd fd_;
};

void InitVm(Napi::Env env, Napi::Object exports) {
  VmFd::Init(env, exports);
  exports.Set("ioeventfdFlagPio", Napi::Number::New(env, KVM_IOEVENTFD_FLAG_PIO));
}

}  // namespace hvt
