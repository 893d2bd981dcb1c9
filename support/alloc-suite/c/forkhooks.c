/* A shared library with fork handlers that allocate, as libraries do. Its
   constructor runs before a preloaded malloc's, so its handlers are
   registered first: its "before" handler runs after the allocator's, and
   its "after" handlers before the allocator's, while the allocator still
   holds its lock for the fork. Each must still get working memory. */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int hook_failures;
int hook_calls;
static char *kept;      /* a heap block the library keeps across forks */
static size_t kept_len;

static void hook(void) {
    hook_calls++;
    /* Grow the kept block: a heap block, resized while the fork is on. */
    char *k = realloc(kept, kept_len + 16);
    if (!k || k[0] != 5) { hook_failures++; return; }
    kept = k;
    kept_len += 16;
    char *p = malloc(100);
    if (!p) { hook_failures++; return; }
    memset(p, 9, 100);
    char *q = realloc(p, 5000);
    if (!q || q[99] != 9 || malloc_usable_size(q) < 5000) { hook_failures++; free(q ? q : p); return; }
    free(q);
}

__attribute__((constructor)) static void install(void) {
    kept_len = 64;
    kept = malloc(kept_len);
    memset(kept, 5, kept_len);
    pthread_atfork(hook, hook, hook);
}
