/* Frees something that must not be freed: a block twice ("double"), a
   pointer malloc never returned ("foreign"), or a block after a write 16
   bytes past the end of the one before it, over its header ("overflow"). */
#include <stdlib.h>
#include <malloc.h>
#include <string.h>

int main(int argc, char **argv) {
    char *volatile before = malloc(32);     /* keeps p from merging backwards */
    char *volatile p = malloc(32);
    char *volatile guard = malloc(32);      /* keeps p off the top of the heap */
    char local[32];
    p[0] = guard[0] = before[0] = 1;
    if (argc > 1 && strcmp(argv[1], "double") == 0) {
        free(p);
        free(p);
    } else if (argc > 1 && strcmp(argv[1], "overflow") == 0) {
        size_t usable = malloc_usable_size(before);
        char *volatile next = malloc(32);   /* right after `guard`, usually */
        memset(guard, 'x', malloc_usable_size(guard) + 16);
        free(next);
        free(guard);
        free(before);
        (void)usable;
        for (int i = 0; i < 100; i++) { char *volatile x = malloc(64 + i); free(x); }
    } else {
        free(local + 16);
    }
    return 0;
}
