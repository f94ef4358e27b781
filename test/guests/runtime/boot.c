/*
 * Boot: the CPU's exception handling first (rt_cpu_init, per architecture),
 * so that every later fault is reported by rt_trap; then boot info, command
 * line, banner, application.
 */
#include "rt.h"

static const struct hvt_boot_info *boot_info;
static const char *app_cmdline;
enum rt_log_level rt_log_level = RT_LOG_INFO;

extern void rt_clock_init(void);

static const struct {
  const char *name;
  enum rt_log_level level;
} log_levels[] = {
    {"quiet", RT_LOG_QUIET}, {"error", RT_LOG_ERROR}, {"warn", RT_LOG_WARN},
    {"info", RT_LOG_INFO},   {"debug", RT_LOG_DEBUG},
};

/*
 * Consumes leading `--solo5:LEVEL` words, as the bindings do, and returns the
 * rest. An unknown level is reported once the level is known.
 */
static const char *parse_solo5_options(const char *cmdline, const char **unknown, size_t *unknown_len)
{
  static const char prefix[] = "--solo5:";
  const char *p = cmdline;
  *unknown = NULL;
  for (;;) {
    while (*p == ' ')
      p++;
    if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
      return p;
    const char *word = p + sizeof(prefix) - 1;
    size_t len = 0;
    while (word[len] != '\0' && word[len] != ' ')
      len++;
    bool known = false;
    for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++) {
      if (strlen(log_levels[i].name) == len && strncmp(word, log_levels[i].name, len) == 0) {
        rt_log_level = log_levels[i].level;
        known = true;
      }
    }
    if (!known) {
      *unknown = word;
      *unknown_len = len;
    }
    p = word + len;
  }
}

/* The stack at the top of memory needs room above the image. */
#define MIN_STACK_ROOM (64 * 1024)

void rt_boot(const struct hvt_boot_info *bi)
{
  rt_cpu_init();

  boot_info = bi;
  const char *unknown;
  size_t unknown_len = 0;
  app_cmdline = parse_solo5_options((const char *)(uintptr_t)bi->cmdline, &unknown, &unknown_len);
  rt_clock_init();

  rt_log(RT_LOG_INFO, "hvt.js test runtime, Solo5 hvt ABI 2\n");
  if (unknown != NULL)
    rt_log(RT_LOG_WARN, "unknown log level: %.*s\n", (int)unknown_len, unknown);
  rt_log(RT_LOG_INFO,
         "mem_size=0x%lx cpu_cycle_freq=%lu manifest_entries=%u host_features=0x%x "
         "net_ring=0x%lx\n",
         (unsigned long)bi->mem_size, (unsigned long)bi->cpu_cycle_freq,
         ((const struct mft *)(uintptr_t)bi->mft)->entries, bi->host_features,
         (unsigned long)bi->net_ring);
  rt_log(RT_LOG_INFO, "text 0x%lx-0x%lx rodata 0x%lx-0x%lx data 0x%lx-0x%lx bss 0x%lx-0x%lx\n",
         (unsigned long)__image_start, (unsigned long)__text_end, (unsigned long)__rodata_start,
         (unsigned long)__rodata_end, (unsigned long)__data_start, (unsigned long)__data_end,
         (unsigned long)__bss_start, (unsigned long)_end);

  if (bi->mem_size < (uint64_t)(uintptr_t)_end + MIN_STACK_ROOM)
    rt_abort("Not enough memory");

  int status = guest_main(app_cmdline);
  rt_halt(status, NULL);
}

const struct hvt_boot_info *rt_boot_info(void)
{
  return boot_info;
}

uint64_t rt_mem_size(void)
{
  return boot_info->mem_size;
}

uint64_t rt_cpu_cycle_freq(void)
{
  return boot_info->cpu_cycle_freq;
}

const char *rt_cmdline(void)
{
  return app_cmdline;
}

const struct mft *rt_manifest(void)
{
  return (const struct mft *)(uintptr_t)boot_info->mft;
}
