/*
 * The benchmark guest: makes hypercalls of one kind in a loop, times the loop
 * with the TSC and prints a result line for the runner; a command line may
 * list several such workloads, run one after the other in one boot, so that
 * a tender's start-up and warm-up are paid once per guest rather than once
 * per workload. Built once and linked three times with different manifests
 * (core: no devices; block: `storage`; net: `service0`), because every
 * declared device must be attached.
 *
 * Arguments (key=value, after the runtime's --solo5: words):
 *   run=OP:SIZE:N[:WMAX][,...]   the workloads, in order: OP is walltime,
 *                puts, blkread, blkwrite, netwrite or ringwrite (NET_WRITE
 *                through the network ring, docs/guest-abi.md 10, where the tender
 *                offers one, else by hypercall); SIZE the PUTS / block /
 *                frame length (frames at least 60); N the timed iterations;
 *                WMAX, if given and not 0, caps the warm-up iterations
 *   warmup_ms=MS untimed iterations first, for at least this long (default 0):
 *                the page cache, the tender's JIT and the guest's own
 *                first-touch faults settle
 *   warmup_min=K and at least K of them (default 10)
 *   segments=S   also time S equal parts of each loop (default 1), to show
 *                whether the tender had reached its steady state
 *   op=hello     print "Hello, World" and exit
 *   op=idle sleep_ms=MS   say "ready", wait in POLL, exit: lets the runner
 *                read the tender's memory while the guest sits still
 *
 * Result lines (the runner parses them; every number is measured in this run):
 *   bench: segment op=<op> size=<size> i=<i> n=<k> ns=<ns>    (segments > 1)
 *   bench: op=<op> size=<size> n=<n> warmup=<k> cycles=<tsc cycles> tsc_hz=<hz> ns=<ns>
 */
#include "rt.h"

#define MAX_IO (64 * 1024)

/* Page-aligned so that a 64 KiB request covers exactly 16 guest pages. */
static uint8_t io_buf[MAX_IO] __attribute__((aligned(4096)));

/* Cycles to nanoseconds without 128-bit arithmetic, exact below 18 GHz. */
static uint64_t cycles_to_ns(uint64_t cycles, uint64_t hz)
{
  return (cycles / hz) * 1000000000ULL + ((cycles % hz) * 1000000000ULL) / hz;
}

struct workload {
  const char *op;
  uint64_t size;
  uint64_t warmup_max;
  int handle;
  uint64_t capacity;
  uint64_t offset;
};

/* One hypercall of the workload's kind; aborts on any result but OK. */
static void step(struct workload *w)
{
  int ret = 0;
  switch (w->op[0]) {
  case 'w': /* walltime */
    (void)rt_walltime();
    return;
  case 'p': /* puts */
    rt_write((const char *)io_buf, w->size);
    return;
  case 'b': /* blkread, blkwrite: sequential, wrapping at the end of the device */
    if (w->op[3] == 'r')
      ret = rt_block_read((uint64_t)w->handle, w->offset, io_buf, w->size);
    else
      ret = rt_block_write((uint64_t)w->handle, w->offset, io_buf, w->size);
    w->offset += w->size;
    if (w->offset + w->size > w->capacity)
      w->offset = 0;
    break;
  case 'n': /* netwrite */
    ret = rt_net_write((uint64_t)w->handle, io_buf, w->size);
    break;
  case 'r': /* ringwrite: returns once the frame is queued */
    ret = rt_ring_net_write((uint64_t)w->handle, io_buf, w->size);
    break;
  }
  if (ret != 0) {
    rt_printf("bench: op=%s failed: ret=%d at offset %llu\n", w->op, ret,
              (unsigned long long)w->offset);
    rt_abort("hypercall failed");
  }
}

/* An Ethernet frame no host stack will answer: unicast to a MAC nobody owns,
 * with an experimental EtherType, so the tap's kernel side just drops it. */
