/* _blas_threads.h -- set the BLAS thread count for the span of a call, for a few ns.
 *
 * Why: threadpoolctl's threadpool_limits walks every loaded library on each use (about a
 * millisecond per predict with n_threads set). OpenBLAS exports its own setter; resolved
 * once, calling it costs nanoseconds. The library is the one scipy.linalg.cython_blas
 * calls into (found with dladdr on its sgemm, so never a different BLAS of the process),
 * or any library given by path (numpy's BLAS, for the NumPy backend). OpenBLAS's symbol
 * carries the build's prefix/suffix (scipy_openblas_set_num_threads64_, ...), tried as
 * threadpoolctl does.
 *
 * The count is process-wide in OpenBLAS (pthreads builds; openblas_set_num_threads_local
 * only differs under OpenMP), so scopes are counted: the first scope to enter saves the
 * count, each scope sets its own, the last to leave restores the saved one, under one
 * mutex. Concurrent scopes asking for different counts overlap with the later request in
 * force. OpenBLAS's GEMM results can differ in the last bits between thread counts (seen:
 * its Haswell sgemm at 1 and 2 threads), so a product is bitwise repeatable at a given
 * count, and overlapping scopes of different counts give results within rounding of each
 * other (tests/test_serving.py). One-row predictions never call BLAS (_gemv_body.h).
 */
#ifndef NN_BLAS_THREADS_H
#define NN_BLAS_THREADS_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define NN_BT_MAX 4

typedef void (*nn_bt_set_fn)(int);
typedef int (*nn_bt_get_fn)(void);

static struct {
    nn_bt_set_fn set;
    nn_bt_get_fn get;
    int saved;
    int cap; /* the count when resolved: never set above it (see nn_bt_enter) */
    char path[512];
    char symbol[64];
} nn_bt_libs[NN_BT_MAX];
static int nn_bt_count = 0, nn_bt_active = 0;
static int nn_bt_team = 0;              /* team calls active (see nn_bt_team_enter) */
static int nn_bt_outside[NN_BT_MAX];    /* the counts outside them */
static pthread_mutex_t nn_bt_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Resolve the OpenBLAS setter/getter of the library at `path` or its dependencies (already
 * loaded; never loaded here). Returns its slot, or -1. Idempotent. Call with the GIL held. */
static int nn_bt_add_path(const char* path)
{
    static const char* pre[] = {"", "scipy_"};
    static const char* suf[] = {"", "64_", "_64"};
    char sname[64], gname[64];
    int i, p, s;
    if (nn_bt_count == NN_BT_MAX)
        return -1;
    void* h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL)
        return -1;
    for (p = 0; p < 2; p++) {
        for (s = 0; s < 3; s++) {
            snprintf(sname, sizeof sname, "%sopenblas_set_num_threads%s", pre[p], suf[s]);
            snprintf(gname, sizeof gname, "%sopenblas_get_num_threads%s", pre[p], suf[s]);
            void* fs = dlsym(h, sname);
            void* fg = dlsym(h, gname);
            if (fs != NULL && fg != NULL) {
                /* `path` may be a module that links the BLAS (scipy's cython_blas):
                 * dlsym searched its dependencies; name the library that defines it */
                Dl_info info;
                const char* real = (dladdr(fs, &info) && info.dli_fname) ? info.dli_fname
                                                                         : path;
                for (i = 0; i < nn_bt_count; i++)
                    if (strcmp(nn_bt_libs[i].path, real) == 0) {
                        dlclose(h);
                        return i;
                    }
                if (strlen(real) >= sizeof nn_bt_libs[0].path)
                    break;
                i = nn_bt_count;
                memcpy(&nn_bt_libs[i].set, &fs, sizeof fs);
                memcpy(&nn_bt_libs[i].get, &fg, sizeof fg);
                strcpy(nn_bt_libs[i].path, real);
                strcpy(nn_bt_libs[i].symbol, sname);
                /* the count now: what a scope already running will restore */
                nn_bt_libs[i].saved = nn_bt_libs[i].get();
                nn_bt_libs[i].cap = nn_bt_libs[i].saved > 0 ? nn_bt_libs[i].saved : 1;
                /* published last, under the mutex the scopes read it with */
                pthread_mutex_lock(&nn_bt_mutex);
                nn_bt_outside[i] = nn_bt_libs[i].saved;
                nn_bt_count = i + 1;
                pthread_mutex_unlock(&nn_bt_mutex);
                dlclose(h); /* NOLOAD took a reference; the library stays loaded */
                return i;
            }
        }
    }
    dlclose(h);
    return -1;
}

