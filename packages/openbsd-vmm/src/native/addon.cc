// The node-addon-api glue of the OpenBSD addon: the VM object over ob_vmm.c,
// the release tables, the passwd lookups and the privilege drop. What every
// POSIX addon shares (errors, argument checks, guest-memory views, signals,
// ppoll, clocks, taps, the network ring) is @hvtjs/posix-kit's
// hvt/posix_addon.h. Everything about vmm(4), the privilege drop and pledge
// is in ob_vmm.c.
#include <grp.h>
#include <hvt/posix_addon.h>
#include <pwd.h>

#include "ob_vmm.h"

namespace {

using hvt::ArgInt32;
using hvt::ArgString;
using hvt::ArgUint64;
using hvt::ThrowErrno;

// The OpenBSD core as the kit's Host (hvt/posix_addon.h).
struct OpenBsdHost {
  HVT_CORE_CALLS(ob)
  static constexpr const char* kIoctlPrefixes[] = {"VMM_IOC_", "SIOC"};
  static constexpr const char* kSelector = "release";
  static constexpr const char* kRunRequest = "VMM_IOC_RUN";
  static constexpr size_t kExitFields = OB_EXIT_FIELDS;
  // kind 1: 7.8's immutable kernel mapping, which stays until exit.
  static int MappingKind(Handle* vm) { return ob_vm_kernel_memory(vm) != 0 ? 1 : 0; }
  static void Unmap(uint8_t* addr, uint64_t size, int kind) { ob_unmap_guest(addr, size, kind); }
};

// ---- the VM ----

// new Vm(release, name, memSize): the VM, its guest memory and the terminator.
class Vm : public Napi::ObjectWrap<Vm>, public hvt::VmBase<Vm, OpenBsdHost> {
 public:
  static Napi::Function Define(Napi::Env env) {
    std::vector<PropertyDescriptor> props = CommonProperties();
    props.insert(props.end(), {
                                  InstanceAccessor<&Vm::TerminatorFd>("terminatorFd"),
                                  InstanceAccessor<&Vm::Id>("id"),
                                  InstanceAccessor<&Vm::KernelMemory>("kernelMemory"),
                                  InstanceMethod<&Vm::ResetCpu>("resetCpu"),
                                  InstanceMethod<&Vm::ReadRegs>("readRegs"),
                              });
    return DefineClass(env, "Vm", props);
  }

  explicit Vm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vm>(info) { Create(info); }

 private:
  Napi::Value TerminatorFd(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? -1 : ob_vm_terminator_fd(vm_));
  }
  Napi::Value Id(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), vm_ == nullptr ? 0 : ob_vm_id(vm_));
  }
  Napi::Value KernelMemory(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), mapping_ != nullptr && mapping_->kind == 1);
  }

  // resetCpu(state: Uint8Array): VMM_IOC_RESETCPU with a whole struct vcpu_reg_state.
  Napi::Value ResetCpu(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw Napi::TypeError::New(env, "state must be a Uint8Array");
    }
    Napi::Uint8Array state = info[0].As<Napi::Uint8Array>();
    int r = ob_vm_reset_cpu(Live(env), state.Data(), state.ByteLength());
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VMM_IOC_RESETCPU");
    return env.Undefined();
  }

  // readRegs(): VMM_IOC_READREGS, the struct vcpu_reg_state as a new Uint8Array.
  Napi::Value ReadRegs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Uint8Array out = Napi::Uint8Array::New(env, kRegStateSize);
    int r = ob_vm_read_regs(Live(env), out.Data(), out.ByteLength());
    if (r < 0) ThrowErrno(env, -r, "ioctl", "VMM_IOC_READREGS");
    return out;
  }

  static constexpr size_t kRegStateSize = 568;
};

// ---- module functions ----

