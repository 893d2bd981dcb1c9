/* Frees something that must not be freed: a block twice ("double"), or a
   pointer malloc never returned ("foreign"). */
#include <stdlib.h>
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
    } else {
        free(local + 16);
    }
    return 0;
}
