/*
 * net2: answers ARP and ICMP echo on two devices at once.
 *   ip0=a.b.c.d  address of service0 (default 10.0.0.2)
 *   ip1=a.b.c.d  address of service1 (default 10.1.0.2)
 *   limit=N      halt with SUCCESS once EACH device has sent N echo replies
 *                (default: serve forever)
 */
#include "netecho.h"

int guest_main(const char *cmdline)
{
  static const uint8_t default_ip0[4] = {10, 0, 0, 2};
  static const uint8_t default_ip1[4] = {10, 1, 0, 2};
  uint8_t ip0[4], ip1[4];
  rt_arg_ipv4(cmdline, "ip0", default_ip0, ip0);
  rt_arg_ipv4(cmdline, "ip1", default_ip1, ip1);
  uint64_t limit = rt_arg_u64(cmdline, "limit", 0);

  struct echo_iface ifs[2];
  echo_iface_init(&ifs[0], "service0", ip0);
  echo_iface_init(&ifs[1], "service1", ip1);
  rt_printf("serving, limit=%lu per device\n", (unsigned long)limit);
  echo_serve(ifs, 2, limit);
  for (int i = 0; i < 2; i++) {
    rt_printf("%s: answered %lu echo requests, %lu arp requests\n", ifs[i].name,
              (unsigned long)ifs[i].echo_replies, (unsigned long)ifs[i].arp_replies);
  }
  rt_puts("SUCCESS\n");
  return RT_EXIT_SUCCESS;
}
