/* _team.h -- the threads of the training calls, and the barrier they meet at.
 *
 * Why: at the default two BLAS threads a training step ran its element-wise work (gather,
 * bias + activation, loss, activation backward, bias gradient, update) on one thread while
 * OpenBLAS's second thread spun, and on small GEMMs OpenBLAS's hand-offs cost more than
 * they gave; beside a busy process the spinning threads fought for the core (epochs 1.5 to
 * 2.4x slower). So a training call (_train.pxi) runs on a team: the calling thread and
 * n - 1 workers of nncore's own, each running the whole step on its share (rows of the
 * batch, rows of each weight matrix) with BLAS at one thread, meeting at a barrier a few
 * times per step.
 *
 * Teams persist between calls, idle ones kept in a small cache by size: a new thread's
 * first GEMM makes OpenBLAS allocate and fault in its buffers (measured: a fresh team per
 * call made short epochs of wide networks twice as slow). An idle worker sleeps on a
 * condition variable; nothing spins between calls. A call takes an idle team of its size
 * or makes one, so concurrent calls from several Python threads each have their own. After
 * fork() the child starts with an empty cache (the parent's workers do not exist there).
 *
 * Waiting (at a barrier, or for the next call) spins for a bounded time (nn_team_spin_ns),
 * then sleeps. A waiting thread therefore never holds a core for long when the thread it
 * waits for has been descheduled (a busy neighbour): the neighbour gets the core, and the
 * step costs about what its slowest share costs.
 *
 * If a worker cannot be created, the team is smaller; the size is fixed before any work
 * starts, and the work is split by it.
 */
#ifndef NN_TEAM_H
#define NN_TEAM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NN_RELAX() _mm_pause()
#else
#define NN_RELAX() ((void)0)
#endif

#define NN_TEAM_MAX 64
/* How long a thread at the barrier spins before it sleeps: longer than the usual
 * imbalance of a step's shares (a few microseconds), far shorter than a scheduler slice.
 * A variable for bench/threads.py (set_team_spin); set with the GIL held, between calls. */
static long long nn_team_spin_ns = 10000;

typedef void (*nn_team_fn)(void* arg, int tid);

typedef struct nn_team {
    int n;                   /* threads in the team, the caller (tid 0) included */
    atomic_int arrived;      /* arrivals at the current barrier */
    atomic_int generation;   /* barriers passed */
    atomic_int sleepers;     /* threads asleep (or about to be) on `wake` */
    atomic_int job;          /* calls started: a worker runs call k when it sees k */
    int quit;                /* with a new job: the workers leave */
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    nn_team_fn fn;
    void* arg;
    pthread_t threads[NN_TEAM_MAX];
    struct nn_team* next;    /* in the cache of idle teams */
} nn_team;

typedef struct {
    nn_team* team;
    int tid;
} nn_team_seat;

static inline long long nn_team_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wait until `*word` differs from `old`: spin for up to nn_team_spin_ns, then sleep. The
 * waker changes `*word` (seq_cst) and then reads `sleepers`; a sleeper adds itself to
 * `sleepers` (seq_cst) and then re-reads `*word` under the mutex: one of the two sees the
 * other, so no wake-up is lost. */
static void nn_team_wait(nn_team* t, atomic_int* word, int old)
{
    long long deadline = 0;
    for (int spins = 0;; spins++) {
        if (atomic_load_explicit(word, memory_order_acquire) != old)
            return;
        NN_RELAX();
        if ((spins & 63) == 63) {
            long long now = nn_team_now_ns();
            if (deadline == 0)
                deadline = now + nn_team_spin_ns;
            else if (now >= deadline)
                break;
        }
    }
    pthread_mutex_lock(&t->mutex);
    atomic_fetch_add(&t->sleepers, 1);
    while (atomic_load(word) == old)
        pthread_cond_wait(&t->wake, &t->mutex);
    atomic_fetch_sub(&t->sleepers, 1);
    pthread_mutex_unlock(&t->mutex);
}

static void nn_team_wake(nn_team* t)
{
    if (atomic_load(&t->sleepers) > 0) {
        pthread_mutex_lock(&t->mutex);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->mutex);
    }
}

/* All threads of the team meet here; what each wrote before is visible to all after. */
static void nn_team_barrier_wait(nn_team* t);
static inline void nn_team_barrier(nn_team* t)
{
    if (t->n > 1)
        nn_team_barrier_wait(t);
}

static void nn_team_barrier_wait(nn_team* t)
{
    int gen = atomic_load_explicit(&t->generation, memory_order_acquire);
    if (atomic_fetch_add(&t->arrived, 1) == t->n - 1) {
        atomic_store_explicit(&t->arrived, 0, memory_order_relaxed);
        atomic_store(&t->generation, gen + 1); /* seq_cst: before reading sleepers */
        nn_team_wake(t);
        return;
    }
    nn_team_wait(t, &t->generation, gen);
}

/* A worker: run each call's fn(arg, tid), then meet the others at the end of it. Every
 * worker takes part in every call, so the job counter moves in lockstep with it. */
