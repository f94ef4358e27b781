import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ADDON_FLAGS,
  addonIncludes,
  CORE_FLAGS,
  clang,
  clangxx,
  compile,
  withTempDir,
} from '../src/toolchain.js';

// A Host with the members hvt/posix_addon.h documents, over stand-in C calls,
// and the ring's N-API object over its VM (hvt/net_ring_addon.h).
const ADDON = `
#include <hvt/posix_addon.h>

extern "C" {
struct xx_vm;
void xx_signal_arrived(int);
int xx_pending_signal(void);
int xx_tap_open(const char*, int*, int*, const char**);
int xx_tsc(uint64_t*, int*, const char**);
struct xx_vm* xx_vm_new(void);
int xx_vm_create(struct xx_vm*, int, const char*, uint64_t, const char**);
uint8_t* xx_vm_memory(struct xx_vm*, uint64_t*);
int xx_vm_fd(struct xx_vm*);
int xx_vm_run(struct xx_vm*, double*);
int xx_vm_destroy(struct xx_vm*, const char**);
void xx_vm_free(struct xx_vm*);
int xx_protect(uint8_t*, uint64_t, int);
int xx_vm_add_kick(struct xx_vm*, int, int);
void xx_io_thread_failure(int);
int xx_io_thread_failed(void);
void xx_io_thread_interrupt(void);
}

namespace {
struct Host {
  HVT_CORE_CALLS(xx)
  static constexpr const char* kIoctlPrefixes[] = {"XX_"};
  static constexpr const char* kSelector = "release";
  static constexpr const char* kRunRequest = "XX_RUN";
  static constexpr size_t kExitFields = 8;
  static int MappingKind(Handle*) { return 0; }
  static void Unmap(uint8_t*, uint64_t, int) {}
};

class Vm : public Napi::ObjectWrap<Vm>, public hvt::VmBase<Vm, Host> {
 public:
  static Napi::Function Define(Napi::Env env) { return DefineClass(env, "Vm", CommonProperties()); }
  explicit Vm(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Vm>(info) { Create(info); }
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Vm", Vm::Define(env));
  hvt::ExportHost<Host>(env, exports);
  hvt::ExportNetRing<Host, Vm>(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(example, Init)
`;

// A Host without a C core, as linux-kvm's: its own tap and signal hooks, an
// I/O thread signal that also ends poll waits; only the host functions.
const HOST_ONLY = `
#include <hvt/posix_addon.h>

namespace {
volatile sig_atomic_t pending = 0;
struct Host {
  static void SignalArrived(int sig) { pending = sig; }
  static int PendingSignal() { return pending; }
  static int IoThreadSignal() { return SIGUSR2; }
  static bool IoThreadFailed() { return false; }
  static int TapOpen(const char*, int*, int*, const char** step) {
    *step = "TUNSETIFF";
    return -ENOENT;
  }
  static constexpr const char* kIoctlPrefixes[] = {"TUN"};
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  hvt::ExportPosixHost<Host>(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(example, Init)
`;

describe('the native headers', () => {
  const includes = addonIncludes();

  /** `source` compiles with every warning an error, and not without `member`. */
  function compilesAndNeeds(source: string, member: string, missing: RegExp): void {
    withTempDir((dir) => {
      const file = join(dir, 'addon.cc');
      writeFileSync(file, source);
      compile(clangxx(), [...ADDON_FLAGS, ...(includes ?? []), file]);
      expect(source).toContain(member);
      writeFileSync(file, source.replace(member, ''));
      expect(() => compile(clangxx(), [...ADDON_FLAGS, ...(includes ?? []), file])).toThrow(
        missing,
      );
    });
  }

  it.skipIf(includes === undefined)(
    'hvt/posix_addon.h: an addon with a Host as documented compiles with every warning an error',
    () =>
      compilesAndNeeds(ADDON, '  static int MappingKind(Handle*) { return 0; }\n', /MappingKind/),
    60_000,
  );

  it.skipIf(includes === undefined)(
    'hvt/posix_addon.h: a Host without a core (host functions only) compiles, and needs its I/O-thread hooks',
    () =>
      compilesAndNeeds(
        HOST_ONLY,
        '  static bool IoThreadFailed() { return false; }\n',
        /IoThreadFailed/,
      ),
    60_000,
  );

  it('hvt/bsd_types.h: compiles without system headers for both BSDs, encoding ioctls', () => {
    withTempDir((dir) => {
      const file = join(dir, 'types.c');
      writeFileSync(
        file,
        '#include "hvt/bsd_types.h"\n' +
          'HVT_STATIC_ASSERT(HVT_IOC(HVT_IOC_IN, \'v\', 1, 32) == 0x80207601u, "VM_RUN");\n' +
          'HVT_STATIC_ASSERT(sizeof(hvt_u64) == 8 && sizeof(hvt_i16) == 2, "widths");\n',
      );
      for (const target of ['x86_64-unknown-freebsd14', 'x86_64-unknown-openbsd']) {
        compile(clang(), [`--target=${target}`, ...CORE_FLAGS, '-fsyntax-only', file]);
      }
    });
  }, 60_000);
});
