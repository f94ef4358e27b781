/*
 * echo-flood: a verified ICMP echo flood, for the nested aarch64 VM, where
 * there is neither Python nor iputils (busybox ping counts replies but never
 * looks at their data). Built static by test/kvm/smoke-build.mjs.
 *
 *   echo-flood [-c COUNT] [-s SIZE] [-W TIMEOUT_MS] [-w DEADLINE_S] [-S SEED] DEST_IPV4
 *   echo-flood -T
 *
 * Sends COUNT echo requests to DEST over a raw ICMP socket (root only), one at
 * a time: the next goes out when the previous one's reply arrived, or when it
 * timed out after TIMEOUT_MS (then it counts as lost and the flood goes on).
 * All requests share one identifier; request i has sequence number i and a
 * payload of SIZE bytes drawn from SEED and i, so no two are alike. Every
 * packet carrying the identifier is checked: it must come from DEST, be an
 * echo reply (type 0, code 0) with a valid checksum, name a request that was
 * sent, and carry that request's payload byte for byte. DEADLINE_S bounds the
 * whole run: no request is sent after it.
 *
 * Prints one summary line,
 *   flood: sent N, replies N, intact N, corrupt N, lost N, duplicate N
 * (the first few bad replies described on stderr) and exits 0 only when all
 * COUNT requests went out and each got exactly one reply, an intact one.
 * Exits 1 otherwise, 2 on bad arguments or when the socket cannot be made.
 *
 * -T runs the self-check instead: made-up replies, intact and damaged in
 * several ways, through the same verifier; needs no network or privilege.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../guests/runtime/inet.h"

#define ICMP_HDR 8
#define IP_MIN_HDR 20
#define MAX_SIZE 65000
#define MAX_COUNT 65536 /* one sequence number each */
#define SHOW_BAD 5       /* bad replies described on stderr, at most */

/* What one received packet turned out to be. */
enum verdict {
  NOT_OURS,     /* not ICMP, too short, or another identifier: ignored */
  INTACT,       /* the reply to request *seq, exactly as it should be */
  BAD_SOURCE,   /* our identifier, but not from DEST */
  BAD_TYPE,     /* from DEST, our identifier, not an echo reply */
  BAD_SEQ,      /* names a request never sent */
  BAD_CHECKSUM, /* ICMP checksum does not hold */
  BAD_LENGTH,   /* payload longer or shorter than SIZE */
  BAD_PAYLOAD,  /* payload differs from the request's */
};

static const char *const verdict_names[] = {
  [NOT_OURS] = "not ours",
  [INTACT] = "intact",
  [BAD_SOURCE] = "wrong source",
  [BAD_TYPE] = "not an echo reply",
  [BAD_SEQ] = "unsent sequence",
  [BAD_CHECKSUM] = "bad checksum",
  [BAD_LENGTH] = "wrong length",
  [BAD_PAYLOAD] = "payload differs",
};

/* The flood's fixed parameters, as the verifier needs them. */
struct flood {
  uint32_t dest; /* network order */
  uint16_t id;
  uint32_t seed;
  size_t size;
};

/*
 * Request seq's payload: a xorshift32 stream whose state starts from the seed
 * and the sequence number mixed together (never zero, which would stick).
 */
static void fill_payload(const struct flood *f, unsigned seq, uint8_t *out)
{
  uint32_t x = f->seed ^ ((uint32_t)(seq + 1) * 0x9e3779b9U);
  if (x == 0)
    x = 0x6a09e667U;
  for (size_t i = 0; i < f->size; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = (uint8_t)(x >> 24);
  }
}

/* Request seq as it goes on the wire (the ICMP message; the kernel adds IP). */
static size_t make_request(const struct flood *f, unsigned seq, uint8_t *out)
{
  out[0] = 8; /* echo request */
  out[1] = 0;
  put16(out + 2, 0);
  put16(out + 4, f->id);
  put16(out + 6, (uint16_t)seq);
  fill_payload(f, seq, out + ICMP_HDR);
  put16(out + 2, inet_checksum(out, ICMP_HDR + f->size));
  return ICMP_HDR + f->size;
}

/*
 * Judges one packet as a raw IPv4 socket hands it over (IP header first),
 * given that requests 0 .. sent-1 went out. Sets *seq to the sequence number
 * the packet names whenever the verdict is not NOT_OURS. `scratch` holds SIZE
 * bytes, for the payload expected.
 */
