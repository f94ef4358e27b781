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

describe('the native headers', () => {
  const includes = addonIncludes();
  it.skipIf(includes === undefined)(
    'hvt/posix_addon.h: an addon with a Host as documented compiles with every warning an error',
    () => {
      withTempDir((dir) => {
        const file = join(dir, 'addon.cc');
        writeFileSync(file, ADDON);
        compile(clangxx(), [...ADDON_FLAGS, ...(includes ?? []), file]);
        // And a Host lacking a member does not.
        writeFileSync(file, ADDON.replace('  static int MappingKind(Handle*) { return 0; }\n', ''));
        expect(() => compile(clangxx(), [...ADDON_FLAGS, ...(includes ?? []), file])).toThrow(
          /MappingKind/,
        );
      });
    },
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
