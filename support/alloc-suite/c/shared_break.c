/* The allocator shares the break with the rest of the program.
   "calloc": other code grows the break, writes there and shrinks it back;
   calloc must still return zeroed memory.
   "syscalls": 10,000 mallocs then 10,000 frees; counts the calls to sbrk
   that move the break (the program defines sbrk and is linked with
   -rdynamic, so a preloaded allocator's calls come here; glibc's own
   malloc calls its internal __sbrk, which is not counted).
   "aligned": aligned_alloc(1 GiB, 16) must not move the break. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__sbrk(intptr_t);
static volatile long moves;  /* volatile: malloc changes it, unknown to the compiler */

void *sbrk(intptr_t inc) {
    if (inc != 0) moves++;
    return __sbrk(inc);
}

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "calloc") == 0) {
        /* Use up the heap's free memory on top, so calloc must grow. */
        for (int i = 0; i < 8; i++) memset(malloc(100000), 0x55, 100000);
        char *brk = __sbrk(0);
        if ((uintptr_t)brk % 4096 == 0) __sbrk(64);  /* off a page boundary */
        char *other = __sbrk(3000);                  /* someone else's */
        memset(other, 0xAB, 3000);
        __sbrk(-3000);
        unsigned char *z = calloc(1, 100000);
        long dirty = 0;
        for (int i = 0; i < 100000; i++) dirty += z[i] != 0;
        printf("non-zero bytes from calloc: %ld\n", dirty);
        return dirty != 0;
    }
    if (strcmp(what, "syscalls") == 0) {
        static void *p[10000];
        long before = moves;
        for (int i = 0; i < 10000; i++) p[i] = malloc(16 + i % 200);
        for (int i = 0; i < 10000; i++) free(p[i]);
        printf("%ld\n", moves - before);
        return 0;
    }
    if (strcmp(what, "aligned") == 0) {
        char *before = __sbrk(0);
        void *p = aligned_alloc((size_t)1 << 30, 16);
        char *after = __sbrk(0);
        int ok = p && (uintptr_t)p % ((size_t)1 << 30) == 0 && after - before < (1 << 20);
        memset(p, 1, 16);
        free(p);
        printf(ok ? "aligned ok\n" : "aligned: break moved by %ld bytes\n", (long)(after - before));
        return !ok;
    }
    return 2;
}