static enum verdict verify(const struct flood *f, unsigned sent, const uint8_t *pkt, size_t len,
                           unsigned *seq, uint8_t *scratch)
{
  if (len < IP_MIN_HDR || (pkt[0] >> 4) != 4 || pkt[9] != IPPROTO_ICMP)
    return NOT_OURS;
  size_t ihl = (size_t)(pkt[0] & 0xf) * 4;
  if (ihl < IP_MIN_HDR || len < ihl + ICMP_HDR)
    return NOT_OURS;
  const uint8_t *icmp = pkt + ihl;
  size_t icmp_len = len - ihl;
  if (get16(icmp + 4) != f->id)
    return NOT_OURS;
  *seq = get16(icmp + 6);
  uint32_t source;
  memcpy(&source, pkt + 12, 4);
  if (source != f->dest)
    return BAD_SOURCE;
  if (icmp[0] != 0 || icmp[1] != 0)
    return BAD_TYPE;
  if (*seq >= sent)
    return BAD_SEQ;
  if (inet_checksum(icmp, icmp_len) != 0)
    return BAD_CHECKSUM;
  if (get16(pkt + 2) != len || icmp_len != ICMP_HDR + f->size)
    return BAD_LENGTH;
  fill_payload(f, *seq, scratch);
  if (memcmp(icmp + ICMP_HDR, scratch, f->size) != 0)
    return BAD_PAYLOAD;
  return INTACT;
}

/* ---------------------------------------------------------------- self-check */

/* The reply a faithful DEST sends to request seq, with an IP header, in out. */
static size_t make_reply(const struct flood *f, unsigned seq, uint32_t to, uint8_t *out)
{
  size_t icmp_len = make_request(f, seq, out + IP_MIN_HDR);
  size_t len = IP_MIN_HDR + icmp_len;
  memset(out, 0, IP_MIN_HDR);
  out[0] = 0x45;
  put16(out + 2, (uint16_t)len);
  out[8] = 64;
  out[9] = IPPROTO_ICMP;
  memcpy(out + 12, &f->dest, 4);
  memcpy(out + 16, &to, 4);
  uint8_t *icmp = out + IP_MIN_HDR;
  icmp[0] = 0;
  put16(icmp + 2, 0);
  put16(icmp + 2, inet_checksum(icmp, icmp_len));
  put16(out + 10, inet_checksum(out, IP_MIN_HDR));
  return len;
}

/* Recomputes the ICMP checksum after a deliberate change, so that only the change is judged. */
static void fix_checksum(uint8_t *pkt, size_t len)
{
  uint8_t *icmp = pkt + IP_MIN_HDR;
  put16(icmp + 2, 0);
  put16(icmp + 2, inet_checksum(icmp, len - IP_MIN_HDR));
}

