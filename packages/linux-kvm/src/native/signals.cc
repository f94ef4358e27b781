#include "signals.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "common.h"

namespace hvt {

namespace {

volatile sig_atomic_t g_pending_signal = 0;
volatile sig_atomic_t g_caught = 0;
// The thread that runs the vCPU and the poll waits (the JavaScript thread).
pthread_t g_owner;
struct kvm_run* volatile g_signal_run = nullptr;

// Async-signal-safe only: flag, immediate_exit store, pthread_kill (tgkill).
void OnTerminationSignal(int sig) {
  int saved = errno;
  g_pending_signal = sig;
  if (pthread_equal(pthread_self(), g_owner)) {
    // KVM_RUN entered after the flag check but before this store still returns
    // EINTR at once: that closes the check-then-run race.
    struct kvm_run* run = g_signal_run;
    if (run != nullptr) run->immediate_exit = 1;
  } else {
    // The kernel picked another thread (one of Node's or V8's). Only a signal to
    // the owner interrupts its KVM_RUN or ppoll, so pass it on.
    pthread_kill(g_owner, sig);
  }
  errno = saved;
}

// catchTerminationSignals(): installs the handlers for SIGINT and SIGTERM,
// replacing Node's (which would kill the process at once, and which cannot run
// anyway while this thread is inside KVM_RUN). No SA_RESTART: blocking calls
// must return EINTR. Idempotent.
Napi::Value CatchTerminationSignals(const Napi::CallbackInfo& info) {
  if (g_caught) return info.Env().Undefined();
  g_owner = pthread_self();
  struct sigaction sa = {};
  sa.sa_handler = OnTerminationSignal;
  sigfillset(&sa.sa_mask);
  sa.sa_flags = 0;
  if (sigaction(SIGINT, &sa, nullptr) != 0 || sigaction(SIGTERM, &sa, nullptr) != 0) {
    ThrowErrno(info.Env(), errno, "sigaction");
  }
  g_caught = 1;
  return info.Env().Undefined();
}

std::atomic<int> g_io_thread_failures{0};
std::atomic<bool> g_io_thread_handler{false};

// Runs on the vCPU thread only (the failing I/O thread aims its tgkill there):
// the same immediate_exit store as above closes the check-then-run race.
void OnIoThreadSignal(int) {
  struct kvm_run* run = g_signal_run;
  if (run != nullptr) run->immediate_exit = 1;
}

Napi::Value PendingSignalJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), g_pending_signal);
}

}  // namespace

int PendingSignal() { return g_pending_signal; }
bool TerminationSignalsCaught() { return g_caught != 0; }

void TerminationSignalSet(sigset_t* set) {
  sigemptyset(set);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGTERM);
  sigaddset(set, IoThreadSignal());
}

// A real-time signal: neither Node, V8 nor libuv use these, and glibc keeps its
// own below SIGRTMIN.
int IoThreadSignal() { return SIGRTMIN + 4; }

int InstallIoThreadSignalHandler() {
  if (g_io_thread_handler.load()) return 0;
  struct sigaction sa = {};
  sa.sa_handler = OnIoThreadSignal;
  sigfillset(&sa.sa_mask);
  // No SA_RESTART: an interrupted KVM_RUN or ppoll must return EINTR.
  sa.sa_flags = 0;
  if (sigaction(IoThreadSignal(), &sa, nullptr) != 0) return errno;
  g_io_thread_handler.store(true);
  return 0;
}

void NotifyIoThreadFailure(pid_t pid, pid_t tid) {
  g_io_thread_failures.fetch_add(1, std::memory_order_release);
  ::syscall(SYS_tgkill, pid, tid, IoThreadSignal());
}

bool IoThreadFailed() { return g_io_thread_failures.load(std::memory_order_acquire) > 0; }

void ClearIoThreadFailure() { g_io_thread_failures.fetch_sub(1, std::memory_order_acq_rel); }

void SetSignalRun(struct kvm_run* run) { g_signal_run = run; }

struct kvm_run* SignalRun() { return g_signal_run; }

void ClearSignalRun(struct kvm_run* run) {
  if (g_signal_run == run) g_signal_run = nullptr;
}

void InitSignals(Napi::Env env, Napi::Object exports) {
  exports.Set("catchTerminationSignals", Napi::Function::New<CatchTerminationSignals>(env));
  exports.Set("pendingSignal", Napi::Function::New<PendingSignalJs>(env));
}

}  // namespace hvt
