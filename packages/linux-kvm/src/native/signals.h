// SIGINT/SIGTERM, caught by the kit's handler on request (LinuxHost), so that
// KVM_RUN and poll waits return to JavaScript instead of the process dying or
// hanging; and the signal a failing I/O thread ends them with.
#pragma once

#include <linux/kvm.h>
#include <sys/types.h>

#include <csignal>

namespace hvt {

// The number of the last termination signal caught, 0 if none.
int PendingSignal();
// The signals whose handlers mark kvm_run and that end KVM_RUN and poll waits
// early: SIGINT, SIGTERM and the I/O thread signal.
void TerminationSignalSet(sigset_t* set);
// The kvm_run area the handler marks with immediate_exit, or nullptr. Changing it
// must happen with the termination signals blocked in the calling thread.
void SetSignalRun(struct kvm_run* run);
// Forgets run if it is the one the handler marks (another vCPU may be current).
void ClearSignalRun(struct kvm_run* run);
// The kvm_run area a signal handler marks, or nullptr (async-signal-safe).
struct kvm_run* SignalRun();

// A device I/O thread (the network ring's) that fails cannot end the process
// itself: it records why, then interrupts the vCPU thread with this signal so
// that KVM_RUN or a poll wait returns and the run loop reports the failure.
int IoThreadSignal();
// Installs the handler for IoThreadSignal() (idempotent; before any sandbox):
// 0, or the errno of sigaction.
int InstallIoThreadSignalHandler();
// From the failing thread: marks a failure pending and signals thread `tid` of
// process `pid` (both cached by the caller: only tgkill is needed here).
void NotifyIoThreadFailure(pid_t pid, pid_t tid);
// Whether a failure is pending; ClearIoThreadFailure undoes one notification
// once its thread has been joined.
bool IoThreadFailed();
void ClearIoThreadFailure();
}  // namespace hvt