static int self_check(void)
{
  static uint8_t pkt[IP_MIN_HDR + ICMP_HDR + MAX_SIZE], scratch[MAX_SIZE];
  struct flood f = {.id = 0x4a17, .seed = 12345, .size = 1000};
  uint32_t me = htonl(0x0a000001), other = htonl(0x0a000003);
  f.dest = htonl(0x0a000002);
  const unsigned sent = 10, seq = 7;
  int failures = 0, cases = 0;
  unsigned got_seq;
  size_t len;

#define EXPECT(what, want)                                                                      \
  do {                                                                                          \
    enum verdict v = verify(&f, sent, pkt, len, &got_seq, scratch);                             \
    cases++;                                                                                    \
    if (v != (want)) {                                                                          \
      failures++;                                                                               \
      fprintf(stderr, "self-check: %s: got \"%s\", wanted \"%s\"\n", what, verdict_names[v],   \
              verdict_names[want]);                                                             \
    }                                                                                           \
  } while (0)

  len = make_reply(&f, seq, me, pkt);
  EXPECT("faithful reply", INTACT);
  if (got_seq != seq) {
    failures++;
    fprintf(stderr, "self-check: faithful reply: seq %u, wanted %u\n", got_seq, seq);
  }

  len = make_reply(&f, seq, me, pkt);
  pkt[IP_MIN_HDR + ICMP_HDR + 500] ^= 0x01;
  EXPECT("one payload bit flipped", BAD_CHECKSUM);
  fix_checksum(pkt, len);
  EXPECT("one payload bit flipped, checksum recomputed", BAD_PAYLOAD);

  /* Swapping two 16-bit words leaves the sum alone: only the comparison sees it. */
  len = make_reply(&f, seq, me, pkt);
  uint8_t *a = pkt + IP_MIN_HDR + ICMP_HDR + 100, *b = a + 2, t[2];
  memcpy(t, a, 2);
  memcpy(a, b, 2);
  memcpy(b, t, 2);
  if (memcmp(a, b, 2) != 0)
    EXPECT("two payload words swapped", BAD_PAYLOAD);

  len = make_reply(&f, seq, me, pkt);
  fill_payload(&f, seq - 1, pkt + IP_MIN_HDR + ICMP_HDR);
  fix_checksum(pkt, len);
  EXPECT("another request's payload", BAD_PAYLOAD);

  len = make_reply(&f, seq, me, pkt) - 1;
  put16(pkt + 2, (uint16_t)len);
  fix_checksum(pkt, len);
  EXPECT("payload one byte short", BAD_LENGTH);

  len = make_reply(&f, seq, me, pkt);
  memcpy(pkt + 12, &other, 4);
  EXPECT("from another address", BAD_SOURCE);

  len = make_reply(&f, seq, me, pkt);
  pkt[IP_MIN_HDR] = 8;
  fix_checksum(pkt, len);
  EXPECT("echo request instead of reply", BAD_TYPE);

  len = make_reply(&f, sent, me, pkt);
  EXPECT("sequence number never sent", BAD_SEQ);

  len = make_reply(&f, seq, me, pkt);
  put16(pkt + IP_MIN_HDR + 4, f.id ^ 1);
  fix_checksum(pkt, len);
  EXPECT("another identifier", NOT_OURS);

  len = make_reply(&f, seq, me, pkt);
  pkt[9] = 17;
  EXPECT("not ICMP", NOT_OURS);

#undef EXPECT
  printf("self-check: %d cases, %d failed\n", cases, failures);
  return failures == 0 ? 0 : 1;
}

/* -------------------------------------------------------------------- flood */

struct counts {
  unsigned issued; /* sequence numbers used so far, sent or not */
  unsigned sent, replies, intact, corrupt, lost, duplicate;
};

enum state { UNSENT, PENDING, ANSWERED, LOST };

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Describes a bad reply on stderr, the first SHOW_BAD of them. */
static void report_bad(const struct counts *c, const char *what, unsigned seq, const uint8_t *pkt)
{
  if (c->corrupt + c->duplicate > SHOW_BAD)
    return;
  char from[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, pkt + 12, from, sizeof(from));
  fprintf(stderr, "flood: seq %u from %s: %s\n", seq, from, what);
}

/* Judges every packet waiting on the socket; returns -1 on a receive error. */
static int drain(int fd, const struct flood *f, unsigned char *states, struct counts *c,
                 uint8_t *buf, size_t buf_size, uint8_t *scratch)
{
  for (;;) {
    ssize_t n = recv(fd, buf, buf_size, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
      perror("flood: recv");
      return -1;
    }
    /* A packet larger than the buffer is judged on what fits: its length is wrong anyway. */
    size_t len = (size_t)n < buf_size ? (size_t)n : buf_size;
    unsigned seq = 0;
    enum verdict v = verify(f, c->issued, buf, len, &seq, scratch);
    if (v == NOT_OURS)
      continue;
    c->replies++;
    if (v == INTACT && states[seq] == PENDING) {
      c->intact++;
      states[seq] = ANSWERED;
    } else if (v == INTACT && states[seq] == ANSWERED) {
      c->duplicate++;
      report_bad(c, "duplicate reply", seq, buf);
    } else if (v == INTACT) {
      /* Intact but after its timeout: it stays lost. */
      fprintf(stderr, "flood: seq %u: reply after the timeout\n", seq);
    } else {
      c->corrupt++;
      report_bad(c, verdict_names[v], seq, buf);
      /* A damaged reply from DEST still answers its request (if it names a real one). */
      if (v != BAD_SOURCE && v != BAD_SEQ && states[seq] == PENDING)
        states[seq] = ANSWERED;
    }
  }
}

