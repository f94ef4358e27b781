// What the gdb module needs from the host (docs/guest-abi.md 11.5), as
// mechanism only: a listening TCP socket and its one connection, the vCPU's
// guest-debug and FPU ioctls, and the debugger's input interrupting KVM_RUN.
#include "debug.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>

#include "common.h"
#include "signals.h"

namespace hvt {

namespace {

volatile sig_atomic_t g_debug_input = 0;
int g_debug_fd = -1;

// Async-signal-safe: a flag and the same immediate_exit store as the
// termination handler, so that a KVM_RUN entered after the check below still
// returns at once.
void OnDebugInput(int) {
  g_debug_input = 1;
  struct kvm_run* run = SignalRun();
  if (run != nullptr) run->immediate_exit = 1;
}

// A real-time signal next to the I/O thread's: neither Node, V8 nor libuv use them.
int DebugSignal() { return SIGRTMIN + 5; }

bool ParseAddress(const std::string& text, uint16_t port, struct sockaddr_storage* out,
                  socklen_t* len) {
  std::memset(out, 0, sizeof *out);
  auto* v4 = reinterpret_cast<struct sockaddr_in*>(out);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof *v4;
    return true;
  }
  auto* v6 = reinterpret_cast<struct sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof *v6;
    return true;
  }
  return false;
}

std::string AddressText(const struct sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const struct sockaddr_in&>(addr).sin_addr, text,
              sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const struct sockaddr_in6&>(addr).sin6_addr, text,
              sizeof text);
  }
  return text;
}

uint16_t PortOf(const struct sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const struct sockaddr_in6&>(addr).sin6_port);
  }
  return ntohs(reinterpret_cast<const struct sockaddr_in&>(addr).sin_port);
}

// tcpListen(address, port): {fd, port}; a non-blocking, close-on-exec socket
// with SO_REUSEADDR, bound and listening for one connection.
Napi::Value TcpListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "address");
  uint64_t port = ArgUint64(info, 1, "port");
  if (port > 65535) throw Napi::RangeError::New(env, "port");
  struct sockaddr_storage addr;
  socklen_t len = 0;
  if (!ParseAddress(info[0].As<Napi::String>().Utf8Value(), static_cast<uint16_t>(port), &addr,
                    &len)) {
    ThrowErrno(env, EINVAL, "inet_pton");
  }
  OwnedFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) ThrowErrno(env, errno, "socket");
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    ThrowErrno(env, errno, "setsockopt");
  }
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), len) != 0) {
    ThrowErrno(env, errno, "bind");
  }
  if (::listen(fd.get(), 1) != 0) ThrowErrno(env, errno, "listen");
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  if (::getsockname(fd.get(), reinterpret_cast<struct sockaddr*>(&bound), &bound_len) != 0) {
    ThrowErrno(env, errno, "getsockname");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("port", Napi::Number::New(env, PortOf(bound)));
  out.Set("fd", Napi::Number::New(env, fd.Release()));
  return out;
}

// tcpAccept(listenFd): {fd, peer} for a waiting connection (non-blocking,
// close-on-exec, TCP_NODELAY); throws EAGAIN when none is waiting.
Napi::Value TcpAccept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int listen_fd = ArgInt32(info, 0, "fd");
  struct sockaddr_storage peer;
  socklen_t peer_len = sizeof peer;
  OwnedFd fd(::accept4(listen_fd, reinterpret_cast<struct sockaddr*>(&peer), &peer_len,
                       SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd.valid()) ThrowErrno(env, errno, "accept");
  int one = 1;
  if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
    ThrowErrno(env, errno, "setsockopt");
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("peer", Napi::String::New(env, AddressText(peer)));
  out.Set("fd", Napi::Number::New(env, fd.Release()));
  return out;
}

