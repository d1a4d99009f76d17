/*
 * mkdir(argv[1], 0755) through `int $0x80`: the i386 system call (number 39), made from
 * a 64-bit process, as one would to get around a filter written for x86_64 numbers only.
 * Exits 0 when the call succeeded, else with its errno.
 *
 * No libc (-nostdlib -static -no-pie): the kernel's i386 entry takes 32-bit pointers, so
 * the path is copied into a buffer in the executable's data, which a non-PIE static
 * executable keeps below 4 GiB (argv lives on the stack, far above).
 */

static char path[256];

static void __attribute__((noreturn)) leave(long status)
{
    __asm__ volatile("syscall" : : "a"(60L), "D"(status) : "rcx", "r11", "memory");
    for (;;) {
    }
}

void __attribute__((noreturn, used)) start_c(long *stack)
{
    long argc = stack[0];
    const char *arg = argc > 1 ? (const char *)stack[2] : "/tmp/via-int80";
    unsigned i = 0;
    for (; arg[i] != '\0' && i < sizeof(path) - 1; i++) {
        path[i] = arg[i];
    }
    path[i] = '\0';
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(39L), "b"((unsigned)(unsigned long)path), "c"(0755)
                     : "memory");
    leave(ret < 0 ? -ret : 0);
}

/* The kernel starts a static executable with the stack pointer at argc. */
__asm__(".globl _start\n"
        "_start:\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call start_c\n");
