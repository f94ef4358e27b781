// Waiting for device fds to become readable, interruptible by SIGINT/SIGTERM.
#include <poll.h>
#include <pthread.h>

#include <cerrno>
#include <cmath>
#include <ctime>

#include "common.h"
#include "signals.h"

namespace hvt {

namespace {

// The result is a bit set in a double: exact up to 53 bits.
constexpr size_t kMaxPollFds = 53;

// pollWait(fds: Int32Array, timeoutNs): bit i of the result is set when fds[i]
// is readable (or has an error or hang-up that a read would report); 0 on
// timeout, when a termination signal arrived (see pendingSignal()) or an I/O
// thread failed. A negative timeout waits without limit; 0 only checks.
Napi::Value PollWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw Napi::TypeError::New(env, "fds must be an Int32Array");
  }
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  size_t n = fds.ElementLength();
  if (n > kMaxPollFds) throw Napi::RangeError::New(env, "at most 53 fds");
  double timeout_ns = ArgNumber(info, 1, "timeoutNs");
  if (std::isnan(timeout_ns)) throw Napi::RangeError::New(env, "timeoutNs is NaN");

  struct pollfd pfds[kMaxPollFds];
  for (size_t i = 0; i < n; i++) pfds[i] = {fds[i], POLLIN, 0};
  struct timespec ts = {};
  struct timespec* tsp = nullptr;
  if (timeout_ns >= 0 && std::isfinite(timeout_ns)) {
    double sec = std::floor(timeout_ns / 1e9);
    ts.tv_sec = static_cast<time_t>(sec);
    ts.tv_nsec = static_cast<long>(timeout_ns - sec * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
    tsp = &ts;
  }

  int r;
  int err = 0;
  if (TerminationSignalsCaught()) {
    // Check the flag with the signals blocked, then let ppoll unblock them
    // atomically: a signal arriving between the check and the wait still
    // interrupts the wait instead of being noticed only at the timeout.
    sigset_t term;
    sigset_t old;
    TerminationSignalSet(&term);
    pthread_sigmask(SIG_BLOCK, &term, &old);
    if (PendingSignal() != 0 || IoThreadFailed()) {
      pthread_sigmask(SIG_SETMASK, &old, nullptr);
      return Napi::Number::New(env, 0);
    }
    sigset_t during = old;
    sigdelset(&during, SIGINT);
    sigdelset(&during, SIGTERM);
    sigdelset(&during, IoThreadSignal());
    r = ::ppoll(pfds, n, tsp, &during);
    err = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  } else {
    r = ::ppoll(pfds, n, tsp, nullptr);
    err = errno;
  }
  if (r < 0) {
    if (err == EINTR) return Napi::Number::New(env, 0);
    ThrowErrno(env, err, "ppoll");
  }
  double mask = 0;
  for (size_t i = 0; i < n; i++) {
    if (pfds[i].revents & POLLNVAL) ThrowErrno(env, EBADF, "ppoll");
    if (pfds[i].revents & (POLLIN | POLLERR | POLLHUP)) mask += std::ldexp(1.0, static_cast<int>(i));
  }
  return Napi::Number::New(env, mask);
}

}  // namespace

void InitPoll(Napi::Env env, Napi::Object exports) {
  exports.Set("pollWait", Napi::Function::New<PollWait>(env));
}

}  // namespace hvt