// debugInterruptOn(fd): input on the socket fd signals this thread (the vCPU
// thread) from now on; the handler makes KVM_RUN return, and run() reports
// the input (DebugInputPending). Before the sandbox: fcntl and sigaction.
Napi::Value DebugInterruptOn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "fd");
  struct sigaction sa = {};
  sa.sa_handler = OnDebugInput;
  sigfillset(&sa.sa_mask);
  // No SA_RESTART: a POLL hypercall's ppoll must return so that the guest
  // gets back to KVM_RUN, where the input is noticed.
  if (sigaction(DebugSignal(), &sa, nullptr) != 0) ThrowErrno(env, errno, "sigaction");
  // Should the kernel's queue of real-time signals overflow, it sends SIGIO
  // instead, whose default action would end the process.
  if (sigaction(SIGIO, &sa, nullptr) != 0) ThrowErrno(env, errno, "sigaction");
  struct f_owner_ex owner = {F_OWNER_TID, static_cast<pid_t>(::syscall(SYS_gettid))};
  if (::fcntl(fd, F_SETOWN_EX, &owner) != 0) ThrowErrno(env, errno, "fcntl");
  if (::fcntl(fd, F_SETSIG, DebugSignal()) != 0) ThrowErrno(env, errno, "fcntl");
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_ASYNC) != 0) ThrowErrno(env, errno, "fcntl");
  g_debug_fd = fd;
  return env.Undefined();
}

// debugInterruptOff(): forgets the connection (before it is closed): no
// system call, so it works in the sandbox.
Napi::Value DebugInterruptOff(const Napi::CallbackInfo& info) {
  g_debug_fd = -1;
  g_debug_input = 0;
  return info.Env().Undefined();
}

#if defined(__x86_64__)
// guestDebug(vcpuFd, control, debugreg: BigUint64Array(8)): KVM_SET_GUEST_DEBUG.
Napi::Value GuestDebug(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "fd");
  uint64_t control = ArgUint64(info, 1, "control");
  if (info.Length() < 3 || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_biguint64_array ||
      info[2].As<Napi::TypedArray>().ElementLength() != 8) {
    throw Napi::TypeError::New(env, "debugreg must be a BigUint64Array of 8");
  }
  Napi::BigUint64Array dr = info[2].As<Napi::BigUint64Array>();
  struct kvm_guest_debug dbg = {};
  dbg.control = static_cast<uint32_t>(control);
  for (int i = 0; i < 8; i++) dbg.arch.debugreg[i] = dr[i];
  if (RetryIoctl(fd, KVM_SET_GUEST_DEBUG, &dbg) != 0) {
    ThrowErrno(env, errno, "ioctl", "KVM_SET_GUEST_DEBUG");
  }
  return env.Undefined();
}

// getFpu(vcpuFd): KVM_GET_FPU.
Napi::Value GetFpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "fd");
  struct kvm_fpu fpu = {};
  if (RetryIoctl(fd, KVM_GET_FPU, &fpu) != 0) ThrowErrno(env, errno, "ioctl", "KVM_GET_FPU");
  Napi::Object out = Napi::Object::New(env);
  out.Set("st", Napi::Buffer<uint8_t>::Copy(env, &fpu.fpr[0][0], sizeof fpu.fpr));
  out.Set("fcw", Napi::Number::New(env, fpu.fcw));
  out.Set("fsw", Napi::Number::New(env, fpu.fsw));
  out.Set("ftw", Napi::Number::New(env, fpu.ftwx));
  out.Set("fop", Napi::Number::New(env, fpu.last_opcode));
  out.Set("fip", Napi::BigInt::New(env, static_cast<uint64_t>(fpu.last_ip)));
  out.Set("fdp", Napi::BigInt::New(env, static_cast<uint64_t>(fpu.last_dp)));
  out.Set("xmm", Napi::Buffer<uint8_t>::Copy(env, &fpu.xmm[0][0], sizeof fpu.xmm));
  out.Set("mxcsr", Napi::Number::New(env, fpu.mxcsr));
  return out;
}

