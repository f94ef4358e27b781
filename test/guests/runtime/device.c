/* Device lookup in the manifest copy the tender placed in low memory. */
#include "rt.h"

int rt_device_lookup(const char *name, uint32_t type, struct rt_device *out)
{
  const struct mft *m = rt_manifest();
  for (uint32_t i = 1; i < m->entries && i < MFT_MAX_ENTRIES; i++) {
    const struct mft_entry *e = &m->e[i];
    if (e->type != type || strncmp(e->name, name, MFT_NAME_SIZE) != 0)
      continue;
    if (!e->attached)
      return RT_DEV_NOT_ATTACHED;
    if (out != NULL) {
      memset(out, 0, sizeof(*out));
      out->handle = (int)i;
      out->type = e->type;
      if (type == MFT_DEV_BLOCK_BASIC) {
        out->capacity = e->u.block_basic.capacity;
        out->block_size = e->u.block_basic.block_size;
      } else if (type == MFT_DEV_NET_BASIC) {
        memcpy(out->mac, e->u.net_basic.mac, sizeof(out->mac));
        out->mtu = e->u.net_basic.mtu;
      }
    }
    return (int)i;
  }
  return RT_DEV_NOT_FOUND;
}

int rt_device_require(const char *name, uint32_t type, struct rt_device *out)
{
  int h = rt_device_lookup(name, type, out);
  if (h == RT_DEV_NOT_FOUND) {
    rt_printf("device %s: not found in manifest\n", name);
    rt_abort("device lookup failed");
  }
  if (h == RT_DEV_NOT_ATTACHED) {
    rt_printf("device %s: not attached\n", name);
    rt_abort("device lookup failed");
  }
  return h;
}
