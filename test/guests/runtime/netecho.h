/* An ARP and ICMP echo responder shared by the net and net2 guests. */
#ifndef NETECHO_H
#define NETECHO_H

#include "rt.h"

struct echo_iface {
  const char *name;
  int handle;
  uint8_t mac[6];
  uint16_t mtu;
  uint8_t ip[4];
  uint64_t echo_replies;
  uint64_t arp_replies;
  /* Frames go through the ring (rt_ring_net_*) instead of one hypercall each. */
  bool ring;
  /* No line per reply: a flood would spend its time printing. */
  bool quiet;
};

/* Looks the device up, fills in handle/mac/mtu and prints them. */
void echo_iface_init(struct echo_iface *ifc, const char *name, const uint8_t ip[4]);

/*
 * Answers ARP requests and ICMP echo requests for each interface's address
 * until every interface has sent `limit` echo replies; limit 0 serves forever.
 */
void echo_serve(struct echo_iface *ifs, int count, uint64_t limit);

#endif