void CopyBytes(const Napi::Object& o, const char* name, uint8_t* to, size_t size) {
  Napi::Value v = o.Get(name);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      v.As<Napi::Uint8Array>().ElementLength() != size) {
    throw Napi::TypeError::New(o.Env(), std::string(name) + " must be a Uint8Array of " +
                                            std::to_string(size) + " bytes");
  }
  std::memcpy(to, v.As<Napi::Uint8Array>().Data(), size);
}

// setFpu(vcpuFd, fpu): KVM_SET_FPU with the fields getFpu returns.
Napi::Value SetFpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgInt32(info, 0, "fd");
  if (info.Length() < 2 || !info[1].IsObject()) throw Napi::TypeError::New(env, "fpu");
  Napi::Object o = info[1].As<Napi::Object>();
  struct kvm_fpu fpu = {};
  CopyBytes(o, "st", &fpu.fpr[0][0], sizeof fpu.fpr);
  CopyBytes(o, "xmm", &fpu.xmm[0][0], sizeof fpu.xmm);
  fpu.fcw = static_cast<uint16_t>(PropUint64(o, "fcw"));
  fpu.fsw = static_cast<uint16_t>(PropUint64(o, "fsw"));
  fpu.ftwx = static_cast<uint8_t>(PropUint64(o, "ftw"));
  fpu.last_opcode = static_cast<uint16_t>(PropUint64(o, "fop"));
  fpu.last_ip = PropUint64(o, "fip");
  fpu.last_dp = PropUint64(o, "fdp");
  fpu.mxcsr = static_cast<uint32_t>(PropUint64(o, "mxcsr"));
  if (RetryIoctl(fd, KVM_SET_FPU, &fpu) != 0) ThrowErrno(env, errno, "ioctl", "KVM_SET_FPU");
  return env.Undefined();
}
#endif

}  // namespace

bool DebugInputPending() {
  if (g_debug_input == 0) return false;
  g_debug_input = 0;
  struct pollfd p = {g_debug_fd, POLLIN, 0};
  struct timespec zero = {0, 0};
  // Input read while the guest was stopped raised the flag too: only what is
  // still unread counts.
  return g_debug_fd >= 0 && ::ppoll(&p, 1, &zero, nullptr) == 1 && (p.revents & POLLIN) != 0;
}

void InitDebug(Napi::Env env, Napi::Object exports) {
  exports.Set("tcpListen", Napi::Function::New<TcpListen>(env));
  exports.Set("tcpAccept", Napi::Function::New<TcpAccept>(env));
  exports.Set("debugInterruptOn", Napi::Function::New<DebugInterruptOn>(env));
  exports.Set("debugInterruptOff", Napi::Function::New<DebugInterruptOff>(env));
#if defined(__x86_64__)
  exports.Set("guestDebug", Napi::Function::New<GuestDebug>(env));
  exports.Set("getFpu", Napi::Function::New<GetFpu>(env));
  exports.Set("setFpu", Napi::Function::New<SetFpu>(env));
  Napi::Object flags = Napi::Object::New(env);
  flags.Set("ENABLE", Napi::Number::New(env, KVM_GUESTDBG_ENABLE));
  flags.Set("SINGLESTEP", Napi::Number::New(env, KVM_GUESTDBG_SINGLESTEP));
  flags.Set("USE_SW_BP", Napi::Number::New(env, KVM_GUESTDBG_USE_SW_BP));
  flags.Set("USE_HW_BP", Napi::Number::New(env, KVM_GUESTDBG_USE_HW_BP));
  exports.Set("guestDebugFlags", flags);
  Napi::Object requests = Napi::Object::New(env);
  requests.Set("KVM_SET_GUEST_DEBUG", Napi::Number::New(env, KVM_SET_GUEST_DEBUG));
  requests.Set("KVM_SET_REGS", Napi::Number::New(env, KVM_SET_REGS));
  requests.Set("KVM_GET_FPU", Napi::Number::New(env, KVM_GET_FPU));
  requests.Set("KVM_SET_FPU", Napi::Number::New(env, KVM_SET_FPU));
  exports.Set("debugIoctls", requests);
#endif
}

}  // namespace hvt
