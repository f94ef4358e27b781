/*
 * The first code of the self-contained solo5-hvt executable (build-exe.ts
 * puts it in a segment of its own and makes it the ELF entry point): it runs
 * after the dynamic linker and before Node's own start, for the two things
 * JavaScript cannot do there.
 *
 * 1. A seccomp filter that a launcher installed before exec and that forbids
 *    thread creation kills Node before any JavaScript runs (its platform
 *    starts threads first). So: catch SIGSYS, try clone3 and clone with
 *    arguments the kernel refuses before creating anything (EINVAL; ENOSYS
 *    from clone3 is fine, glibc then uses clone), and on a filter's verdict
 *    print one line naming the call and exit 1.
 * 2. memfd_create("hvtjs-addon"): the memory file the addon is written into
 *    and dlopen()ed from (src/exe.ts), since Node has no memfd API.
 *
 * Then it jumps to the original entry point, with rdx (the dynamic linker's
 * termination function) and rsp (argc) as it found them. Position
 * independent: the original entry is reached through `delta`, the distance
 * from this code to it, which build-exe.ts writes into the last 8 bytes.
 * The bytes build-exe.ts injects are this file assembled
 * (build-exe-entry.ts; test/build-exe.test.ts assembles it again and compares).
 */
	.intel_syntax noprefix
	.text
hvtjs_entry:
	mov r12, rdx
	/* rt_sigaction(SIGSYS, {on_sigsys, SA_SIGINFO|SA_RESTORER, restorer, 0}, NULL, 8) */
	sub rsp, 32
	lea rax, [rip + on_sigsys]
	mov [rsp], rax
	mov qword ptr [rsp + 8], 0x04000004
	lea rax, [rip + restorer]
	mov [rsp + 16], rax
	mov qword ptr [rsp + 24], 0
	mov eax, 13
	mov edi, 31
	mov rsi, rsp
	xor edx, edx
	mov r10d, 8
	syscall
	add rsp, 32
	/* clone3(NULL, 0): EINVAL (size too small) or ENOSYS (none) when allowed */
	mov eax, 435
	xor edi, edi
	xor esi, esi
	syscall
	cmp rax, -22
	je 1f
	cmp rax, -38
	je 1f
	mov edi, 435
	jmp forbidden
1:	/* clone(CLONE_THREAD without CLONE_SIGHAND): EINVAL when allowed */
	mov eax, 56
	mov edi, 0x10000
	xor esi, esi
	xor edx, edx
	xor r10d, r10d
	xor r8d, r8d
	syscall
	cmp rax, -22
	je 2f
	mov edi, 56
	jmp forbidden
2:	/* memfd_create("hvtjs-addon", MFD_CLOEXEC); a failure is reported by src/exe.ts */
	mov eax, 319
	lea rdi, [rip + memfd_name]
	mov esi, 1
	syscall
	/* The SIGSYS handler stays: Node's start resets every signal's disposition. */
	mov rdx, r12
	lea rax, [rip + hvtjs_entry]
	add rax, [rip + delta]
	jmp rax

on_sigsys:
	/* siginfo_t for SIGSYS: si_syscall at offset 24 */
	mov edi, dword ptr [rsi + 24]
forbidden:
	/* one line: msg1, the call's number in decimal, msg2; then exit_group(1) */
	mov r13d, edi
	sub rsp, 256
	mov rdi, rsp
	lea rsi, [rip + msg1]
	mov ecx, msg1_end - msg1
	rep movsb
	lea r8, [rsp + 256]
	mov eax, r13d
	mov r9d, 10
3:	xor edx, edx
	div r9d
	add dl, 48
	dec r8
	mov [r8], dl
	test eax, eax
	jnz 3b
	lea rcx, [rsp + 256]
	sub rcx, r8
	mov rsi, r8
	rep movsb
	lea rsi, [rip + msg2]
	mov ecx, msg2_end - msg2
	rep movsb
	mov rdx, rdi
	sub rdx, rsp
	mov eax, 1
	mov edi, 2
	mov rsi, rsp
	syscall
	mov eax, 231
	mov edi, 1
	syscall

restorer:
	mov eax, 15
	syscall

memfd_name:
	.asciz "hvtjs-addon"
msg1:
	.ascii "solo5-hvt: a seccomp filter set before start-up forbids system call "
msg1_end:
msg2:
	.ascii ", which this executable needs to start (56 and 435 make threads): run it without that filter\n"
msg2_end:
	.balign 8
delta:
	.quad 0
