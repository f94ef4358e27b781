// Attaching to an existing tap interface (docs/guest-abi.md 11.3).
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace hvt {

namespace {

// The interface's flags, or -errno (ENOENT when no such interface).
int InterfaceFlags(const char* name, unsigned* flags) {
  struct ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return -errno;
  int result = -ENOENT;
  for (struct ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name != nullptr && std::strcmp(a->ifa_name, name) == 0) {
      *flags = a->ifa_flags;
      result = 0;
      break;
    }
  }
  ::freeifaddrs(list);
  return result;
}

// Receive offloads would hand the guest aggregated frames larger than it can
// take; failures are ignored because not every tap driver supports them.
void DisableOffloads(int sock, const char* name) {
  for (uint32_t cmd : {static_cast<uint32_t>(ETHTOOL_SGRO), static_cast<uint32_t>(ETHTOOL_SGSO)}) {
    struct ethtool_value value = {};
    value.cmd = cmd;
    value.data = 0;
    struct ifreq ifr = {};
    std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_data = reinterpret_cast<char*>(&value);
    RetryIoctl(sock, SIOCETHTOOL, &ifr);
  }
}

}  // namespace

// The kit's openTap(name): the existing, up tap `name`, opened non-blocking,
// and its MTU. Errors (minus the errno, `step` the failed call):
// ENAMETOOLONG (name of 16 or more bytes), ENOENT (no such interface),
// ENETDOWN (neither up nor running), EINVAL (the kernel attached a different
// name, e.g. for a "%d" template), else the failing call's.
int LinuxHost::TapOpen(const char* name, int* fd, int* mtu, const char** step) {
  *step = "TUNSETIFF";
  if (std::strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
  unsigned flags = 0;
  *step = "getifaddrs";
  int r = InterfaceFlags(name, &flags);
  if (r < 0) return r;
  if ((flags & (IFF_UP | IFF_RUNNING)) == 0) return -ENETDOWN;

  *step = "open";
  OwnedFd tap(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!tap.valid()) return -errno;
  struct ifreq ifr = {};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  *step = "TUNSETIFF";
  if (RetryIoctl(tap.get(), TUNSETIFF, &ifr) < 0) return -errno;
  if (std::strncmp(ifr.ifr_name, name, IFNAMSIZ) != 0) return -EINVAL;

  *step = "socket";
  OwnedFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) return -errno;
  struct ifreq mtu_req = {};
  std::strncpy(mtu_req.ifr_name, name, IFNAMSIZ - 1);
  *step = "SIOCGIFMTU";
  if (RetryIoctl(sock.get(), SIOCGIFMTU, &mtu_req) < 0) return -errno;
  DisableOffloads(sock.get(), name);
  *mtu = mtu_req.ifr_mtu;
  *fd = tap.Release();
  return 0;
}

namespace {

// setNonBlocking(fd): sets O_NONBLOCK on a descriptor the caller was given
// (`@NN`), as OpenTap opens its own, so that no read or write of it can hold a
// thread the tender must be able to stop. Errors: the failing fcntl's errno.
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) ThrowErrno(env, errno, "fcntl", "F_GETFL");
  if ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    ThrowErrno(env, errno, "fcntl", "F_SETFL");
  }
  return env.Undefined();
}

}  // namespace

void InitTap(Napi::Env env, Napi::Object exports) {
  exports.Set("setNonBlocking", Napi::Function::New<SetNonBlocking>(env));
}

}  // namespace hvt
