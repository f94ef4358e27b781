/*
 * Guest entry and exception vectors, aarch64. The tender enters _start at EL1h
 * with the MMU on (its page tables), X0 = boot info GPA, SP = top of memory -
 * 16, interrupts masked, and no vector table installed.
 */

	.section .text.entry, "ax", %progbits
	.globl _start
	.type _start, %function
_start:
	/* Vectors first, so that whatever faults after this is reported. */
	adrp x1, rt_trap_vectors
	add x1, x1, :lo12:rt_trap_vectors
	msr vbar_el1, x1
	isb
	mov x29, #0
	mov x30, #0
	bl rt_boot
	/* rt_boot never returns; stopping makes any failure visible. */
1:	wfi
	b 1b
	.size _start, . - _start

/*
 * The vector table: 16 entries of 0x80 bytes, 2 KiB aligned, by source (current
 * EL with SP_EL0, current EL with SP_ELx, lower EL AArch64, lower EL AArch32)
 * and kind (synchronous, IRQ, FIQ, SError). Every entry saves x0..x30 and the
 * interrupted SP in a struct rt_trap_regs on the stack and calls
 * rt_trap(regs, entry index).
 */
	.text
	.balign 2048
	.globl rt_trap_vectors
rt_trap_vectors:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.balign 128
	sub sp, sp, #(34 * 8)
	stp x0, x1, [sp, #(0 * 8)]
	mov x1, #\n
	b rt_trap_save
	.endr

	.type rt_trap_save, %function
rt_trap_save:
	stp x2, x3, [sp, #(2 * 8)]
	stp x4, x5, [sp, #(4 * 8)]
	stp x6, x7, [sp, #(6 * 8)]
	stp x8, x9, [sp, #(8 * 8)]
	stp x10, x11, [sp, #(10 * 8)]
	stp x12, x13, [sp, #(12 * 8)]
	stp x14, x15, [sp, #(14 * 8)]
	stp x16, x17, [sp, #(16 * 8)]
	stp x18, x19, [sp, #(18 * 8)]
	stp x20, x21, [sp, #(20 * 8)]
	stp x22, x23, [sp, #(22 * 8)]
	stp x24, x25, [sp, #(24 * 8)]
	stp x26, x27, [sp, #(26 * 8)]
	stp x28, x29, [sp, #(28 * 8)]
	add x2, sp, #(34 * 8)
	stp x30, x2, [sp, #(30 * 8)]
	mov x0, sp
	bl rt_trap
2:	wfi
	b 2b
	.size rt_trap_save, . - rt_trap_save

	.section .note.GNU-stack, "", %progbits
