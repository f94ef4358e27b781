/*
 * A small printf. Output is collected in a buffer on the caller's stack and
 * sent with one PUTS per call, so a line is never split across hypercalls
 * (and the formatter is re-entrant, which the trap path relies on).
 */
#include "rt.h"

#define PRINTF_BUFFER 512

struct sink {
  char *buf;
  size_t size;  /* capacity of buf */
  size_t pos;   /* bytes in buf */
  size_t total; /* bytes produced, as printf returns */
  bool flush;   /* PUTS when full (printf) rather than truncate (snprintf) */
};

static void sink_flush(struct sink *s)
{
  if (s->pos > 0)
    rt_write(s->buf, s->pos);
  s->pos = 0;
}

static void sink_putc(struct sink *s, char c)
{
  s->total++;
  if (s->flush) {
    if (s->pos == s->size)
      sink_flush(s);
    s->buf[s->pos++] = c;
  } else if (s->pos + 1 < s->size) {
    s->buf[s->pos++] = c;
  }
}

static void sink_pad(struct sink *s, char c, int n)
{
  while (n-- > 0)
    sink_putc(s, c);
}

struct spec {
  bool left;
  bool zero;
  int width;
  int precision; /* -1: none */
};

static void emit_str(struct sink *s, const struct spec *sp, const char *str)
{
  if (str == NULL)
    str = "(null)";
  size_t len = 0;
  while (str[len] != '\0' && (sp->precision < 0 || len < (size_t)sp->precision))
    len++;
  int pad = sp->width > (int)len ? sp->width - (int)len : 0;
  if (!sp->left)
    sink_pad(s, ' ', pad);
  for (size_t i = 0; i < len; i++)
    sink_putc(s, str[i]);
  if (sp->left)
    sink_pad(s, ' ', pad);
}

static void emit_num(struct sink *s, const struct spec *sp, uint64_t v, unsigned base, bool upper,
                     bool negative, const char *prefix)
{
  char digits[24];
  int n = 0;
  const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits[n++] = set[v % base];
    v /= base;
  } while (v != 0);
  int prefix_len = (negative ? 1 : 0) + (int)strlen(prefix);
  int pad = sp->width > n + prefix_len ? sp->width - n - prefix_len : 0;
  if (!sp->left && !sp->zero)
    sink_pad(s, ' ', pad);
  if (negative)
    sink_putc(s, '-');
  for (const char *p = prefix; *p != '\0'; p++)
    sink_putc(s, *p);
  if (!sp->left && sp->zero)
    sink_pad(s, '0', pad);
  while (n > 0)
    sink_putc(s, digits[--n]);
  if (sp->left)
    sink_pad(s, ' ', pad);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
  for (const char *p = fmt; *p != '\0'; p++) {
    if (*p != '%') {
      sink_putc(s, *p);
      continue;
    }
    p++;
    struct spec sp = {.precision = -1};
    for (;; p++) {
      if (*p == '-')
        sp.left = true;
      else if (*p == '0')
        sp.zero = true;
      else
        break;
    }
    if (*p == '*') {
      sp.width = va_arg(ap, int);
      p++;
    } else {
      while (*p >= '0' && *p <= '9')
        sp.width = sp.width * 10 + (*p++ - '0');
    }
    if (*p == '.') {
      p++;
      sp.precision = 0;
      if (*p == '*') {
        sp.precision = va_arg(ap, int);
        p++;
      } else {
        while (*p >= '0' && *p <= '9')
          sp.precision = sp.precision * 10 + (*p++ - '0');
      }
    }
    int longs = 0;
    while (*p == 'l' || *p == 'z') {
      longs++;
      p++;
    }
    switch (*p) {
    case 'd':
    case 'i': {
      int64_t v = longs > 0 ? va_arg(ap, int64_t) : va_arg(ap, int);
      uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
      emit_num(s, &sp, mag, 10, false, v < 0, "");
      break;
    }
    case 'u':
    case 'x':
    case 'X': {
      uint64_t v = longs > 0 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int);
      emit_num(s, &sp, v, *p == 'u' ? 10 : 16, *p == 'X', false, "");
      break;
    }
    case 'p':
      emit_num(s, &sp, (uint64_t)(uintptr_t)va_arg(ap, void *), 16, false, false, "0x");
      break;
    case 's':
      emit_str(s, &sp, va_arg(ap, const char *));
      break;
    case 'c': {
      char c[2] = {(char)va_arg(ap, int), '\0'};
      sp.precision = 1;
      if (c[0] == '\0')
        sink_putc(s, '\0');
      else
        emit_str(s, &sp, c);
      break;
    }
    case '%':
      sink_putc(s, '%');
      break;
    case '\0':
      return;
    default:
      /* Unknown conversions are printed as written, which makes typos visible. */
      sink_putc(s, '%');
      sink_putc(s, *p);
      break;
    }
  }
}

int rt_vprintf(const char *fmt, va_list ap)
{
  char buf[PRINTF_BUFFER];
  struct sink s = {.buf = buf, .size = sizeof(buf), .flush = true};
  format(&s, fmt, ap);
  sink_flush(&s);
  return (int)s.total;
}

int rt_printf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = rt_vprintf(fmt, ap);
  va_end(ap);
  return n;
}

int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
  struct sink s = {.buf = buf, .size = size};
  format(&s, fmt, ap);
  if (size > 0)
    buf[s.pos] = '\0';
  return (int)s.total;
}

int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = rt_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

void rt_log(enum rt_log_level level, const char *fmt, ...)
{
  if (level > rt_log_level)
    return;
  char buf[PRINTF_BUFFER];
  struct sink s = {.buf = buf, .size = sizeof(buf), .flush = true};
  static const char prefix[] = "Solo5: ";
  for (const char *p = prefix; *p != '\0'; p++)
    sink_putc(&s, *p);
  va_list ap;
  va_start(ap, fmt);
  format(&s, fmt, ap);
  va_end(ap);
  sink_flush(&s);
}
