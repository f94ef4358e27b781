/*
 * The libc-only core of the FreeBSD addon: the vmm(4) VM lifecycle, the run
 * loop, VM destruction that survives capability mode and the death of the
 * tender, tap attach, and applying Capsicum limits that the TypeScript side
 * computed. Functions return 0 (or a non-negative result) on success and
 * -errno on failure; where a function does several system calls, `step`
 * receives the name of the one that failed.
 *
 * This header is plain C with no system includes so that the C++ glue can
 * include it next to the real system headers.
 */
#ifndef HVT_FB_VMM_H
#define HVT_FB_VMM_H

#include "hvt/bsd_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What fb_vm_run returns: the values of core's ExitKind (packages/core/src/platform.ts). */
#define FB_EXIT_IO 1
#define FB_EXIT_SIGNAL 3
#define FB_EXIT_TRANSLATION_FAULT 4
#define FB_EXIT_OTHER 7
#define FB_EXIT_IO_THREAD 8

/* Indices into the exit array: core's ExitField, then FreeBSD details. */
#define FB_FIELD_REASON 0
#define FB_FIELD_PORT 1
#define FB_FIELD_SIZE 2
#define FB_FIELD_DIRECTION 3
#define FB_FIELD_VALUE 4
#define FB_FIELD_SIGNAL 5
#define FB_FIELD_DETAIL 6
#define FB_FIELD_ERRNO 7
#define FB_FIELD_RIP_LO 8
#define FB_FIELD_RIP_HI 9
#define FB_FIELD_INST_LENGTH 10
#define FB_FIELD_VMX_STATUS 11
#define FB_FIELD_QUALIFICATION_LO 12
#define FB_FIELD_QUALIFICATION_HI 13
#define FB_FIELD_VMX_INST_TYPE 14
#define FB_FIELD_VMX_INST_ERROR 15
#define FB_FIELD_SVM_INFO2_LO 16
#define FB_FIELD_SVM_INFO2_HI 17
#define FB_EXIT_FIELDS 18

struct fb_vm;

/* kern.osreldate, or -errno. */
int fb_osreldate(int *out);
/* The release line (enum fb_line) for an osreldate, or -1 below 13.0. */
int fb_line_for(int osreldate);
/* The command number `which` (enum fb_ioctl) has on `line`; 0 if absent. */
hvt_u32 fb_ioctl_request(int line, int which);
const char *fb_ioctl_name(int which);
int fb_ioctl_count(void);

struct fb_vm *fb_vm_new(void);
/*
 * Creates VM `name` (create, destroyer process, open, halt exits, memory
 * segment, guest mapping, in that order). On failure everything created so far
 * is destroyed again and *step names the failed call ("sysctl hw.vmm.create",
 * "VMMCTL_VM_CREATE", "fork", "open", "VM_ALLOC_MEMSEG", "mmap", ...).
 */
int fb_vm_create(struct fb_vm *vm, int osreldate, const char *name, hvt_u64 memsize,
                 const char **step);
hvt_u8 *fb_vm_memory(const struct fb_vm *vm, hvt_u64 *size);
int fb_vm_line(const struct fb_vm *vm);
/* The VM device fd, -1 once destroyed. */
int fb_vm_fd(const struct fb_vm *vm);
/* The fd the tender keeps for destruction: the destroyer channel. */
int fb_vm_destroyer_fd(const struct fb_vm *vm);
/* The /dev/vmmctl fd kept as a fallback destroyer (15+), or -1. */
int fb_vm_ctl_fd(const struct fb_vm *vm);

int fb_vm_set_register(struct fb_vm *vm, int regnum, hvt_u64 value);
int fb_vm_get_register(struct fb_vm *vm, int regnum, hvt_u64 *value);
int fb_vm_set_segment(struct fb_vm *vm, int regnum, hvt_u64 base, hvt_u32 limit, hvt_u32 access);
int fb_vm_get_segment(struct fb_vm *vm, int regnum, hvt_u64 *base, hvt_u32 *limit,
                      hvt_u32 *access);
int fb_vm_activate(struct fb_vm *vm);
/*
 * A 4-byte OUT to `port` writes a byte to `fd` (the ring's kick pipe) and
 * resumes the guest; fd -1 undoes it. At most HVT_MAX_KICKS ports.
 */
int fb_vm_add_kick(struct fb_vm *vm, int port, int fd);

/*
 * Runs the vCPU until an exit the tender must see; fills `exit`
 * (FB_EXIT_FIELDS doubles) and returns an FB_EXIT_* kind, or -errno when
 * VM_RUN itself failed.
 */
int fb_vm_run(struct fb_vm *vm, double *exit);

/*
 * Destroys the VM (idempotent): asks the destroyer process, or does it
 * directly when that process is gone. The guest mapping stays valid until
 * fb_unmap_guest; the fds are closed.
 */
int fb_vm_destroy(struct fb_vm *vm, const char **step);
/* Frees the struct (after fb_vm_destroy). */
void fb_vm_free(struct fb_vm *vm);
int fb_unmap_guest(hvt_u8 *addr, hvt_u64 size);

int fb_protect(hvt_u8 *addr, hvt_u64 len, int prot);
/* One byte per 4 KiB page of [addr, addr+len): 1 when resident. */
int fb_resident(const hvt_u8 *addr, hvt_u64 len, hvt_u8 *out);

/* machdep.tsc_freq and kern.timecounter.invariant_tsc. */
int fb_tsc(hvt_u64 *hz, int *invariant, const char **step);

/* Opens /dev/NAME non-blocking and reads its MTU. */
int fb_tap_open(const char *name, int *fd, int *mtu, const char **step);

/*
 * Capsicum, as computed by the TypeScript side: rights (two words of a
 * version-0 cap_rights_t), then the ioctl list when nioctls >= 0, then the
 * fcntl mask when fcntls >= 0.
 */
int fb_cap_limit(int fd, hvt_u64 rights0, hvt_u64 rights1, const hvt_u32 *ioctls, long nioctls,
                 long fcntls, const char **step);
int fb_cap_enter(void);
/* 1 in capability mode, 0 outside, or -errno. */
int fb_cap_mode(void);

/*
 * Signals. fb_signal_arrived is async-signal-safe: it records `sig` and makes
 * a VM_RUN that is about to start fail at once (the run loop then reports
 * FB_EXIT_SIGNAL); a VM_RUN already in the kernel returns on its own because
 * the signal is pending on the running thread.
 */
void fb_signal_arrived(int sig);
int fb_pending_signal(void);

/*
 * The network ring's thread, when it fails (docs/guest-abi.md 10.3):
 * fb_io_thread_failure(1) before it interrupts the vCPU thread, (-1) once it
 * has been joined; while one is pending fb_vm_run returns FB_EXIT_IO_THREAD.
 * fb_io_thread_interrupt is the interrupting signal's handler (async-signal-
 * safe): as fb_signal_arrived, it makes a VM_RUN about to start fail at once.
 */
void fb_io_thread_failure(int delta);
int fb_io_thread_failed(void);
void fb_io_thread_interrupt(void);

#ifdef __cplusplus
}
#endif

#endif