Napi::Value Osrelease(const Napi::CallbackInfo& info) {
  char buf[32];
  int r = ob_osrelease(buf, sizeof(buf));
  if (r < 0) ThrowErrno(info.Env(), -r, "sysctl", "kern.osrelease");
  return Napi::String::New(info.Env(), buf);
}

// releaseTable(): [{ release, ioctls: [{ name, request }] }] as ob_abi.h defines them.
Napi::Value ReleaseTable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  for (int rel = 0; rel < ob_release_count(); rel++) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("release", ob_release_name(rel));
    Napi::Array ioctls = Napi::Array::New(env);
    for (int i = 0; i < ob_ioctl_count(); i++) {
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("name", ob_ioctl_name(i));
      entry.Set("request", Napi::Number::New(env, ob_ioctl_request(rel, i)));
      ioctls.Set(static_cast<uint32_t>(i), entry);
    }
    row.Set("ioctls", ioctls);
    out.Set(static_cast<uint32_t>(rel), row);
  }
  return out;
}

// vmExists(release, id): whether VM `id` still exists (see ob_vm_probe).
Napi::Value VmExists(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int release = ArgInt32(info, 0, "release");
  uint64_t id = ArgUint64(info, 1, "id");
  int r = ob_vm_probe(release, static_cast<uint32_t>(id));
  if (r < 0) ThrowErrno(env, -r, "ioctl", "VMM_IOC_READREGS");
  return Napi::Boolean::New(env, r == 1);
}

// lookupUser(name): { uid, gid, dir } from the passwd database, or null.
Napi::Value LookupUser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  errno = 0;
  struct passwd* pw = ::getpwnam(name.c_str());
  if (pw == nullptr) {
    if (errno != 0) ThrowErrno(env, errno, "getpwnam");
    return env.Null();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("uid", Napi::Number::New(env, pw->pw_uid));
  out.Set("gid", Napi::Number::New(env, pw->pw_gid));
  out.Set("dir", pw->pw_dir != nullptr ? pw->pw_dir : "");
  return out;
}

// lookupGroup(name): the group's gid, or null.
Napi::Value LookupGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgString(info, 0, "name");
  errno = 0;
  struct group* gr = ::getgrnam(name.c_str());
  if (gr == nullptr) {
    if (errno != 0) ThrowErrno(env, errno, "getgrnam");
    return env.Null();
  }
  return Napi::Number::New(env, gr->gr_gid);
}

// dropPrivileges(dir, uid, gid, promises): chroot, chdir, setgroups,
// setresgid, setresuid, pledge; throws with `syscall` naming the failed one.
Napi::Value DropPrivileges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = ArgString(info, 0, "dir");
  uint64_t uid = ArgUint64(info, 1, "uid");
  uint64_t gid = ArgUint64(info, 2, "gid");
  std::string promises = ArgString(info, 3, "promises");
  if (uid > 0xffffffffu || gid > 0xffffffffu) throw Napi::RangeError::New(env, "uid/gid are 32-bit");
  const char* step = nullptr;
  int r = ob_drop_privileges(dir.c_str(), static_cast<uint32_t>(uid), static_cast<uint32_t>(gid),
                             promises.c_str(), &step);
  if (r < 0) ThrowErrno(env, -r, step != nullptr ? step : "pledge");
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Vm", Vm::Define(env));
  exports.Set("osrelease", Napi::Function::New<Osrelease>(env));
  exports.Set("releaseTable", Napi::Function::New<ReleaseTable>(env));
  hvt::ExportHost<OpenBsdHost>(env, exports);
  hvt::ExportNetRing<OpenBsdHost, Vm>(env, exports);
  exports.Set("vmExists", Napi::Function::New<VmExists>(env));
  exports.Set("lookupUser", Napi::Function::New<LookupUser>(env));
  exports.Set("lookupGroup", Napi::Function::New<LookupGroup>(env));
  exports.Set("dropPrivileges", Napi::Function::New<DropPrivileges>(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(hvt_openbsd_vmm, Init)
