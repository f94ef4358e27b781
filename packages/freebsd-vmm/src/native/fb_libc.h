/*
 * The few FreeBSD libc entry points and constants the core uses, declared here
 * rather than taken from system headers (see hvt/bsd_types.h); the calls whose
 * prototype both BSDs share are in hvt/bsd_libc.h. Only the core's .c file
 * includes this; the C++ glue uses the real headers and never sees it.
 * Every value is the same on 13.x, 14.x and 15.x amd64.
 */
#ifndef HVT_FB_LIBC_H
#define HVT_FB_LIBC_H

#include "hvt/bsd_libc.h"

/* cap_rights_t, version 0: two 64-bit words. */
struct fb_cap_rights {
  hvt_u64 cr_rights[2];
};

/* Besides the calls hvt/bsd_libc.h declares for both BSDs: */
int fcntl(int fd, int cmd, ...);
hvt_ssize read(int fd, void *buf, hvt_size len);
void closefrom(int lowfd);
int mincore(const void *addr, hvt_size len, char *vec);
int sysctlbyname(const char *name, void *oldp, hvt_size *oldlenp, const void *newp,
                 hvt_size newlen);
int *__error(void);
int cap_enter(void);
int cap_getmode(unsigned int *modep);
int cap_rights_limit(int fd, const struct fb_cap_rights *rights);
int cap_ioctls_limit(int fd, const unsigned long *cmds, hvt_size ncmds);
int cap_fcntls_limit(int fd, hvt_u32 fcntlrights);

#define fb_errno (*__error())

#define FB_NULL ((void *)0)

/* <fcntl.h> */
#define FB_O_RDWR 0x0002
#define FB_O_NONBLOCK 0x0004
#define FB_O_CLOEXEC 0x00100000
#define FB_F_DUPFD 0

/* <sys/mman.h> */
#define FB_PROT_READ 0x1
#define FB_PROT_WRITE 0x2
#define FB_PROT_EXEC 0x4
#define FB_MAP_SHARED 0x0001
#define FB_MAP_FAILED ((void *)-1)

/* <sys/socket.h> */
#define FB_AF_UNIX 1
#define FB_AF_INET 2
#define FB_SOCK_STREAM 1
#define FB_SOCK_DGRAM 2
#define FB_SOCK_CLOEXEC 0x10000000
#define FB_MSG_NOSIGNAL 0x20000

/* <signal.h> */
#define FB_SIGHUP 1
#define FB_SIGINT 2
#define FB_SIGQUIT 3
#define FB_SIGPIPE 13
#define FB_SIGTERM 15
#define FB_SIGTSTP 18
#define FB_SIGTTIN 21
#define FB_SIGTTOU 22
#define FB_SIG_IGN ((void (*)(int))1)

/* <errno.h> */
#define FB_EPERM 1
#define FB_ENOENT 2
#define FB_EINTR 4
#define FB_EIO 5
#define FB_EBADF 9
#define FB_ENOMEM 12
#define FB_EINVAL 22
#define FB_ENOTTY 25
#define FB_EPIPE 32
#define FB_ENOTSUP 45
#define FB_ENAMETOOLONG 63
#define FB_ECAPMODE 94

#endif
