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
struct kvm_run* volatile g_signal_run = nullptr;

std::atomic<int> g_io_thread_failures{0};
std::atomic<bool> g_io_thread_handler{false};

// Runs on the vCPU thread only (the failing I/O thread aims its tgkill there):
// the same immediate_exit store as LinuxHost::SignalArrived's closes the check-then-run race.
void OnIoThreadSignal(int) {
  struct kvm_run* run = g_signal_run;
  if (run != nullptr) run->immediate_exit = 1;
}

}  // namespace

// The kit's SIGINT/SIGTERM handler calls this on whichever thread the kernel
// picked, then forwards the signal to the owner (the vCPU thread).
// Async-signal-safe only: flag and immediate_exit stores.
void LinuxHost::SignalArrived(int sig) {
  g_pending_signal = sig;
  // KVM_RUN entered after the flag check but before this store still returns
  // EINTR at once: that closes the check-then-run race. Only on the owner: it
  // is the thread that may unmap kvm_run (with these signals blocked).
  if (OnOwnerThread()) {
    struct kvm_run* run = g_signal_run;
    if (run != nullptr) run->immediate_exit = 1;
  }
}

int PendingSignal() { return g_pending_signal; }
int LinuxHost::PendingSignal() { return hvt::PendingSignal(); }
int LinuxHost::IoThreadSignal() { return hvt::IoThreadSignal(); }
bool LinuxHost::IoThreadFailed() { return hvt::IoThreadFailed(); }

void TerminationSignalSet(sigset_t* set) { WakeSignalSet<LinuxHost>(set); }

// The kit's: a real-time signal, which neither Node, V8 nor libuv use.
int IoThreadSignal() { return RingFailureSignal(); }

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

}  // namespace hvt
