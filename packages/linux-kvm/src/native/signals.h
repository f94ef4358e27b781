// SIGINT/SIGTERM, caught by the addon on request so that KVM_RUN and poll
// waits return to JavaScript instead of the process dying or hanging.
#pragma once

#include <linux/kvm.h>

#include <csignal>

namespace hvt {

// The number of the last termination signal caught, 0 if none.
int PendingSignal();
// Whether catchTerminationSignals() installed the handlers.
bool TerminationSignalsCaught();
// SIGINT and SIGTERM.
void TerminationSignalSet(sigset_t* set);
// The kvm_run area the handler marks with immediate_exit, or nullptr. Changing it
// must happen with the termination signals blocked in the calling thread.
void SetSignalRun(struct kvm_run* run);
// Forgets run if it is the one the handler marks (another vCPU may be current).
void ClearSignalRun(struct kvm_run* run);

}  // namespace hvt
