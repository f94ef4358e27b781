// The N-API object around the network ring's serving thread (hvt/net_ring.h),
// the same for every platform addon:
//
//   new NetRing(owner, ringGpa, visibleSize, kickFd, wakeFd, fds: Int32Array)
//     starts the thread; fds[h] is the device fd of manifest index h, or -1.
//     Construct it on the thread that runs the vCPU: that thread is the one a
//     failure interrupts. Returns once the thread runs.
//   stop()     stops and joins it (idempotent)
//   failure()  why it stopped serving, or undefined
//
// What differs per platform comes in as a Host type with static members:
//   using Memory = ...;   what keeps guest RAM mapped while the thread runs
//   static Memory Acquire(Napi::Env, Napi::Value owner, uint8_t** base, uint64_t* size);
//       (throws when `owner` holds no guest RAM)
//   static void Release(Memory);
//   using Target = ...;   the thread that runs the vCPU
//   static Target PrepareInterrupt(Napi::Env);      on the vCPU thread; throws
//   static void Interrupt(const Target&);           from the ring thread: stop the guest
//   static void FailureJoined();               a failed thread was joined
//   static int32_t ArgInt32(info, i, name);  static uint64_t ArgUint64(info, i, name);
//   [[noreturn]] static void ThrowErrno(Napi::Env, int err, const char* syscall);
//   static ErrnoName(int err): the errno's name, as a C or C++ string
#ifndef HVT_NET_RING_ADDON_H
#define HVT_NET_RING_ADDON_H

#include <napi.h>

#include <string>

#include "hvt/net_ring.h"

namespace hvt {

template <class Host>
class NetRingObject : public Napi::ObjectWrap<NetRingObject<Host>> {
 public:
  using Wrap = Napi::ObjectWrap<NetRingObject<Host>>;

  static Napi::Function Define(Napi::Env env) {
    return Wrap::DefineClass(env, "NetRing",
                             {
                                 Wrap::InstanceMethod("stop", &NetRingObject::StopJs),
                                 Wrap::InstanceMethod("failure", &NetRingObject::FailureJs),
                             });
  }

  explicit NetRingObject(const Napi::CallbackInfo& info) : Wrap(info) {
    Napi::Env env = info.Env();
    uint64_t ring_gpa = Host::ArgUint64(info, 1, "ringGpa");
    uint64_t visible = Host::ArgUint64(info, 2, "visibleSize");
    ring::Setup setup;
    setup.kick_fd = Host::ArgInt32(info, 3, "kickFd");
    setup.wake_fd = Host::ArgInt32(info, 4, "wakeFd");
    if (info.Length() < 6 || !info[5].IsTypedArray() ||
        info[5].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw Napi::TypeError::New(env, "fds must be an Int32Array");
    }
    Napi::Int32Array fds = info[5].As<Napi::Int32Array>();
    if (fds.ElementLength() > ring::kMaxHandles) {
      throw Napi::RangeError::New(env, "at most 64 fds");
    }
    if (setup.kick_fd < 0 || setup.wake_fd < 0) throw Napi::RangeError::New(env, "bad kick fd");
    for (uint32_t h = 0; h < fds.ElementLength(); h++) setup.fds[h] = fds[h];

    uint8_t* base = nullptr;
    uint64_t size = 0;
    memory_ = Host::Acquire(env, info[0], &base, &size);
    held_ = true;
    const char* layout = ring::LayoutError(size, ring_gpa, visible);
    if (layout != nullptr) {
      Drop();
      throw Napi::RangeError::New(env, layout);
    }
    setup.guest = base;
    setup.visible = visible;
    setup.ring = reinterpret_cast<ring::Ring*>(base + ring_gpa);
    try {
      target_ = Host::PrepareInterrupt(env);
    } catch (...) {
      Drop();
      throw;
    }
    setup.interrupt = [](void* self) { Host::Interrupt(static_cast<NetRingObject*>(self)->target_); };
    setup.context = this;
    const char* step = "pthread_create";
    int err = server_.Start(setup, &step);
    if (err != 0) {
      Drop();
      Host::ThrowErrno(env, err, step);
    }
  }

  ~NetRingObject() override { Stop(); }

 private:
  void Drop() {
    if (held_) {
      Host::Release(memory_);
      held_ = false;
    }
  }

  void Stop() {
    if (server_.Stop()) Host::FailureJoined();
    Drop();
  }

  Napi::Value StopJs(const Napi::CallbackInfo& info) {
    Stop();
    return info.Env().Undefined();
  }

  Napi::Value FailureJs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const ring::Failure* f = server_.failure();
    if (f == nullptr) return env.Undefined();
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", Napi::Number::New(env, f->kind));
    o.Set("operation", Napi::Number::New(env, f->operation));
    o.Set("handle", Napi::Number::New(env, f->handle));
    o.Set("gpa", Napi::BigInt::New(env, f->gpa));
    o.Set("len", Napi::Number::New(env, f->len));
    o.Set("code", f->err != 0 ? Napi::Value(Napi::String::New(env, Host::ErrnoName(f->err)))
                              : env.Undefined());
    o.Set("done", Napi::Number::New(env, static_cast<double>(f->done)));
    o.Set("head", Napi::Number::New(env, f->head));
    o.Set("tail", Napi::Number::New(env, f->tail));
    return o;
  }

  ring::Server server_;
  typename Host::Memory memory_{};
  typename Host::Target target_{};
  bool held_ = false;
};

}  // namespace hvt

#endif
