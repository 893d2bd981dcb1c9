/* malloc from a signal handler that interrupts malloc and free.

   The program defines `sbrk` and `madvise` itself and is linked with
   -rdynamic, so a preloaded allocator's calls to them come here: each
   raises SIGUSR1 once armed, so the handler runs on the same thread while
   the allocator is inside malloc (growing the break) and inside free
   (giving pages back). Then a timer interrupts a malloc/free loop at
   random for a while. The handler allocates, checks alignment, realloc
   and malloc_usable_size, and frees. Prints what it saw. */
#define _GNU_SOURCE
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

extern void *__sbrk(intptr_t);

/* ANCHOR: interpose */
static volatile sig_atomic_t armed, inside, in_sbrk, in_madvise, handled, bad;

void *sbrk(intptr_t inc) {
    void *r = __sbrk(inc);
    if (armed && inc != 0) { in_sbrk++; inside = 1; raise(SIGUSR1); inside = 0; }
    return r;
}

int madvise(void *addr, size_t len, int advice) {
    int r = (int)syscall(SYS_madvise, addr, len, advice);
    if (armed) { in_madvise++; inside = 1; raise(SIGUSR1); inside = 0; }
    return r;
}
/* ANCHOR_END: interpose */

static void handler(int sig) {
    (void)sig;
    char *p = malloc(24);
    if (!p || (uintptr_t)p % 16 != 0) { bad++; return; }
    memset(p, 7, 24);
    char *q = realloc(p, 200);
    if (!q || (uintptr_t)q % 16 != 0 || malloc_usable_size(q) < 200 || q[23] != 7) { bad++; free(q); return; }
    free(q);
    char *z = calloc(4, 8);
    if (!z || z[31] != 0) bad++;
    free(z);
    handled++;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    armed = 1;
    /* Grow the heap well past its pad, then free it all: the growths call
       sbrk inside malloc, the frees give pages back inside free. */
    enum { N = 64 };
    void *big[N];
    for (int i = 0; i < N; i++) { big[i] = malloc(60000); memset(big[i], 1, 60000); }
    for (int i = N - 1; i >= 0; i--) free(big[i]);
    armed = 0;
    int direct = handled;
    /* A timer firing every 50 microseconds, at random points of a loop. */
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &it, NULL);
    void *live[256] = {0};
    unsigned s = 1;
    for (int i = 0; i < 300000; i++) {
        s = s * 1103515245u + 12345u;
        int k = (s >> 8) % 256;
        free(live[k]);
        live[k] = malloc(16 + (s >> 16) % 3000);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int k = 0; k < 256; k++) free(live[k]);
    printf("inside malloc (sbrk): %d, inside free (madvise): %d, handled there: %d, bad: %d, handled in all: %d\n",
           (int)in_sbrk, (int)in_madvise, direct, (int)bad, (int)handled);
    return bad == 0 && in_sbrk > 0 && in_madvise > 0 && direct >= in_sbrk + in_madvise ? 0 : 1;
}
