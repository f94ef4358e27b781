// Guest RAM: one anonymous shared mapping, shared with KVM and with JavaScript.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>

namespace hvt {

// Guest I/O calls by guest-physical address (GuestMapping's pread, pwrite,
// read and write).
enum class GuestIoOp { kNone, kPread, kPwrite, kRead, kWrite };

// A system call the fast path made for a hypercall whose result it does not
// serve itself (a short frame write, a device error): core's handler, which
// then serves that hypercall from the start, gets this result from its own
// identical call instead of making the call a second time, so the device sees
// one call and every outcome is worded by core (docs/architecture.md 3.2).
struct PendingIo {
  GuestIoOp op = GuestIoOp::kNone;
  int fd = -1;
  uint64_t gpa = 0;
  uint64_t len = 0;
  double result = 0;  // bytes, or minus the errno
};

// The host mapping and who still points into it. JavaScript holds external
// ArrayBuffers onto it, and V8 frees those whenever it likes, possibly long after
// the VM is gone, so the address range stays mapped until the owner has released
// it and every buffer has been collected.
struct MappingState {
  uint8_t* addr = nullptr;
  size_t size = 0;
  size_t refs = 0;        // the owner (one) + live external buffers
  bool released = false;  // the guest's memory was dropped (see Release)
  PendingIo pending;      // set by the fast path, taken by the next matching I/O call
};

class GuestMapping : public Napi::ObjectWrap<GuestMapping> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit GuestMapping(const Napi::CallbackInfo& info);
  ~GuestMapping() override;

  // The host address of [offset, offset+len), or nullptr when the range is not
  // inside the mapping or the mapping was released.
  uint8_t* HostRange(uint64_t offset, uint64_t len) const;
  static GuestMapping* FromValue(Napi::Env env, Napi::Value v);
  // Keeps the address range mapped for a user outside JavaScript (a device
  // thread), as a view does; nullptr once released. Retain and Unretain run
  // on the JavaScript thread only, as everything else that counts references.
  MappingState* Retain();
  static void Unretain(MappingState* s);

 private:
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Chunks(const Napi::CallbackInfo& info);
  Napi::Value Protect(const Napi::CallbackInfo& info);
  Napi::Value Resident(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Pread(const Napi::CallbackInfo& info);
  Napi::Value Pwrite(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  void DropOwner();

  MappingState* state_ = nullptr;
  bool owner_ = false;
};

}  // namespace hvt
