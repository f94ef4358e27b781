/*
 * ringhostile: one hostile use of the network ring (docs/guest-abi.md 10) per run,
 * chosen by `mode=`. It writes the ring by hand, not through the runtime's
 * client, so that it can put any index, handle, pointer and length there.
 * The manifest declares `storage` (block) and `service0` (net): a run must
 * attach both, and the block handle is a valid handle of the wrong type.
 *
 * Fatal modes: the tender must end the guest (its ring thread finds the bad
 * entry); if it has not within 10 s, the guest prints UNEXPECTED and halts
 * with 99. Other modes print what the host did (`<what>: ...` lines) and end
 * with SUCCESS (0), or FAILURE (1) when the host did something else. Without
 * a ring the guest says so and halts with 3; an unknown mode lists the modes
 * and halts with 64.
 */
#include "rt.h"

#define EXIT_NO_RING 3
#define EXIT_USAGE 64
#define EXIT_SURVIVED 99
#define WAIT_NS 10000000000ULL
#define FRAME_LEN 60

static struct hvt_ring *ring;
static int net_handle, block_handle;
static uint64_t mem;
/* Our ent_tail: the ring's copy is only ever written. */
static uint32_t tail;
static uint32_t next_id = 100;
static uint8_t frame[FRAME_LEN] __attribute__((aligned(16)));

#define compiler_barrier() __asm__ __volatile__("" : : : "memory")

static void fill(uint32_t index, uint32_t op, uint32_t handle, uint64_t data, uint32_t len)
{
  volatile struct hvt_ring_entry *e = &ring->entries[index & HVT_RING_MASK];
  e->operation = op;
  e->handle = handle;
  e->data = data;
  e->len = len;
  e->id = next_id++;
  e->reserved = 0;
}

/* Sets ent_tail (whatever it is) and always kicks: extra kicks are harmless. */
static void publish(uint32_t new_tail)
{
  compiler_barrier();
  ring->ent_tail = new_tail;
  rt_full_barrier();
  rt_ring_kick();
}

static void submit(uint32_t op, uint32_t handle, uint64_t data, uint32_t len)
{
  rt_printf("submit op=%u handle=0x%x data=0x%lx len=0x%x\n", op, handle, (unsigned long)data,
            len);
  fill(tail, op, handle, data, len);
  publish(++tail);
}

/* Waits until *field == want; false after WAIT_NS. */
static bool wait_for(volatile uint32_t *field, uint32_t want)
{
  uint64_t deadline = rt_clock_ns() + WAIT_NS;
  while (*field != want) {
    if (rt_clock_ns() > deadline)
      return false;
  }
  return true;
}

static bool consumed(const char *what)
{
  if (wait_for(&ring->ent_head, tail))
    return true;
  rt_printf("FAILURE: %s: the host did not consume up to %u (ent_head=%u)\n", what, tail,
            ring->ent_head);
  return false;
}

static uint64_t frame_gpa(void)
{
  return (uint64_t)(uintptr_t)frame;
}

/* --- fatal modes: the tender must end the guest --- */

static void wait_fatal(void)
{
  wait_for(&ring->ent_head, tail);
}

static void tail_at(uint32_t t)
{
  rt_printf("ent_tail=%u\n", t);
  publish(t);
  wait_for(&ring->ent_head, t);
}

static void tail_far(void)
{
  tail_at(5000);
}

static void tail_behind(void)
{
  tail_at(0xffffffffU);
}

static void tail_1025(void)
{
  tail_at(1025);
}

static void bad_range(uint32_t op, uint64_t data, uint32_t len)
{
  submit(op, (uint32_t)net_handle, data, len);
  wait_fatal();
}

static void write_outside(void)
{
  bad_range(HVT_RING_OP_NET_WRITE, mem + 0x1000, FRAME_LEN);
}

static void write_ring(void)
{
  bad_range(HVT_RING_OP_NET_WRITE, (uint64_t)(uintptr_t)ring, FRAME_LEN);
}

static void write_top(void)
{
  /* Ends exactly at the top of visible memory: 7.3 rejects that too. */
  bad_range(HVT_RING_OP_NET_WRITE, mem - FRAME_LEN, FRAME_LEN);
}

static void write_wrap(void)
{
  bad_range(HVT_RING_OP_NET_WRITE, 0xfffffffffffff000ULL, 0x2000);
}

static void write_len_max(void)
{
  bad_range(HVT_RING_OP_NET_WRITE, frame_gpa(), 0xffffffffU);
}

static void write_len0(void)
{
  /* A valid range, but no frame: the tap refuses it. */
  bad_range(HVT_RING_OP_NET_WRITE, frame_gpa(), 0);
}

static void read_outside(void)
{
  bad_range(HVT_RING_OP_NET_READ, mem + 0x1000, 2048);
}

static void read_ring(void)
{
  bad_range(HVT_RING_OP_NET_READ, (uint64_t)(uintptr_t)ring, 2048);
}

