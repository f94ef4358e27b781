// The node-addon-api glue of the FreeBSD addon: the VM object over fb_vmm.c,
// the ioctl table check and the Capsicum calls. What every POSIX addon
// shares (errors, argument checks, guest-memory views, signals, ppoll,
// clocks, taps, the network ring) is @hvtjs/posix-kit's hvt/posix_addon.h. Everything about
// vmm(4) and Capsicum is in fb_vmm.c.
#include <hvt/posix_addon.h>

#include <vector>

#include "fb_vmm.h"

namespace {

using hvt::ArgInt32;
using hvt::ArgString;
using hvt::ArgUint64;
using hvt::ThrowErrno;

// The FreeBSD core as the kit's Host (hvt/posix_addon.h).
struct FreeBsdHost {
  HVT_CORE_CALLS(fb)
  static constexpr const char* kIoctlPrefixes[] = {"VM_", "VMMCTL_", "SIOC"};
  static constexpr const char* kSelector = "osreldate";
  static constexpr const char* kRunRequest = "VM_RUN";
  static constexpr size_t kExitFields = FB_EXIT_FIELDS;
  static int MappingKind(Handle*) { return 0; }
  static void Unmap(uint8_t* addr, uint64_t size, int) { fb_unmap_guest(addr, size); }
};

// ---- the VM ----

// new Vm(osreldate, name, memSize): the VM, its destroyer and the guest mapping.
class Vm : public Napi::ObjectWrap<Vm>, public hvt::VmBase<Vm, FreeBsdHost> {
 public:
  static Napi::Function Define(Napi::Env env) {
    std::vector<PropertyDescriptor> props = CommonProperties();
    props.insert(props.end(), {
                                  InstanceAccessor<&Vm::Line>("line"),
                                  InstanceAccessor<&Vm::DestroyerFd>("destroyerFd"),
                                  InstanceAccessor<&Vm::CtlFd>("ctlFd"),
                                  InstanceMethod<&Vm::Resident>("resident"),
                                  InstanceMethod<&Vm::SetRegister>("setRegister"),
                                  InstanceMethod<&Vm::GetRegister>("getRegister"),
                                  InstanceMethod<&Vm::SetSegment>("setSegment"),
                                  InstanceMethod<&Vm::GetSegment>("getSegment"),
                                  InstanceMethod<&Vm::Activate>("activate"),
                              });
    return DefineClass(env, "Vm", props);
  }

  explicit Vm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vm>(info) { Create(info); }

 private:
  Napi::Value Line(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : fb_vm_line(vm_));
  }
  Napi::Value DestroyerFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : fb_vm_destroyer_fd(vm_));
  }
  Napi::Value CtlFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : fb_vm_ctl_fd(vm_));
  }

  // resident(offset, len): one byte per 4 KiB page, 1 where the host holds it.
  Napi::Value Resident(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t offset = ArgUint64(info, 0, "offset");
    uint64_t len = ArgUint64(info, 1, "len");
    uint8_t* addr = hvt::MappingRange(env, mapping_, offset, len, "mincore");
    Napi::Uint8Array out = Napi::Uint8Array::New(env, (len + 4095) / 4096);
    int r = fb_resident(addr, len, out.Data());
    if (r < 0) ThrowErrno(env, -r, "mincore");
    return out;
  }

  Napi::Value SetRegister(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgInt32(info, 0, "regnum");
    uint64_t value = ArgUint64(info, 1, "value");
    int r = fb_vm_set_register(Live(env), regnum, value);
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_SET_REGISTER");
    return env.Undefined();
  }

  Napi::Value GetRegister(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgInt32(info, 0, "regnum");
    uint64_t value = 0;
    int r = fb_vm_get_register(Live(env), regnum, &value);
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_GET_REGISTER");
    return Napi::BigInt::New(env, value);
  }

  Napi::Value SetSegment(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgInt32(info, 0, "regnum");
    uint64_t base = ArgUint64(info, 1, "base");
    uint64_t limit = ArgUint64(info, 2, "limit");
    uint64_t access = ArgUint64(info, 3, "access");
    if (limit > 0xffffffffu || access > 0xffffffffu) {
      throw Napi::RangeError::New(env, "limit and access are 32-bit");
    }
    int r = fb_vm_set_segment(Live(env), regnum, base, static_cast<uint32_t>(limit),
                              static_cast<uint32_t>(access));
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_SET_SEGMENT_DESCRIPTOR");
    return env.Undefined();
  }

  Napi::Value GetSegment(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int regnum = ArgInt32(info, 0, "regnum");
    uint64_t base = 0;
    uint32_t limit = 0;
    uint32_t access = 0;
    int r = fb_vm_get_segment(Live(env), regnum, &base, &limit, &access);
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_GET_SEGMENT_DESCRIPTOR");
    Napi::Object out = Napi::Object::New(env);
    out.Set("base", Napi::BigInt::New(env, base));
    out.Set("limit", Napi::Number::New(env, limit));
    out.Set("access", Napi::Number::New(env, access));
    return out;
  }

  Napi::Value Activate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int r = fb_vm_activate(Live(env));
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VM_ACTIVATE_CPU");
    return env.Undefined();
  }
};

