/* The malloc family's answers to bad input, as glibc documents them. The
   same program must print "all ok" with glibc's malloc and with ours. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures = 0;
#define CHECK(cond) do { if (!(cond)) { printf("FAILED: %s (line %d)\n", #cond, __LINE__); failures++; } } while (0)

int main(void) {
    long page = sysconf(_SC_PAGESIZE);

    errno = 0;
    volatile size_t huge = SIZE_MAX;        /* volatile: not folded at compile time */
    CHECK(malloc(huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(SIZE_MAX - 64) == NULL && errno == ENOMEM);
    void *z = malloc(0);
    CHECK(z != NULL);                       /* a unique pointer, freeable */
    free(z);

    errno = 0;
    CHECK(calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
    unsigned char *c = calloc(100, 10);
    CHECK(c != NULL);
    int zero = 1;
    for (int i = 0; i < 1000; i++) zero &= c[i] == 0;
    CHECK(zero);
    free(c);

    free(NULL);                             /* does nothing */
    errno = 1234;
    void *p = malloc(100);
    CHECK(errno == 1234);                   /* success leaves errno alone */
    free(p);
    CHECK(errno == 1234);                   /* free keeps errno */

    char *r = realloc(NULL, 10);            /* realloc(NULL, n) is malloc */
    CHECK(r != NULL);
    strcpy(r, "keep me");
    r = realloc(r, 100000);
    CHECK(r != NULL && strcmp(r, "keep me") == 0);
    errno = 0;
    CHECK(realloc(r, SIZE_MAX) == NULL && errno == ENOMEM);
    CHECK(strcmp(r, "keep me") == 0);       /* a failed realloc keeps the block */
    CHECK(realloc(r, 0) == NULL);           /* glibc: frees it, returns NULL */

    void *out = (void *)0x1;
    CHECK(posix_memalign(&out, 3, 16) == EINVAL && out == (void *)0x1);
    CHECK(posix_memalign(&out, 4, 16) == EINVAL);      /* not a multiple of sizeof(void *) */
    CHECK(posix_memalign(&out, 64, SIZE_MAX - 100) == ENOMEM && out == (void *)0x1);
    CHECK(posix_memalign(&out, 256, 100) == 0 && ((uintptr_t)out % 256) == 0);
    free(out);

    /* A bad alignment: glibc 2.38 and later refuse it with EINVAL (as we
       do); earlier versions round it up, as for memalign. */
    errno = 0;
    void *bad = aligned_alloc(3, 16);
    CHECK((bad == NULL && errno == EINVAL) || (bad != NULL && ((uintptr_t)bad % 4) == 0));
    free(bad);
    void *a = aligned_alloc(64, 128);
    CHECK(a != NULL && ((uintptr_t)a % 64) == 0);
    free(a);
    void *m = memalign(100, 10);            /* glibc rounds 100 up to 128 */
    CHECK(m != NULL && ((uintptr_t)m % 128) == 0);
    free(m);
    void *v = valloc(10);
    CHECK(v != NULL && ((uintptr_t)v % page) == 0);
    free(v);
    void *pv = pvalloc(10);
    CHECK(pv != NULL && ((uintptr_t)pv % page) == 0 && malloc_usable_size(pv) >= (size_t)page);
    free(pv);
    errno = 0;
    CHECK(pvalloc(SIZE_MAX) == NULL && errno == ENOMEM);

    CHECK(malloc_usable_size(NULL) == 0);
    void *u = malloc(100);
    CHECK(malloc_usable_size(u) >= 100);
    free(u);

    errno = 0;
    CHECK(reallocarray(NULL, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);

    if (failures == 0) printf("all ok\n");
    return failures != 0;
}