static void read_top(void)
{
  bad_range(HVT_RING_OP_NET_READ, mem - 2048, 2048);
}

static void read_wrap(void)
{
  bad_range(HVT_RING_OP_NET_READ, 0xfffffffffffff000ULL, 0x2000);
}

static void read_len_max(void)
{
  bad_range(HVT_RING_OP_NET_READ, frame_gpa(), 0xffffffffU);
}

/* --- modes the guest survives: it checks what the host did --- */

/* One read completion: waits for it and checks its id, ret and len. */
static bool completion(const char *what, int want_ret)
{
  uint32_t head = ring->com_head;
  if (!wait_for(&ring->com_tail, head + 1)) {
    rt_printf("FAILURE: %s: no completion (com_tail=%u)\n", what, ring->com_tail);
    return false;
  }
  volatile struct hvt_ring_commit *c = &ring->commits[head & HVT_RING_MASK];
  rt_printf("%s: ret=%d len=%u\n", what, c->ret, c->len);
  bool ok = c->id == next_id - 1 && c->ret == want_ret && c->len == 0;
  ring->com_head = head + 1;
  if (!ok)
    rt_printf("FAILURE: %s: expected id=%u ret=%d len=0, got id=%u\n", what, next_id - 1,
              want_ret, c->id);
  return ok;
}

static bool bad_handles(void)
{
  const uint32_t handles[] = {0, (uint32_t)block_handle, 63, 64, 0xffffffffU};
  uint32_t com = ring->com_tail;
  for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
    submit(HVT_RING_OP_NET_WRITE, handles[i], frame_gpa(), FRAME_LEN);
  if (!consumed("writes with bad handles"))
    return false;
  rt_printf("writes with bad handles: skipped, com_tail=%u\n", ring->com_tail);
  if (ring->com_tail != com) {
    rt_puts("FAILURE: a skipped write got a completion\n");
    return false;
  }
  for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++) {
    char what[40];
    rt_snprintf(what, sizeof(what), "read handle=0x%x", handles[i]);
    submit(HVT_RING_OP_NET_READ, handles[i], frame_gpa(), FRAME_LEN);
    if (!completion(what, HVT_R_EINVAL))
      return false;
  }
  return consumed("reads with bad handles");
}

static bool unknown_op(void)
{
  const uint32_t ops[] = {0, 3, 0x80000000U, 0xffffffffU};
  uint32_t com = ring->com_tail;
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
    submit(ops[i], (uint32_t)net_handle, frame_gpa(), FRAME_LEN);
  if (!consumed("unknown operations"))
    return false;
  rt_printf("unknown operations: consumed, com_tail=%u\n", ring->com_tail);
  if (ring->com_tail != com) {
    rt_puts("FAILURE: an unknown operation got a completion\n");
    return false;
  }
  return true;
}

static bool read_len0(void)
{
  submit(HVT_RING_OP_NET_READ, (uint32_t)net_handle, frame_gpa(), 0);
  return completion("read len=0", HVT_R_AGAIN) && consumed("read len=0");
}

static bool write_64k(void)
{
  /* A valid range longer than any Ethernet frame: the kernel image as data. */
  submit(HVT_RING_OP_NET_WRITE, (uint32_t)net_handle, HVT_GUEST_MIN_BASE, 70000);
  if (!consumed("write len=70000"))
    return false;
  rt_puts("write len=70000: consumed\n");
  return true;
}

static bool com_head_games(void)
{
  /* The host never reads com_head: completions land at its own com_tail. */
  ring->com_head = 0xdeadbeefU;
  submit(HVT_RING_OP_NET_READ, 0, frame_gpa(), FRAME_LEN);
  if (!wait_for(&ring->com_tail, 1)) {
    rt_puts("FAILURE: no completion after com_head=0xdeadbeef\n");
    return false;
  }
  rt_printf("com_head=0xdeadbeef: completion in slot 0 ret=%d\n", ring->commits[0].ret);
  ring->com_head = 7;
  submit(HVT_RING_OP_NET_READ, 0, frame_gpa(), FRAME_LEN);
  if (!wait_for(&ring->com_tail, 2)) {
    rt_puts("FAILURE: no completion after com_head=7\n");
    return false;
  }
  rt_printf("com_head=7: completion in slot 1 ret=%d\n", ring->commits[1].ret);
  return ring->commits[0].ret == HVT_R_EINVAL && ring->commits[1].ret == HVT_R_EINVAL &&
         consumed("com_head games");
}

static bool host_fields(void)
{
  /* The host keeps its indices to itself and only ever stores them. */
  ring->ent_head = 12345;
  ring->com_tail = 777;
  ring->needs_kick = 0xffffffffU;
  submit(HVT_RING_OP_NET_READ, 0, frame_gpa(), FRAME_LEN);
  if (!wait_for(&ring->com_tail, 1) || !wait_for(&ring->ent_head, 1)) {
    rt_printf("FAILURE: host indices ent_head=%u com_tail=%u\n", ring->ent_head,
              ring->com_tail);
    return false;
  }
  rt_printf("after tampering: ent_head=%u com_tail=%u\n", ring->ent_head, ring->com_tail);
  return true;
}

