/* `key=value` words in the application's command line. */
#include "rt.h"

const char *rt_arg(const char *cmdline, const char *key, size_t *value_len)
{
  size_t key_len = strlen(key);
  const char *p = cmdline;
  while (*p != '\0') {
    while (*p == ' ')
      p++;
    const char *word = p;
    while (*p != '\0' && *p != ' ')
      p++;
    size_t word_len = (size_t)(p - word);
    if (word_len > key_len && strncmp(word, key, key_len) == 0 && word[key_len] == '=') {
      if (value_len != NULL)
        *value_len = word_len - key_len - 1;
      return word + key_len + 1;
    }
  }
  return NULL;
}

bool rt_arg_str(const char *cmdline, const char *key, char *out, size_t out_size)
{
  size_t len;
  const char *v = rt_arg(cmdline, key, &len);
  if (v == NULL || len + 1 > out_size)
    return false;
  memcpy(out, v, len);
  out[len] = '\0';
  return true;
}

bool rt_parse_u64(const char *s, size_t len, uint64_t *out)
{
  uint64_t v = 0;
  unsigned base = 10;
  size_t i = 0;
  if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    i = 2;
  }
  if (i == len)
    return false;
  for (; i < len; i++) {
    unsigned d;
    char c = s[i];
    if (c >= '0' && c <= '9')
      d = (unsigned)(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = (unsigned)(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = (unsigned)(c - 'A' + 10);
    else
      return false;
    if (v > (UINT64_MAX - d) / base)
      return false;
    v = v * base + d;
  }
  *out = v;
  return true;
}

uint64_t rt_arg_u64(const char *cmdline, const char *key, uint64_t dflt)
{
  size_t len;
  const char *v = rt_arg(cmdline, key, &len);
  if (v == NULL)
    return dflt;
  uint64_t out;
  if (!rt_parse_u64(v, len, &out)) {
    rt_printf("malformed argument %s=%.*s\n", key, (int)len, v);
    rt_abort("malformed argument");
  }
  return out;
}

void rt_arg_ipv4(const char *cmdline, const char *key, const uint8_t dflt[4], uint8_t out[4])
{
  size_t len;
  const char *v = rt_arg(cmdline, key, &len);
  if (v == NULL) {
    memcpy(out, dflt, 4);
    return;
  }
  size_t start = 0;
  int octet = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && v[i] != '.')
      continue;
    uint64_t n;
    if (octet > 3 || i == start || i - start > 3 || !rt_parse_u64(v + start, i - start, &n) ||
        n > 255) {
      octet = -1;
      break;
    }
    out[octet++] = (uint8_t)n;
    start = i + 1;
  }
  if (octet != 4) {
    rt_printf("malformed argument %s=%.*s\n", key, (int)len, v);
    rt_abort("malformed argument");
  }
}
