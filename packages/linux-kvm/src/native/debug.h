// The gdb module's mechanism (debug.cc): what the vCPU's run loop asks of it.
#pragma once

namespace hvt {

// Whether the debugger's connection (debugInterruptOn) has unread input that
// arrived while the guest ran; clears the notice.
bool DebugInputPending();

}  // namespace hvt