static void* nn_team_worker(void* p)
{
    nn_team_seat* seat = (nn_team_seat*)p;
    nn_team* t = seat->team;
    int tid = seat->tid, seen = 0;
    free(seat);
    for (;;) {
        nn_team_wait(t, &t->job, seen);
        seen++;
        if (t->quit)
            return NULL;
        t->fn(t->arg, tid);
        nn_team_barrier(t);
    }
}

static pthread_mutex_t nn_team_cache_mutex = PTHREAD_MUTEX_INITIALIZER;
static nn_team* nn_team_cache = NULL;
static int nn_team_cached = 0;
static pthread_once_t nn_team_fork_once = PTHREAD_ONCE_INIT;
/* Idle teams kept for later calls; more are taken apart when they come back. */
#define NN_TEAM_KEEP 4

static void nn_team_prepare_fork(void) { pthread_mutex_lock(&nn_team_cache_mutex); }
static void nn_team_parent_fork(void) { pthread_mutex_unlock(&nn_team_cache_mutex); }
static void nn_team_child_fork(void)
{
    /* the cached teams' workers were not copied: forget the teams (their memory stays) */
    pthread_mutex_init(&nn_team_cache_mutex, NULL);
    nn_team_cache = NULL;
    nn_team_cached = 0;
}
static void nn_team_register_fork(void)
{
    pthread_atfork(nn_team_prepare_fork, nn_team_parent_fork, nn_team_child_fork);
}

/* A team of n threads (the caller and n - 1 workers): an idle one from the cache, or a new
 * one (fewer threads if some could not be created). NULL if out of memory. */
static nn_team* nn_team_acquire(int n)
{
    nn_team* t;
    nn_team** link;
    if (n > NN_TEAM_MAX)
        n = NN_TEAM_MAX;
    pthread_once(&nn_team_fork_once, nn_team_register_fork);
    pthread_mutex_lock(&nn_team_cache_mutex);
    for (link = &nn_team_cache; *link != NULL; link = &(*link)->next)
        if ((*link)->n == n) {
            t = *link;
            *link = t->next;
            nn_team_cached--;
            pthread_mutex_unlock(&nn_team_cache_mutex);
            return t;
        }
    pthread_mutex_unlock(&nn_team_cache_mutex);
    t = (nn_team*)calloc(1, sizeof(nn_team));
    if (t == NULL)
        return NULL;
    atomic_init(&t->arrived, 0);
    atomic_init(&t->generation, 0);
    atomic_init(&t->sleepers, 0);
    atomic_init(&t->job, 0);
    pthread_mutex_init(&t->mutex, NULL);
    pthread_cond_init(&t->wake, NULL);
    t->n = 1;
    for (int i = 1; i < n; i++) {
        nn_team_seat* seat = (nn_team_seat*)malloc(sizeof(nn_team_seat));
        if (seat == NULL)
            break;
        seat->team = t;
        seat->tid = i;
        if (pthread_create(&t->threads[i], NULL, nn_team_worker, seat) != 0) {
            free(seat);
            break;
        }
        t->n = i + 1;
    }
    return t;
}

/* Run fn(arg, tid) on every thread of the team, tid 0 being the caller; return when all
 * have finished. fn reads the team's size as t->n (through arg) and splits its work by it. */
static void nn_team_run(nn_team* t, nn_team_fn fn, void* arg)
{
    if (t->n > 1) {
        t->fn = fn;
        t->arg = arg;
        atomic_fetch_add(&t->job, 1); /* seq_cst: publishes fn and arg */
        nn_team_wake(t);
    }
    fn(arg, 0);
    nn_team_barrier(t);
}

/* Give the team back: into the cache, or taken apart if the cache is full. */
static void nn_team_release(nn_team* t)
{
    pthread_mutex_lock(&nn_team_cache_mutex);
    if (nn_team_cached < NN_TEAM_KEEP) {
        t->next = nn_team_cache;
        nn_team_cache = t;
        nn_team_cached++;
        pthread_mutex_unlock(&nn_team_cache_mutex);
        return;
    }
    pthread_mutex_unlock(&nn_team_cache_mutex);
    t->quit = 1;
    atomic_fetch_add(&t->job, 1);
    nn_team_wake(t);
    for (int i = 1; i < t->n; i++)
        pthread_join(t->threads[i], NULL);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->mutex);
    free(t);
}

/* [*lo, *hi): part `tid` of `n` items split into `parts` nearly equal runs, each boundary
 * a multiple of `align` (the last part takes the rest). */
static inline void nn_team_split(ptrdiff_t n, int parts, int tid, ptrdiff_t align,
                                 ptrdiff_t* lo, ptrdiff_t* hi)
{
    if (parts <= 1) { /* one thread: everything, without a division */
        *lo = 0;
        *hi = n;
        return;
    }
    ptrdiff_t a = n * tid / parts, b = n * (tid + 1) / parts;
    if (align > 1) {
        a = (a + align / 2) / align * align;
        b = tid == parts - 1 ? n : (b + align / 2) / align * align;
        if (a > n)
            a = n;
        if (b > n)
            b = n;
    }
    *lo = a;
    *hi = b;
}

#endif /* NN_TEAM_H */
