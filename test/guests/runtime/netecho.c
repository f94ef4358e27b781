/*
 * Frames are handled in place: a reply is the request with addresses swapped
 * and checksums recomputed, so the ICMP payload is echoed byte for byte.
 */
#include "netecho.h"
#include "inet.h"

#define ETH_HLEN 14
#define ETH_MIN_FRAME 60
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define IPPROTO_ICMP 1
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define POLL_TIMEOUT_NS 1000000000ULL

/* Large enough for any tap MTU the tests use, including jumbo frames. */
static uint8_t frame[65536 + ETH_HLEN + 64] __attribute__((aligned(16)));

static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static void send_frame(struct echo_iface *ifc, uint8_t *buf, size_t len)
{
  if (len < ETH_MIN_FRAME) {
    memset(buf + len, 0, ETH_MIN_FRAME - len);
    len = ETH_MIN_FRAME;
  }
  int ret = ifc->ring ? rt_ring_net_write((uint64_t)ifc->handle, buf, len)
                      : rt_net_write((uint64_t)ifc->handle, buf, len);
  if (ret != HVT_R_OK) {
    rt_printf("%s: net_write failed: ret=%d\n", ifc->name, ret);
    rt_abort("net_write failed");
  }
}

static void handle_arp(struct echo_iface *ifc, uint8_t *eth, size_t len)
{
  uint8_t *arp = eth + ETH_HLEN;
  if (len < ETH_HLEN + 28)
    return;
  /* Ethernet/IPv4 request for our address only. */
  if (get16(arp) != 1 || get16(arp + 2) != ETHERTYPE_IPV4 || arp[4] != 6 || arp[5] != 4 ||
      get16(arp + 6) != 1 || memcmp(arp + 24, ifc->ip, 4) != 0)
    return;
  uint8_t requester_mac[6], requester_ip[4];
  memcpy(requester_mac, arp + 8, 6);
  memcpy(requester_ip, arp + 14, 4);

  put16(arp + 6, 2);
  memcpy(arp + 8, ifc->mac, 6);
  memcpy(arp + 14, ifc->ip, 4);
  memcpy(arp + 18, requester_mac, 6);
  memcpy(arp + 24, requester_ip, 4);
  memcpy(eth, requester_mac, 6);
  memcpy(eth + 6, ifc->mac, 6);
  send_frame(ifc, eth, ETH_HLEN + 28);
  ifc->arp_replies++;
  if (!ifc->quiet)
    rt_printf("%s: arp reply to %u.%u.%u.%u\n", ifc->name, requester_ip[0], requester_ip[1],
              requester_ip[2], requester_ip[3]);
}

static void handle_ipv4(struct echo_iface *ifc, uint8_t *eth, size_t len)
{
  uint8_t *ip = eth + ETH_HLEN;
  if (len < ETH_HLEN + 20 || (ip[0] >> 4) != 4)
    return;
  size_t ihl = (size_t)(ip[0] & 0xf) * 4;
  size_t total = get16(ip + 2);
  if (ihl < 20 || total < ihl + 8 || ETH_HLEN + total > len)
    return;
  if (inet_checksum(ip, ihl) != 0)
    return;
  /* Fragments are not reassembled; ping never sends them at these sizes. */
  if ((get16(ip + 6) & 0x3fff) != 0)
    return;
  if (ip[9] != IPPROTO_ICMP || memcmp(ip + 16, ifc->ip, 4) != 0)
    return;
  uint8_t *icmp = ip + ihl;
  size_t icmp_len = total - ihl;
  if (icmp[0] != ICMP_ECHO_REQUEST || icmp[1] != 0 || inet_checksum(icmp, icmp_len) != 0)
    return;

  uint8_t peer_mac[6], peer_ip[4];
  memcpy(peer_mac, eth + 6, 6);
  memcpy(peer_ip, ip + 12, 4);

  memcpy(eth, peer_mac, 6);
  memcpy(eth + 6, ifc->mac, 6);
  memcpy(ip + 12, ifc->ip, 4);
  memcpy(ip + 16, peer_ip, 4);
  ip[8] = 64;
  put16(ip + 10, 0);
  put16(ip + 10, inet_checksum(ip, ihl));
  icmp[0] = ICMP_ECHO_REPLY;
  put16(icmp + 2, 0);
  put16(icmp + 2, inet_checksum(icmp, icmp_len));
  send_frame(ifc, eth, ETH_HLEN + total);
  ifc->echo_replies++;
  if (!ifc->quiet)
    rt_printf("%s: echo reply to %u.%u.%u.%u id=%u seq=%u len=%u\n", ifc->name, peer_ip[0],
              peer_ip[1], peer_ip[2], peer_ip[3], get16(icmp + 4), get16(icmp + 6),
              (unsigned)(icmp_len - 8));
}

static void handle_frame(struct echo_iface *ifc, uint8_t *eth, size_t len)
{
  if (len < ETH_HLEN)
    return;
  if (memcmp(eth, ifc->mac, 6) != 0 && memcmp(eth, broadcast_mac, 6) != 0)
    return;
  uint16_t type = get16(eth + 12);
  if (type == ETHERTYPE_ARP)
    handle_arp(ifc, eth, len);
  else if (type == ETHERTYPE_IPV4)
    handle_ipv4(ifc, eth, len);
}

void echo_iface_init(struct echo_iface *ifc, const char *name, const uint8_t ip[4])
{
  struct rt_device dev;
  memset(ifc, 0, sizeof(*ifc));
  ifc->name = name;
  ifc->handle = rt_device_require(name, MFT_DEV_NET_BASIC, &dev);
  memcpy(ifc->mac, dev.mac, 6);
  ifc->mtu = dev.mtu;
  memcpy(ifc->ip, ip, 4);
  rt_printf("%s: handle=%d mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u ip=%u.%u.%u.%u\n", name,
            ifc->handle, ifc->mac[0], ifc->mac[1], ifc->mac[2], ifc->mac[3], ifc->mac[4],
            ifc->mac[5], ifc->mtu, ip[0], ip[1], ip[2], ip[3]);
}

static bool all_done(const struct echo_iface *ifs, int count, uint64_t limit)
{
  if (limit == 0)
    return false;
  for (int i = 0; i < count; i++) {
    if (ifs[i].echo_replies < limit)
      return false;
  }
  return true;
}

void echo_serve(struct echo_iface *ifs, int count, uint64_t limit)
{
  while (!all_done(ifs, count, limit)) {
    uint64_t ready = 0;
    int ret = rt_poll(POLL_TIMEOUT_NS, &ready);
    if (ret < 0) {
      rt_printf("poll failed: ret=%d\n", ret);
      rt_abort("poll failed");
    }
    for (int i = 0; i < count; i++) {
      struct echo_iface *ifc = &ifs[i];
      if ((ready & (1ULL << ifc->handle)) == 0)
        continue;
      /*
       * Drain: one wakeup may cover many frames. Stop at the limit, so that
       * `limit=N` means exactly N replies.
       */
      while (!all_done(ifs, count, limit)) {
        uint64_t len = 0;
        ret = ifc->ring ? rt_ring_net_read((uint64_t)ifc->handle, frame, sizeof(frame), &len)
                        : rt_net_read((uint64_t)ifc->handle, frame, sizeof(frame), &len);
        if (ret == HVT_R_AGAIN)
          break;
        if (ret != HVT_R_OK || len > sizeof(frame)) {
          rt_printf("%s: net_read failed: ret=%d len=%lu\n", ifc->name, ret, (unsigned long)len);
          rt_abort("net_read failed");
        }
        handle_frame(ifc, frame, (size_t)len);
      }
    }
  }
}