static void usage(void)
{
  fprintf(stderr,
          "usage: echo-flood [-c COUNT] [-s SIZE] [-W TIMEOUT_MS] [-w DEADLINE_S] [-S SEED] "
          "DEST_IPV4\n"
          "       echo-flood -T\n");
  exit(2);
}

static unsigned long number(const char *s, unsigned long max)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 0);
  if (errno || *s == '\0' || *end != '\0' || v > max)
    usage();
  return v;
}

int main(int argc, char **argv)
{
  unsigned long count = 500, timeout_ms = 5000, deadline_s = 0;
  struct flood f = {.size = 56};
  int seed_given = 0, opt;
  while ((opt = getopt(argc, argv, "c:s:W:w:S:T")) != -1) {
    switch (opt) {
    case 'c': count = number(optarg, MAX_COUNT); break;
    case 's': f.size = number(optarg, MAX_SIZE); break;
    case 'W': timeout_ms = number(optarg, 3600000); break;
    case 'w': deadline_s = number(optarg, 86400); break;
    case 'S': f.seed = (uint32_t)number(optarg, UINT32_MAX); seed_given = 1; break;
    case 'T': return self_check();
    default: usage();
    }
  }
  if (optind != argc - 1 || inet_pton(AF_INET, argv[optind], &f.dest) != 1 || timeout_ms == 0)
    usage();
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (!seed_given)
    f.seed = (uint32_t)ts.tv_nsec ^ ((uint32_t)ts.tv_sec << 7) ^ (uint32_t)getpid();
  f.id = (uint16_t)((f.seed >> 16) ^ (uint16_t)getpid());
  if (f.id == 0) /* the field ICMP error messages leave zero */
    f.id = 1;

  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  if (fd < 0) {
    perror("flood: socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)");
    return 2;
  }
  size_t buf_size = IP_MIN_HDR + 40 + ICMP_HDR + MAX_SIZE + 1;
  uint8_t *request = malloc(ICMP_HDR + f.size), *buf = malloc(buf_size),
          *scratch = malloc(f.size + 1);
  unsigned char *states = calloc(MAX_COUNT, 1);
  if (!request || !buf || !scratch || !states) {
    perror("flood: malloc");
    return 2;
  }
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = f.dest};
  struct counts c = {0};
  double end = deadline_s ? now_ms() + (double)deadline_s * 1e3 : 0;
  int failed = 0;

  for (unsigned seq = 0; seq < count && !failed && (!end || now_ms() < end); seq++) {
    size_t len = make_request(&f, seq, request);
    c.issued = seq + 1;
    states[seq] = PENDING;
    if (sendto(fd, request, len, 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)len) {
      fprintf(stderr, "flood: seq %u: sendto: %s\n", seq, strerror(errno));
      states[seq] = LOST;
      c.lost++;
      continue;
    }
    c.sent++;
    double give_up = now_ms() + (double)timeout_ms;
    if (end && give_up > end)
      give_up = end;
    while (states[seq] == PENDING) {
      double left = give_up - now_ms();
      if (left <= 0) {
        states[seq] = LOST;
        c.lost++;
        fprintf(stderr, "flood: seq %u: no reply within %lu ms\n", seq, timeout_ms);
        break;
      }
      struct pollfd p = {.fd = fd, .events = POLLIN};
      if (poll(&p, 1, (int)left + 1) < 0 && errno != EINTR) {
        perror("flood: poll");
        failed = 1;
        break;
      }
      if (drain(fd, &f, states, &c, buf, buf_size, scratch) < 0) {
        failed = 1;
        break;
      }
    }
  }
  /* A short wait for stragglers: duplicates of the last replies would show here. */
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (!failed && poll(&p, 1, 200) > 0) {
    if (drain(fd, &f, states, &c, buf, buf_size, scratch) < 0)
      failed = 1;
  }

  printf("flood: sent %u, replies %u, intact %u, corrupt %u, lost %u, duplicate %u\n", c.sent,
         c.replies, c.intact, c.corrupt, c.lost, c.duplicate);
  if (c.corrupt || c.duplicate || c.lost)
    fprintf(stderr, "flood: seed %u, identifier %u, size %zu\n", f.seed, f.id, f.size);
  int ok = !failed && c.sent == count && c.intact == count && c.replies == count &&
           c.corrupt == 0 && c.lost == 0 && c.duplicate == 0;
  return ok ? 0 : 1;
}