static void make_frame(const uint8_t src_mac[6], uint64_t len)
{
  static const uint8_t dst[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  memset(io_buf, 0, len);
  memcpy(io_buf, dst, 6);
  memcpy(io_buf + 6, src_mac, 6);
  io_buf[12] = 0x88;
  io_buf[13] = 0xb5;
}

static bool op_is(const char *op, const char *name)
{
  return strcmp(op, name) == 0;
}

/* Device lookup and buffer set-up for one workload; false (with a message) if it cannot run. */
static bool prepare(struct workload *w)
{
  struct rt_device dev;
  if (w->size > MAX_IO) {
    rt_printf("bench: size=%llu exceeds %u\n", (unsigned long long)w->size, MAX_IO);
    return false;
  }
  /* Faulting the buffer in now keeps first-touch costs out of the loop. */
  memset(io_buf, 'x', sizeof io_buf);
  if (op_is(w->op, "blkread") || op_is(w->op, "blkwrite")) {
    w->handle = rt_device_require("storage", MFT_DEV_BLOCK_BASIC, &dev);
    w->capacity = dev.capacity;
    w->offset = 0;
    if (w->size == 0 || w->size > w->capacity) {
      rt_printf("bench: size=%llu does not fit a device of %llu bytes\n",
                (unsigned long long)w->size, (unsigned long long)w->capacity);
      return false;
    }
  } else if (op_is(w->op, "netwrite") || op_is(w->op, "ringwrite")) {
    w->handle = rt_device_require("service0", MFT_DEV_NET_BASIC, &dev);
    if (w->size < 60)
      w->size = 60;
    make_frame(dev.mac, w->size);
    if (op_is(w->op, "ringwrite"))
      rt_printf("bench: ringwrite goes %s\n",
                rt_ring() != NULL ? "through the ring" : "by hypercall");
  } else if (!op_is(w->op, "walltime") && !op_is(w->op, "puts")) {
    rt_printf("bench: unknown op=%s\n", w->op);
    return false;
  }
  return true;
}

struct timing {
  uint64_t hz;
  uint64_t warmup_cycles;
  uint64_t warmup_min;
  uint64_t segments;
};

/*
 * Ring writes return before the host has sent the frame: a loop's time counts
 * only once the host has taken all of them.
 */
static void settle(const struct workload *w)
{
  if (op_is(w->op, "ringwrite"))
    rt_ring_drain();
}

/* Warms up, then times n iterations, then prints the result lines. */
static void measure(struct workload *w, uint64_t n, const struct timing *t)
{
  uint64_t warmed = 0;
  uint64_t w0 = rt_cycles();
  while ((warmed < t->warmup_min || rt_cycles() - w0 < t->warmup_cycles) &&
         (w->warmup_max == 0 || warmed < w->warmup_max)) {
    step(w);
    warmed++;
  }
  settle(w);

  uint64_t segments = t->segments > n ? n : t->segments;
  uint64_t marks[65];
  marks[0] = rt_cycles();
  for (uint64_t s = 0; s < segments; s++) {
    uint64_t end = (s + 1) * n / segments;
    for (uint64_t i = s * n / segments; i < end; i++)
      step(w);
    settle(w);
    marks[s + 1] = rt_cycles();
  }
  uint64_t cycles = marks[segments] - marks[0];

  /* Printed after the loop: a PUTS inside it would be timed too. */
  if (segments > 1) {
    for (uint64_t s = 0; s < segments; s++)
      rt_printf("\nbench: segment op=%s size=%llu i=%llu n=%llu ns=%llu", w->op,
                (unsigned long long)w->size, (unsigned long long)s,
                (unsigned long long)((s + 1) * n / segments - s * n / segments),
                (unsigned long long)cycles_to_ns(marks[s + 1] - marks[s], t->hz));
  }
  rt_printf("\nbench: op=%s size=%llu n=%llu warmup=%llu cycles=%llu tsc_hz=%llu ns=%llu\n",
            w->op, (unsigned long long)w->size, (unsigned long long)n,
            (unsigned long long)warmed, (unsigned long long)cycles, (unsigned long long)t->hz,
            (unsigned long long)cycles_to_ns(cycles, t->hz));
}

/* Parses a decimal field of `run=` ending at `stop`; false if malformed. */
static bool field_u64(const char **p, char stop, uint64_t *out)
{
  const char *start = *p;
  while (**p != '\0' && **p != stop && **p != ',' && **p != ' ')
    (*p)++;
  return rt_parse_u64(start, (size_t)(*p - start), out);
}

int guest_main(const char *cmdline)
{
  char op[16];
  if (rt_arg_str(cmdline, "op", op, sizeof op)) {
    if (op_is(op, "hello")) {
      rt_puts("Hello, World\n");
      return RT_EXIT_SUCCESS;
    }
    if (op_is(op, "idle")) {
      uint64_t sleep_ms = rt_arg_u64(cmdline, "sleep_ms", 200);
      rt_puts("bench: op=idle ready\n");
      (void)rt_poll(sleep_ms * 1000000ULL, NULL);
      rt_puts("bench: op=idle done\n");
      return RT_EXIT_SUCCESS;
    }
    rt_printf("bench: unknown op=%s\n", op);
    return RT_EXIT_FAILURE;
  }

  const char *p = rt_arg(cmdline, "run", NULL);
  if (p == NULL) {
    rt_puts("bench: nothing to do: give run=OP:SIZE:N[,...], op=hello or op=idle\n");
    return RT_EXIT_FAILURE;
  }
  struct timing t = {
      .hz = rt_cpu_cycle_freq(),
      .warmup_min = rt_arg_u64(cmdline, "warmup_min", 10),
      .segments = rt_arg_u64(cmdline, "segments", 1),
  };
  t.warmup_cycles = rt_arg_u64(cmdline, "warmup_ms", 0) * (t.hz / 1000);
  if (t.segments == 0 || t.segments > 64) {
    rt_puts("bench: segments must be 1..64\n");
    return RT_EXIT_FAILURE;
  }
  for (;;) {
    const char *name = p;
    while (*p != '\0' && *p != ':' && *p != ' ' && *p != ',')
      p++;
    size_t len = (size_t)(p - name);
    uint64_t size, n;
    if (len == 0 || len >= sizeof op || *p != ':') {
      rt_puts("bench: malformed run= (want OP:SIZE:N[:WMAX][,...])\n");
      return RT_EXIT_FAILURE;
    }
    memcpy(op, name, len);
    op[len] = '\0';
    p++;
    if (!field_u64(&p, ':', &size) || *p != ':') {
      rt_puts("bench: malformed size in run=\n");
      return RT_EXIT_FAILURE;
    }
    p++;
    if (!field_u64(&p, ':', &n) || n == 0) {
      rt_puts("bench: malformed count in run=\n");
      return RT_EXIT_FAILURE;
    }
    uint64_t warmup_max = 0;
    if (*p == ':') {
      p++;
      if (!field_u64(&p, ',', &warmup_max)) {
        rt_puts("bench: malformed warm-up cap in run=\n");
        return RT_EXIT_FAILURE;
      }
    }
    struct workload w = {.op = op, .size = size, .warmup_max = warmup_max};
    if (!prepare(&w))
      return RT_EXIT_FAILURE;
    measure(&w, n, &t);
    if (*p != ',')
      break;
    p++;
  }
  return RT_EXIT_SUCCESS;
}