static bool tail_1024(void)
{
  /* A whole ring of the zeroed entries the tender left: operation 0, consumed. */
  tail = 1024;
  publish(tail);
  if (!consumed("1024 zeroed entries"))
    return false;
  rt_printf("1024 zeroed entries: consumed, com_tail=%u\n", ring->com_tail);
  return ring->com_tail == 0;
}

static bool kick_storm(void)
{
  for (int i = 0; i < 10000; i++)
    rt_ring_kick();
  rt_puts("10000 kicks with nothing to do\n");
  submit(HVT_RING_OP_NET_READ, 0, frame_gpa(), FRAME_LEN);
  return completion("read after the kicks", HVT_R_EINVAL) && consumed("kick storm");
}

static bool flip(void)
{
  /*
   * Each entry is valid when published, then its length flips between valid
   * and 4 GiB - 1 while the host may be reading it. The host must act on one
   * reading of it: send 60 bytes, or stop on 0xffffffff (never read past
   * guest RAM because it checked one value and used another).
   */
  for (int i = 0; i < 1000; i++) {
    volatile struct hvt_ring_entry *e = &ring->entries[tail & HVT_RING_MASK];
    fill(tail, HVT_RING_OP_NET_WRITE, (uint32_t)net_handle, frame_gpa(), FRAME_LEN);
    publish(++tail);
    for (int k = 0; k < 16; k++)
      e->len = (k & 1) == 0 ? 0xffffffffU : FRAME_LEN;
    while (tail - ring->ent_head >= HVT_RING_ENTRIES - 1)
      compiler_barrier();
  }
  if (!consumed("flipped entries"))
    return false;
  rt_puts("flipped entries: all sent\n");
  return true;
}

static const struct mode {
  const char *name;
  void (*fatal)(void);
  bool (*survive)(void);
} modes[] = {
    {"tail-far", tail_far, NULL},
    {"tail-behind", tail_behind, NULL},
    {"tail-1025", tail_1025, NULL},
    {"write-outside", write_outside, NULL},
    {"write-ring", write_ring, NULL},
    {"write-top", write_top, NULL},
    {"write-wrap", write_wrap, NULL},
    {"write-len-max", write_len_max, NULL},
    {"write-len0", write_len0, NULL},
    {"read-outside", read_outside, NULL},
    {"read-ring", read_ring, NULL},
    {"read-top", read_top, NULL},
    {"read-wrap", read_wrap, NULL},
    {"read-len-max", read_len_max, NULL},
    {"bad-handles", NULL, bad_handles},
    {"unknown-op", NULL, unknown_op},
    {"read-len0", NULL, read_len0},
    {"write-64k", NULL, write_64k},
    {"com-head", NULL, com_head_games},
    {"host-fields", NULL, host_fields},
    {"tail-1024", NULL, tail_1024},
    {"kick-storm", NULL, kick_storm},
    {"flip", NULL, flip},
};

int guest_main(const char *cmdline)
{
  char name[32] = "";
  rt_arg_str(cmdline, "mode", name, sizeof(name));

  struct rt_device dev;
  block_handle = rt_device_require("storage", MFT_DEV_BLOCK_BASIC, NULL);
  net_handle = rt_device_require("service0", MFT_DEV_NET_BASIC, &dev);
  mem = rt_mem_size();
  /* A broadcast frame of a local experimental EtherType. */
  memset(frame, 0xff, 6);
  memcpy(frame + 6, dev.mac, 6);
  frame[12] = 0x88;
  frame[13] = 0xb5;
  memcpy(frame + 14, "ringhostile", 11);

  ring = rt_ring();
  if (ring == NULL) {
    rt_puts("ringhostile: the tender offers no ring\n");
    return EXIT_NO_RING;
  }

  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
    const struct mode *m = &modes[i];
    if (strcmp(m->name, name) != 0)
      continue;
    rt_printf("ringhostile: mode=%s ring=0x%lx mem_size=0x%lx frame=0x%lx\n", name,
              (unsigned long)(uintptr_t)ring, (unsigned long)mem, (unsigned long)frame_gpa());
    if (m->fatal != NULL) {
      m->fatal();
      rt_printf("UNEXPECTED: survived %s\n", name);
      return EXIT_SURVIVED;
    }
    if (!m->survive())
      return RT_EXIT_FAILURE;
    rt_puts("SUCCESS\n");
    return RT_EXIT_SUCCESS;
  }

  rt_printf("ringhostile: unknown mode '%s'; modes:", name);
  for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
    rt_printf(" %s", modes[i].name);
  rt_puts("\n");
  return EXIT_USAGE;
}