/* The library that holds `fn` (a BLAS routine's address). */
static int nn_bt_add_symbol(void* fn)
{
    Dl_info info;
    if (fn == NULL || dladdr(fn, &info) == 0 || info.dli_fname == NULL)
        return -1;
    return nn_bt_add_path(info.dli_fname);
}

/* Training teams (_team.h, _train.pxi) run BLAS at one thread: while any team call is
 * active (nn_bt_team > 0) every library is held at 1, and what the scopes ask for is kept in
 * nn_bt_outside[] instead, set back when the last team call ends. So a team's GEMMs never
 * run more threads than the team, whatever scope another Python thread opens meanwhile,
 * and nn_bt_budget() gives every call the same count (the one outside the teams). */
/* Set library i to `want` threads, or record it for after the teams. Under the mutex. */
static void nn_bt_apply(int i, int want)
{
    if (nn_bt_team > 0) {
        nn_bt_outside[i] = want;
        want = 1;
    }
    if (nn_bt_libs[i].get() != want)
        nn_bt_libs[i].set(want);
}

/* The count library i has, or would have without the team calls. Under the mutex. */
static int nn_bt_now(int i) { return nn_bt_team > 0 ? nn_bt_outside[i] : nn_bt_libs[i].get(); }

/* Enter a scope of n threads in every resolved library (n >= 1), at most the library's
 * count when it was resolved: OpenBLAS sizes its buffers for the threads it starts with,
 * and raising the count above that crashed SciPy 1.15's OpenBLAS (0.3.28) in sgemm. */
static void nn_bt_enter(int n)
{
    pthread_mutex_lock(&nn_bt_mutex);
    for (int i = 0; i < nn_bt_count; i++) {
        if (nn_bt_active == 0)
            nn_bt_libs[i].saved = nn_bt_now(i);
        nn_bt_apply(i, n < nn_bt_libs[i].cap ? n : nn_bt_libs[i].cap);
    }
    nn_bt_active++;
    pthread_mutex_unlock(&nn_bt_mutex);
}

/* Leave a scope; the last one out restores the counts saved by the first one in. */
static void nn_bt_exit(void)
{
    pthread_mutex_lock(&nn_bt_mutex);
    if (nn_bt_active > 0 && --nn_bt_active == 0)
        for (int i = 0; i < nn_bt_count; i++)
            nn_bt_apply(i, nn_bt_libs[i].saved);
    pthread_mutex_unlock(&nn_bt_mutex);
}

/* A team call starts / ends (see above). */
static void nn_bt_team_enter(void)
{
    pthread_mutex_lock(&nn_bt_mutex);
    if (nn_bt_team++ == 0)
        for (int i = 0; i < nn_bt_count; i++) {
            nn_bt_outside[i] = nn_bt_libs[i].get();
            if (nn_bt_outside[i] != 1)
                nn_bt_libs[i].set(1);
        }
    pthread_mutex_unlock(&nn_bt_mutex);
}

static void nn_bt_team_exit(void)
{
    pthread_mutex_lock(&nn_bt_mutex);
    if (nn_bt_team > 0 && --nn_bt_team == 0)
        for (int i = 0; i < nn_bt_count; i++)
            if (nn_bt_libs[i].get() != nn_bt_outside[i])
                nn_bt_libs[i].set(nn_bt_outside[i]);
    pthread_mutex_unlock(&nn_bt_mutex);
}

/* The thread count the kernels' BLAS (library 0) has outside the team calls: the budget
 * of a training call. 0 if no library was resolved. */
static int nn_bt_budget(void)
{
    int n = 0;
    pthread_mutex_lock(&nn_bt_mutex);
    if (nn_bt_count > 0)
        n = nn_bt_now(0);
    pthread_mutex_unlock(&nn_bt_mutex);
    return n;
}

static int nn_bt_get(int i) { return nn_bt_libs[i].get(); }
static int nn_bt_n(void) { return nn_bt_count; }
static const char* nn_bt_path(int i) { return nn_bt_libs[i].path; }
static const char* nn_bt_symbol(int i) { return nn_bt_libs[i].symbol; }

#endif /* NN_BLAS_THREADS_H */
