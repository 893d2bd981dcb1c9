/* Four threads allocating, checking and freeing blocks at random; the
   blocks each thread leaves are freed by the main thread after the workers
   finish. Prints a checksum. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define OPS 100000
#define LIVE 64

static unsigned char *handoff[THREADS][LIVE];
static uint64_t sums[THREADS];

static uint64_t next(uint64_t *s) { *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17; return *s; }

static void *work(void *arg) {
    long id = (long)arg;
    uint64_t s = 0x9e3779b97f4a7c15ULL * (id + 1), sum = 0;
    unsigned char *live[LIVE] = {0};
    size_t len[LIVE] = {0};
    for (int i = 0; i < OPS; i++) {
        int k = next(&s) % LIVE;
        if (live[k]) {
            for (size_t j = 0; j < len[k]; j++)
                if (live[k][j] != (unsigned char)(len[k] + k)) { printf("corrupted\n"); exit(2); }
            sum += len[k];
            free(live[k]);
        }
        len[k] = 1 + next(&s) % 1000;
        live[k] = malloc(len[k]);
        memset(live[k], (unsigned char)(len[k] + k), len[k]);
    }
    for (int k = 0; k < LIVE; k++) handoff[id][k] = live[k];
    sums[id] = sum;
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    uint64_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        total += sums[i];
        for (int k = 0; k < LIVE; k++) free(handoff[(i + 1) % THREADS][k]);
    }
    printf("threads done, checksum %llu\n", (unsigned long long)total);
    return 0;
}
