/* fork while four threads allocate and free: every child must be able to
   allocate and exit, and the fork handlers of a library (forkhooks.c) must
   be able to allocate around each fork. A child that has not exited after ten seconds is
   counted as hung (and killed); three hung children end the test. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 4
#define FORKS 200

static atomic_int stop;
extern int hook_failures, hook_calls;  /* from forkhooks.c */

static void *churn(void *arg) {
    unsigned s = (unsigned)(long)arg * 2654435761u + 1;
    void *live[32] = {0};
    while (!atomic_load(&stop)) {
        s = s * 1103515245u + 12345u;
        int k = (s >> 8) % 32;
        free(live[k]);
        live[k] = malloc(8 + (s >> 16) % 2000);
        if (live[k]) memset(live[k], k, 8);
    }
    for (int k = 0; k < 32; k++) free(live[k]);
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, churn, (void *)i);
    int hung = 0, done = 0;
    for (int f = 0; f < FORKS && hung < 3; f++) {
        pid_t pid = fork();
        if (pid == 0) {
            if (hook_failures) _exit(4);
            char *volatile p = malloc(100);
            char *volatile q = malloc(5000);
            if (!p || !q) _exit(3);
            memset(q, 1, 5000);
            free(p);
            free(q);
            _exit(0);
        }
        int status = 0, waited = 0;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (++waited > 10000) { kill(pid, SIGKILL); waitpid(pid, &status, 0); hung++; break; }
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) done++;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    printf("children done: %d, hung: %d; fork handlers run: %d, failed: %d\n",
           done, hung, hook_calls, hook_failures);
    return hung == 0 && done == FORKS && hook_failures == 0 && hook_calls >= 2 * FORKS ? 0 : 1;
}
