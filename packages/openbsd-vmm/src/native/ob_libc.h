/*
 * The few OpenBSD libc entry points and constants the core uses, declared here
 * rather than taken from system headers (see hvt/bsd_types.h); the calls whose
 * prototype both BSDs share are in hvt/bsd_libc.h. Only the core's .c file
 * includes this; the C++ glue uses the real headers and never sees it.
 * Every value is the same on 7.4 to 7.9 amd64.
 */
#ifndef HVT_OB_LIBC_H
#define HVT_OB_LIBC_H

#include "hvt/bsd_libc.h"

typedef hvt_u32 ob_uid;
typedef hvt_u32 ob_gid;

/* Besides the calls hvt/bsd_libc.h declares for both BSDs: */
int closefrom(int lowfd);
int sysctl(const int *name, unsigned int namelen, void *oldp, hvt_size *oldlenp, void *newp,
           hvt_size newlen);
int *__errno(void);
int chroot(const char *path);
int chdir(const char *path);
int setgroups(int ngroups, const ob_gid *gidset);
int setresgid(ob_gid rgid, ob_gid egid, ob_gid sgid);
int setresuid(ob_uid ruid, ob_uid euid, ob_uid suid);
int pledge(const char *promises, const char *execpromises);

#define ob_errno (*__errno())

#define OB_NULL ((void *)0)

/* <fcntl.h> */
#define OB_O_RDWR 0x0002
#define OB_O_NONBLOCK 0x0004
#define OB_O_CLOEXEC 0x10000

/* <sys/mman.h> */
#define OB_PROT_READ 0x1
#define OB_PROT_WRITE 0x2
#define OB_PROT_EXEC 0x4
#define OB_MAP_PRIVATE 0x0002
#define OB_MAP_ANON 0x1000
#define OB_MAP_FAILED ((void *)-1)

/* <sys/socket.h> */
#define OB_AF_UNIX 1
#define OB_AF_INET 2
#define OB_SOCK_STREAM 1
#define OB_SOCK_DGRAM 2
#define OB_SOCK_CLOEXEC 0x8000
#define OB_MSG_NOSIGNAL 0x400

/* <sys/sysctl.h>, <machine/cpu.h> */
#define OB_CTL_KERN 1
#define OB_KERN_OSRELEASE 2
#define OB_CTL_MACHDEP 7
#define OB_CPU_TSCFREQ 16
#define OB_CPU_INVARIANTTSC 17

/* <signal.h> */
#define OB_SIGHUP 1
#define OB_SIGINT 2
#define OB_SIGQUIT 3
#define OB_SIGPIPE 13
#define OB_SIGTERM 15
#define OB_SIGTSTP 18
#define OB_SIGTTIN 21
#define OB_SIGTTOU 22
#define OB_SIG_IGN ((void (*)(int))1)

/* <errno.h> */
#define OB_ENOENT 2
#define OB_EINTR 4
#define OB_EIO 5
#define OB_EBADF 9
#define OB_ENOMEM 12
#define OB_EINVAL 22
#define OB_ENETDOWN 50
#define OB_ENAMETOOLONG 63
#define OB_ENOTSUP 91

#endif
