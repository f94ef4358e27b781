/*
 * net: answers ARP and ICMP echo on `service0`.
 *   ip=a.b.c.d  address to answer for (default 10.0.0.2)
 *   limit=N     halt with SUCCESS after N echo replies (default: serve forever)
 */
#include "netecho.h"

int guest_main(const char *cmdline)
{
  static const uint8_t default_ip[4] = {10, 0, 0, 2};
  uint8_t ip[4];
  rt_arg_ipv4(cmdline, "ip", default_ip, ip);
  uint64_t limit = rt_arg_u64(cmdline, "limit", 0);

  struct echo_iface ifc;
  echo_iface_init(&ifc, "service0", ip);
  rt_printf("serving, limit=%lu\n", (unsigned long)limit);
  echo_serve(&ifc, 1, limit);
  rt_printf("answered %lu echo requests, %lu arp requests\n", (unsigned long)ifc.echo_replies,
            (unsigned long)ifc.arp_replies);
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
