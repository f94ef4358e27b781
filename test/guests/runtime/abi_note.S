/*
 * The ABI1 note (docs/guest-abi.md 4.2): owner "Solo5", type "ABI1", a 16-byte
 * descriptor {target 1 = hvt, version 2, two reserved words}. The linker
 * script gives this section a PT_NOTE of its own.
 */
	.section .note.solo5.abi, "", @note
	.balign 4
	.long 6			/* n_namesz: "Solo5" and its NUL */
	.long 16		/* n_descsz */
	.long 0x31494241	/* n_type: "ABI1" */
	.asciz "Solo5"
	.balign 4
	.long 1			/* abi_target: hvt */
	.long 2			/* abi_version */
	.long 0
	.long 0

	.section .note.GNU-stack, "", @progbits
