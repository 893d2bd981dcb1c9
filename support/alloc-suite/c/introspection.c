/* mallinfo2, malloc_trim, mallopt, malloc_info and malloc_stats answer about the heap
   that serves malloc. Prints "introspection ok" when they do. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int failures = 0;
#define CHECK(c) do { if (!(c)) { printf("FAILED: %s\n", #c); failures++; } } while (0)
    static void *p[500];
    for (int i = 0; i < 500; i++) { p[i] = malloc(1000); memset(p[i], 1, 1000); }
    struct mallinfo2 m = mallinfo2();
    CHECK(m.arena >= 500000);
    CHECK(m.uordblks >= 500000);
    CHECK(m.uordblks <= m.arena);
    struct mallinfo old = mallinfo();
    CHECK(old.uordblks >= 500000);
    void *volatile big = malloc(10 << 20);
    CHECK(mallinfo2().hblks >= 1 && mallinfo2().hblkhd >= (10 << 20));
    free(big);
    for (int i = 0; i < 500; i++) free(p[i]);
    CHECK(mallinfo2().uordblks < 500000);
    malloc_trim(0);
    CHECK(mallopt(M_TOP_PAD, 64 * 1024) == 1);
    CHECK(mallopt(M_TRIM_THRESHOLD, 256 * 1024) == 1);
    CHECK(mallopt(M_MMAP_THRESHOLD, 256 * 1024) == 1);
    malloc_stats();
    FILE *f = tmpfile();
    CHECK(malloc_info(0, f) == 0);
    CHECK(ftell(f) > 0);
    rewind(f);
    char head[8] = {0};
    CHECK(fread(head, 1, 7, f) == 7 && strcmp(head, "<malloc") == 0);
    CHECK(malloc_info(1, f) == EINVAL);
    fclose(f);
    if (!failures) printf("introspection ok\n");
    return failures != 0;
}
