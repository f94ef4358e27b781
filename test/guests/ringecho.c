/*
 * ringecho: answers ARP and ICMP echo on `service0` through the network ring
 * (docs/guest-abi.md 10.4): reads after POLL and writes go through the ring; it
 * falls back to hypercalls when the tender offers no ring, and says which.
 *   ip=a.b.c.d          address to answer for (default 10.0.0.2)
 *   limit=N             halt with SUCCESS after N echo replies (default: serve forever)
 *   quiet=1             no line per reply
 *   path=auto|ring|hypercall
 *                       auto (default): the ring if offered; ring: FAILURE without
 *                       one; hypercall: never the ring
 */
#include "netecho.h"

int guest_main(const char *cmdline)
{
  static const uint8_t default_ip[4] = {10, 0, 0, 2};
  uint8_t ip[4];
  rt_arg_ipv4(cmdline, "ip", default_ip, ip);
  uint64_t limit = rt_arg_u64(cmdline, "limit", 0);
  bool quiet = rt_arg_u64(cmdline, "quiet", 0) != 0;
  char path[16] = "auto";
  rt_arg_str(cmdline, "path", path, sizeof(path));
  if (strcmp(path, "auto") != 0 && strcmp(path, "ring") != 0 && strcmp(path, "hypercall") != 0) {
    rt_printf("FAILURE: path=%s is not auto, ring or hypercall\n", path);
    return RT_EXIT_FAILURE;
  }

  struct hvt_ring *ring = rt_ring();
  bool use_ring = ring != NULL && strcmp(path, "hypercall") != 0;
  if (use_ring) {
    rt_printf("ringecho: using the ring at 0x%lx\n", (unsigned long)(uintptr_t)ring);
  } else if (strcmp(path, "ring") == 0) {
    rt_puts("FAILURE: the tender offers no ring\n");
    return RT_EXIT_FAILURE;
  } else {
    rt_printf("ringecho: using hypercalls (ring %s)\n", ring != NULL ? "offered" : "not offered");
  }

  struct echo_iface ifc;
  echo_iface_init(&ifc, "service0", ip);
  ifc.ring = use_ring;
  ifc.quiet = quiet;
  rt_printf("serving, limit=%lu\n", (unsigned long)limit);
  echo_serve(&ifc, 1, limit);
  rt_printf("answered %lu echo requests, %lu arp requests\n", (unsigned long)ifc.echo_replies,
            (unsigned long)ifc.arp_replies);
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
