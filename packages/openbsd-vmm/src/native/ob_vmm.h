/*
 * The libc-only core of the OpenBSD addon: the vmm(4) VM lifecycle for 7.4 to
 * 7.9, the run loop, VM termination on every way out of the tender, tap
 * attach, and the privilege drop (chroot, setgroups/setresgid/setresuid,
 * pledge) with arguments the TypeScript side computed. Functions return 0 (or
 * a non-negative result) on success and -errno on failure; where a function
 * does several system calls, `step` receives the name of the one that failed.
 *
 * Plain C with no system includes, so that the C++ glue can include it next to
 * the real system headers.
 */
#ifndef HVT_OB_VMM_H
#define HVT_OB_VMM_H

#include "hvt/bsd_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What ob_vm_run returns: the values of core's ExitKind (packages/core/src/platform.ts). */
#define OB_EXIT_IO 1
#define OB_EXIT_SIGNAL 3
#define OB_EXIT_TRANSLATION_FAULT 4
#define OB_EXIT_OTHER 7
#define OB_EXIT_IO_THREAD 8

/* Indices into the exit array: core's ExitField, then OpenBSD details. */
#define OB_FIELD_REASON 0
#define OB_FIELD_PORT 1
#define OB_FIELD_SIZE 2
#define OB_FIELD_DIRECTION 3
#define OB_FIELD_VALUE 4
#define OB_FIELD_SIGNAL 5
#define OB_FIELD_DETAIL 6
#define OB_FIELD_ERRNO 7
#define OB_FIELD_INSN_LEN 8
#define OB_EXIT_FIELDS 9

struct ob_vm;

/* Releases are chosen by number range on the TypeScript side (src/abi.ts), which
   passes the index into ob_releases. */
int ob_release_count(void);
const char *ob_release_name(int release);
int ob_ioctl_count(void);
const char *ob_ioctl_name(int which);
/* The command number `which` (enum ob_ioctl) has on `release`; 0 if absent. */
hvt_u32 ob_ioctl_request(int release, int which);
/* kern.osrelease into buf (NUL-terminated). */
int ob_osrelease(char *buf, hvt_size len);

struct ob_vm *ob_vm_new(void);
/*
 * Opens /dev/vmm, allocates guest memory (7.7 and older) and creates VM
 * `name` with one vCPU and one RAM range at GPA 0, then starts the terminator
 * process. On failure everything is undone and *step names the failed call.
 */
int ob_vm_create(struct ob_vm *vm, int release, const char *name, hvt_u64 memsize,
                 const char **step);
hvt_u8 *ob_vm_memory(const struct ob_vm *vm, hvt_u64 *size);
/* Whether the host mapping is the kernel's immutable one (7.8+). */
int ob_vm_kernel_memory(const struct ob_vm *vm);
hvt_u32 ob_vm_id(const struct ob_vm *vm);
/* The /dev/vmm fd, -1 once terminated. */
int ob_vm_fd(const struct ob_vm *vm);
int ob_vm_terminator_fd(const struct ob_vm *vm);

/* VMM_IOC_RESETCPU with a complete struct vcpu_reg_state (568 bytes). */
int ob_vm_reset_cpu(struct ob_vm *vm, const hvt_u8 *state, hvt_size len);
/* VMM_IOC_READREGS: every register into `state` (568 bytes). */
int ob_vm_read_regs(struct ob_vm *vm, hvt_u8 *state, hvt_size len);

/*
 * Runs the vCPU until an exit the tender must see; fills `exit`
 * (OB_EXIT_FIELDS doubles) and returns an OB_EXIT_* kind, or -errno when
 * VMM_IOC_RUN itself failed.
 */
int ob_vm_run(struct ob_vm *vm, double *exit);

/*
 * Whether VM `vm_id` still exists, without changing it (VMM_IOC_READREGS on a
 * fresh /dev/vmm fd): 1 yes, 0 no, -errno when it cannot tell. For cleanup
 * checks and tests; needs an unpledged root process.
 */
int ob_vm_probe(int release, hvt_u32 vm_id);

/* VMM_IOC_TERM (idempotent), through the terminator if needed; closes the fds. */
int ob_vm_destroy(struct ob_vm *vm, const char **step);
void ob_vm_free(struct ob_vm *vm);
/* Unmaps our own guest memory (7.7 and older); the kernel's stays until exit. */
int ob_unmap_guest(hvt_u8 *addr, hvt_u64 size, int kernel_memory);
int ob_protect(hvt_u8 *addr, hvt_u64 len, int prot);

/* machdep.invarianttsc and machdep.tscfreq. */
int ob_tsc(hvt_u64 *hz, int *invariant, const char **step);

/* Opens /dev/NAME non-blocking after checking the interface is up; reads its MTU. */
int ob_tap_open(const char *name, int *fd, int *mtu, const char **step);

/* chroot(dir), chdir("/"), setgroups, setresgid, setresuid, then pledge(promises, NULL). */
int ob_drop_privileges(const char *dir, hvt_u32 uid, hvt_u32 gid, const char *promises,
                       const char **step);

/* Async-signal-safe: records `sig` and makes a VMM_IOC_RUN about to start fail at once. */
void ob_signal_arrived(int sig);
int ob_pending_signal(void);

/* A 4-byte OUT to `port` writes a byte to `fd` (the ring's kick pipe); fd -1 undoes it. */
int ob_vm_add_kick(struct ob_vm *vm, int port, int fd);
/*
 * A failed ring thread (hvt/bsd_ring.h): +1 before it interrupts the vCPU
 * thread, -1 once joined; ob_vm_run returns OB_EXIT_IO_THREAD while one is
 * pending. ob_io_thread_interrupt is the interrupting signal's handler
 * (async-signal-safe, as ob_signal_arrived).
 */
void ob_io_thread_failure(int delta);
int ob_io_thread_failed(void);
void ob_io_thread_interrupt(void);

#ifdef __cplusplus
}
#endif

#endif
