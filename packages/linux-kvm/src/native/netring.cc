// The network ring's thread (docs/guest-abi.md 10.3) on Linux: the engine and
// its N-API object are @hvtjs/posix-kit's (hvt/net_ring.h,
// hvt/net_ring_addon.h); this file says what is Linux's about it. Guest RAM
// is a GuestMapping, held until the thread is joined; a failing thread marks
// the failure and interrupts the vCPU thread with the I/O thread signal,
// whose handler sets immediate_exit, so that KVM_RUN returns IO_THREAD. The
// kick is an eventfd that KVM signals in the kernel (vm.cc, KVM_IOEVENTFD).
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <hvt/net_ring_addon.h>

#include "common.h"
#include "memory.h"
#include "signals.h"

namespace hvt {

namespace {

struct LinuxRingHost : RingHostGlue {
  using Memory = MappingState*;
  // The vCPU thread, by the ids tgkill takes (the sandbox allows only that call).
  struct Target {
    pid_t pid = 0;
    pid_t tid = 0;
  };

  static Memory Acquire(Napi::Env env, Napi::Value owner, uint8_t** base, uint64_t* size) {
    MappingState* state = GuestMapping::FromValue(env, owner)->Retain();
    if (state == nullptr) {
      throw Napi::RangeError::New(env, "ring or visible size outside guest memory");
    }
    *base = state->addr;
    *size = state->size;
    return state;
  }
  static void Release(Memory state) { GuestMapping::Unretain(state); }

  static Target PrepareInterrupt(Napi::Env env) {
    int err = InstallIoThreadSignalHandler();
    if (err != 0) ThrowErrno(env, err, "sigaction");
    return {::getpid(), static_cast<pid_t>(::syscall(SYS_gettid))};
  }
  static void Interrupt(const Target& t) { NotifyIoThreadFailure(t.pid, t.tid); }
  static void FailureJoined() { ClearIoThreadFailure(); }

};

}  // namespace

void InitNetRing(Napi::Env env, Napi::Object exports) {
  exports.Set("NetRing", NetRingObject<LinuxRingHost>::Define(env));
  exports.Set("ioThreadSignal", Napi::Number::New(env, IoThreadSignal()));
}

}  // namespace hvt
