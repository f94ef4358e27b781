/*
 * Test-only addon for the sandbox tests: makes one raw system call with the
 * numbers it is given, so a test can try exactly the call a seccomp rule is
 * about. Never part of the production addon.
 */
#include <errno.h>
#include <node_api.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

static int64_t arg_i64(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    int64_t r = 0;
    bool lossless;
    napi_get_value_bigint_int64(env, v, &r, &lossless);
    return r;
  }
  if (t == napi_number) {
    int64_t r = 0;
    napi_get_value_int64(env, v, &r);
    return r;
  }
  return 0;
}

/* syscall(nr, a0..a5): the raw result, or minus errno, as a bigint. */
static napi_value Syscall(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int64_t a[7] = {0};
  for (size_t i = 0; i < argc && i < 7; i++) a[i] = arg_i64(env, argv[i]);
  long r = syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
  int64_t out = r == -1 ? -(int64_t)errno : (int64_t)r;
  napi_value result;
  napi_create_bigint_int64(env, out, &result);
  return result;
}

/* Zeroed memory whose address a probe may pass where a call needs a pointer
   to something harmless (a zero timeout). */
static uint64_t scratch[512];

/* scratch(): the address of that memory, as a bigint. */
static napi_value Scratch(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)scratch, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "syscall", NAPI_AUTO_LENGTH, Syscall, NULL, &fn);
  napi_set_named_property(env, exports, "syscall", fn);
  napi_create_function(env, "scratch", NAPI_AUTO_LENGTH, Scratch, NULL, &fn);
  napi_set_named_property(env, exports, "scratch", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
