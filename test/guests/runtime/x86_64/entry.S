/*
 * Guest entry and CPU exception stubs. The tender enters _start in long mode
 * with RDI = boot info GPA and RSP = top of memory - 8, with no IDT loaded.
 */

	.section .text.entry, "ax", @progbits
	.globl _start
	.type _start, @function
_start:
	cld
	xorl %ebp, %ebp
	/* Keep the tender's stack, but make the call below see an ABI-aligned one. */
	andq $-16, %rsp
	call rt_boot
	/* rt_boot never returns; a HLT makes any failure visible to the tender. */
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start

/*
 * One stub per vector 0..31. The CPU pushes an error code only for some
 * vectors; the others push a zero so every frame has the same shape.
 */
	.text
.macro TRAP_NOEC vec
	.type rt_trap_\vec, @function
rt_trap_\vec:
	pushq $0
	pushq $\vec
	jmp rt_trap_common
.endm
.macro TRAP_EC vec
	.type rt_trap_\vec, @function
rt_trap_\vec:
	pushq $\vec
	jmp rt_trap_common
.endm

	.irp vec, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
	TRAP_NOEC \vec
	.endr
	.irp vec, 8,10,11,12,13,14,17,21,29,30
	TRAP_EC \vec
	.endr

/*
 * Saves the general registers below the hardware frame so rt_trap gets one
 * struct rt_trap_regs. The frame is 16-byte aligned here (the CPU aligns the
 * IST stack, and 22 quadwords follow), as the call needs.
 */
	.type rt_trap_common, @function
rt_trap_common:
	cld
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	call rt_trap
2:	cli
	hlt
	jmp 2b

	.section .rodata
	.balign 8
	.globl rt_trap_vectors
rt_trap_vectors:
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad rt_trap_\vec
	.endr

	.section .note.GNU-stack, "", @progbits