// ---- module functions ----

Napi::Value Osreldate(const Napi::CallbackInfo& info) {
  int value = 0;
  int r = fb_osreldate(&value);
  if (r < 0) ThrowErrno(info.Env(), -r, "sysctl", "kern.osreldate");
  return Napi::Number::New(info.Env(), value);
}

// ioctlTable(line): [{ name, request }] as fb_abi.h defines them for that line.
Napi::Value IoctlTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int line = ArgInt32(info, 0, "line");
  Napi::Array out = Napi::Array::New(env);
  for (int i = 0; i < fb_ioctl_count(); i++) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("name", fb_ioctl_name(i));
    row.Set("request", Napi::Number::New(env, fb_ioctl_request(line, i)));
    out.Set(static_cast<uint32_t>(i), row);
  }
  return out;
}

// capLimit(fd, rights0: bigint, rights1: bigint, ioctls: number[] | null, fcntls: number):
// cap_rights_limit, then cap_ioctls_limit (when ioctls is an array), then
// cap_fcntls_limit (when fcntls >= 0).
Napi::Value CapLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "fd");
  uint64_t r0 = ArgUint64(info, 1, "rights0");
  uint64_t r1 = ArgUint64(info, 2, "rights1");
  std::vector<uint32_t> ioctls;
  long nioctls = -1;
  if (info.Length() > 3 && info[3].IsArray()) {
    Napi::Array list = info[3].As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value v = list.Get(i);
      if (!v.IsNumber()) throw Napi::TypeError::New(env, "ioctls must be numbers");
      double d = v.As<Napi::Number>().DoubleValue();
      if (!(d >= 0) || d > 4294967295.0 || std::floor(d) != d) {
        throw Napi::RangeError::New(env, "ioctl requests are 32-bit");
      }
      ioctls.push_back(static_cast<uint32_t>(d));
    }
    nioctls = static_cast<long>(ioctls.size());
  }
  long fcntls = info.Length() > 4 ? ArgInt32(info, 4, "fcntls") : -1;
  const char* step = nullptr;
  int r = fb_cap_limit(fd, r0, r1, ioctls.data(), nioctls, fcntls, &step);
  if (r < 0) ThrowErrno(env, -r, step != nullptr ? step : "cap_rights_limit");
  return env.Undefined();
}

Napi::Value CapEnter(const Napi::CallbackInfo& info) {
  int r = fb_cap_enter();
  if (r < 0) ThrowErrno(info.Env(), -r, "cap_enter");
  return info.Env().Undefined();
}

Napi::Value CapMode(const Napi::CallbackInfo& info) {
  int r = fb_cap_mode();
  if (r < 0) ThrowErrno(info.Env(), -r, "cap_getmode");
  return Napi::Boolean::New(info.Env(), r == 1);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Vm", Vm::Define(env));
  exports.Set("osreldate", Napi::Function::New<Osreldate>(env));
  exports.Set("ioctlTable", Napi::Function::New<IoctlTable>(env));
  hvt::ExportHost<FreeBsdHost>(env, exports);
  hvt::ExportNetRing<FreeBsdHost, Vm>(env, exports);
  exports.Set("capLimit", Napi::Function::New<CapLimit>(env));
  exports.Set("capEnter", Napi::Function::New<CapEnter>(env));
  exports.Set("capMode", Napi::Function::New<CapMode>(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(hvt_freebsd_vmm, Init)
