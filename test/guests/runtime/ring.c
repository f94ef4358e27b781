/*
 * The guest side of ring I/O, as docs/guest-abi.md 10.4 describes the Solo5
 * bindings: writes are fire-and-forget through per-slot buffers, reads wait
 * for their completion, and the guest kicks the host only when the host said
 * it is about to sleep.
 */
#include "rt.h"

/* Slot i's write buffer: the host reads the frame from here, after we return. */
static uint8_t ring_buffers[HVT_RING_ENTRIES][HVT_RING_BUF_SIZE] __attribute__((aligned(64)));
static uint32_t next_id;

#define compiler_barrier() __asm__ __volatile__("" : : : "memory")

struct hvt_ring *rt_ring(void)
{
  const struct hvt_boot_info *bi = rt_boot_info();
  /* Both: an older tender leaves something at offset 40, but 0 at 48 (section 9). */
  if ((bi->host_features & HVT_FEATURE_RING_IO) == 0 || bi->net_ring == 0)
    return NULL;
  return (struct hvt_ring *)(uintptr_t)bi->net_ring;
}

/* Fills the next entry and publishes it; returns its slot. */
static uint32_t submit(struct hvt_ring *r, uint32_t op, uint64_t handle, uint64_t data,
                       uint32_t len)
{
  uint32_t tail = r->ent_tail;
  /* One slot stays free, as the bindings keep it. */
  while (tail - r->ent_head >= HVT_RING_ENTRIES - 1)
    compiler_barrier();
  uint32_t slot = tail & HVT_RING_MASK;
  volatile struct hvt_ring_entry *e = &r->entries[slot];
  e->operation = op;
  e->handle = (uint32_t)handle;
  e->data = data;
  e->len = len;
  e->id = next_id++;
  e->reserved = 0;
  compiler_barrier();
  r->ent_tail = tail + 1;
  rt_full_barrier();
  if (r->needs_kick)
    rt_ring_kick();
  return slot;
}

int rt_ring_net_write(uint64_t handle, const void *buf, uint64_t len)
{
  struct hvt_ring *r = rt_ring();
  if (r == NULL || len > HVT_RING_BUF_SIZE)
    return rt_net_write(handle, buf, len);
  uint32_t tail = r->ent_tail;
  while (tail - r->ent_head >= HVT_RING_ENTRIES - 1)
    compiler_barrier();
  uint8_t *slot_buf = ring_buffers[tail & HVT_RING_MASK];
  memcpy(slot_buf, buf, len);
  submit(r, HVT_RING_OP_NET_WRITE, handle, (uint64_t)(uintptr_t)slot_buf, (uint32_t)len);
  return HVT_R_OK;
}

int rt_ring_net_read(uint64_t handle, void *buf, uint64_t size, uint64_t *len)
{
  struct hvt_ring *r = rt_ring();
  if (r == NULL || size > UINT32_MAX)
    return rt_net_read(handle, buf, size, len);
  uint32_t id = next_id;
  submit(r, HVT_RING_OP_NET_READ, handle, (uint64_t)(uintptr_t)buf, (uint32_t)size);
  uint32_t head = r->com_head;
  while (r->com_tail == head)
    compiler_barrier();
  volatile struct hvt_ring_commit *c = &r->commits[head & HVT_RING_MASK];
  uint32_t got_id = c->id;
  int ret = c->ret;
  uint32_t got = c->len;
  r->com_head = head + 1;
  if (got_id != id) {
    rt_printf("ring: completion id %u, expected %u\n", got_id, id);
    rt_abort("ring completion out of order");
  }
  if (len != NULL)
    *len = got;
  return ret;
}

void rt_ring_drain(void)
{
  struct hvt_ring *r = rt_ring();
  if (r == NULL)
    return;
  uint32_t tail = r->ent_tail;
  while (r->ent_head != tail)
    compiler_barrier();
}
