/*
 * Runners: the threads that run a kernel's parts (gn__parallel). The thread
 * that calls a kernel posts the parts as a job and runs them itself, while
 * helper threads, and the JavaScript thread while it waits for the kernel
 * queue (gn_q_wait), claim parts of the same job from one atomic counter.
 *
 * Nobody waits for a runner that comes late: a part nobody claimed is run by
 * the caller, which then waits only for parts that others are running. With
 * OpenMP, a region ended when every thread had arrived; on the 2-core test
 * machine its second thread often had to be woken (a futex call and an
 * interrupt in the VM) or had lost its core to JavaScript, and at the small
 * config the region ends and wake-ups took about a fifth of the worker's
 * time. Now the JavaScript thread, which has a core of its own while it
 * waits, is the queue's second runner on 2 cores: nothing needs waking.
 *
 * Which thread runs a part never changes its bits: parts are fixed by the
 * shapes and the thread count set (gn__team), never by who runs them.
 */
#define _POSIX_C_SOURCE 200809L /* sched_yield */
#include "glyphnet.h"
#include <pthread.h>
#include <sched.h>

/* Threads the team uses; set once per process from JS (synchronous calls). */
static int team_threads = 1;

/* Work per part below which a kernel is cut into fewer parts. Work is in
 * GEMM flops: each kernel scales its count by its cost per value against
 * sgemm's ~50 GFLOP/s on one core (batch norm ~40 per value, a normal draw
 * ~450), so 0.5 M is about 10 µs. With OpenMP, parts under ~0.4 ms (10 M)
 * lost more to wake-ups than they gained; the runners wake nobody for the
 * queue's jobs, and on 2 threads small kernels now pay: in one process,
 * small's step took 72 ms with 0.5 M (0.1-0.2 M: the same), 82 ms with 10 M;
 * tiny's took 12 ms with either. */
#define TEAM_MIN_WORK 5e5
static double min_work = TEAM_MIN_WORK;

/* An idle helper spins FINISH_SPINS, then yields its core HELPER_YIELDS
 * times (about 100 µs in all, longer than the JavaScript between two
 * kernels, so a helper is usually awake for the next), then sleeps. */
#define HELPER_YIELDS 100
/* Spins of a caller waiting for parts others run before it yields its core:
 * about 10 µs. */
#define FINISH_SPINS 3000
/* Most helper threads (the job word below keeps part counts in 16 bits). */
#define MAX_HELPERS 1023

/*
 * The open job. `job_word` holds its number (high 32 bits), the next part to
 * claim (bits 16-31) and its part count (low 16 bits), so a claim is one
 * compare-and-swap that fails once the job is over or replaced. fn and ctx
 * are written before the word that opens the job and read only after a
 * claim, while the job cannot end.
 */
static atomic_ullong job_word;
static GnPart job_fn;
static void *job_ctx;
static atomic_int job_finished, job_helpers;
/* Jobs are posted by one thread at a time (kernels run one at a time). */
static unsigned job_id;

static int helpers_started;
static atomic_int helpers_asleep;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t posted = PTHREAD_COND_INITIALIZER;
/* Most threads a test lets run a kernel's parts (gn_set_runners); 0: any. */
static int runner_cap;

static inline unsigned word_id(unsigned long long w) { return (unsigned)(w >> 32); }
static inline int word_next(unsigned long long w) { return (int)((w >> 16) & 0xffff); }
static inline int word_parts(unsigned long long w) { return (int)(w & 0xffff); }

/* Claims the next part of job `id`: its index, or -1 when none is left. */
static int claim(unsigned id) {
  unsigned long long w = atomic_load(&job_word);
  while (word_id(w) == id && word_next(w) < word_parts(w)) {
    if (atomic_compare_exchange_weak(&job_word, &w, w + (1ull << 16))) return word_next(w);
  }
  return -1;
}

/* 1 on a thread while it runs a part: a kernel called from inside a part
 * runs its own parts in turn, since one job is open at a time. */
static _Thread_local int in_part;

/* Runs parts of job `id` until none is left to claim; returns how many. */
static int run_parts(unsigned id, int parts) {
  int ran = 0;
  in_part = 1;
  for (int t; (t = claim(id)) >= 0; ran++) {
    job_fn(job_ctx, t, parts);
    atomic_fetch_add(&job_finished, 1);
  }
  in_part = 0;
  return ran;
}

int gn__join(void) {
  const unsigned long long w = atomic_load(&job_word);
  return word_next(w) < word_parts(w) ? run_parts(word_id(w), word_parts(w)) : 0;
}

/* Helper `me` joins the jobs that want it (job_helpers > me). Idle, it spins
 * a while, then sleeps until a job is posted; jobs that do not want it do not
 * keep it spinning (on 2 cores the queue's jobs want no helper). */
static void *helper(void *arg) {
  const int me = (int)(intptr_t)arg;
  unsigned seen = word_id(atomic_load(&job_word));
  for (;;) {
    int spins = 0;
    unsigned long long w;
    for (;;) {
      w = atomic_load(&job_word);
      if (word_id(w) != seen) {
        seen = word_id(w);
        if (me < atomic_load(&job_helpers)) break;
      }
      if (++spins < FINISH_SPINS) {
        gn__relax();
        continue;
      }
      if (spins < FINISH_SPINS + HELPER_YIELDS) {
        sched_yield(); /* a thread waiting for a core gets it */
        continue;
      }
      pthread_mutex_lock(&lock);
      atomic_fetch_add(&helpers_asleep, 1);
      while (word_id(atomic_load(&job_word)) == seen) pthread_cond_wait(&posted, &lock);
      atomic_fetch_sub(&helpers_asleep, 1);
      pthread_mutex_unlock(&lock);
      spins = 0;
    }
    run_parts(seen, word_parts(w));
  }
  return NULL; /* never: helpers live as long as the process */
}

static void start_helpers(int n) {
  if (n > MAX_HELPERS) n = MAX_HELPERS;
  /* Helpers run this library's code until the process ends (Deno closes
   * libraries it opened). */
  if (helpers_started == 0 && n > 0 && gn__pin_library() != 0) return;
  for (; helpers_started < n; helpers_started++) {
    pthread_t t;
    if (pthread_create(&t, NULL, helper, (void *)(intptr_t)helpers_started) != 0) return;
    pthread_detach(t);
  }
}

/* Helpers that may join a job of `team` parts posted now: on the queue's
 * worker, one thread fewer than set (the JavaScript thread joins while it
 * waits); not more than a test's cap allows, nor than the parts after the
 * caller's. */
static int helpers_for(int team) {
  int n = gn__threads() - 1;
  if (gn__on_worker) n--;
  if (runner_cap > 0 && n > runner_cap - 1) n = runner_cap - 1;
  if (n > team - 1) n = team - 1;
  if (n > helpers_started) n = helpers_started;
  return n < 0 ? 0 : n;
}

void gn__parallel(int team, GnPart fn, void *ctx) {
  if (team < 1) team = 1;
  const int alone = team == 1 || in_part || runner_cap == 1 || gn__q_busy_elsewhere();
  const int helpers = alone ? 0 : helpers_for(team);
  if (alone || (helpers == 0 && !gn__on_worker)) {
    for (int t = 0; t < team; t++) fn(ctx, t, team);
    return;
  }
  job_fn = fn;
  job_ctx = ctx;
  atomic_store(&job_finished, 0);
  atomic_store(&job_helpers, helpers);
  const unsigned id = ++job_id;
  atomic_store(&job_word, (unsigned long long)id << 32 | (unsigned long long)team);
  if (helpers > 0 && atomic_load(&helpers_asleep) > 0) {
    pthread_mutex_lock(&lock);
    pthread_cond_broadcast(&posted);
    pthread_mutex_unlock(&lock);
  }
  run_parts(id, team);
  /* The parts left run on other threads. On a machine with more busy threads
   * than cores, one of them may be waiting for this core: yield it. */
  for (int spins = 0; atomic_load(&job_finished) < team; spins++) {
    if (spins < FINISH_SPINS) gn__relax();
    else sched_yield();
  }
}

/** Caps the threads that run a kernel's parts (tests: the bits must not change); 0 lifts it. */
void gn_set_runners(int cap) {
  gn__q_drain();
  runner_cap = cap < 0 ? 0 : cap;
}

int gn__threads(void) { return team_threads; }

int gn__team(double work) {
  if (team_threads <= 1 || work < 2 * min_work) return 1;
  const double t = min_work > 0 ? work / min_work : team_threads;
  return t < team_threads ? (int)t : team_threads;
}

/** Sets the smallest work split over the team (tests pass 0 to thread tiny shapes); < 0 resets. */
void gn_set_min_work(double work) {
  gn__q_drain();
  min_work = work < 0 ? TEAM_MIN_WORK : work;
}

/**
 * Sets the threads kernels run on: the caller and n - 1 helpers (below),
 * fewer when no more could start. OpenBLAS stays at 1 thread: kernels call
 * it from inside their parts, each on its own block.
 */
void gn_set_threads(int n) {
  gn__q_drain();
  start_helpers(n - 1);
  team_threads = n < 1 ? 1 : (n > helpers_started + 1 ? helpers_started + 1 : n);
#ifndef __APPLE__
  openblas_set_num_threads(1);
#endif
}

/** Threads of the team. */
int gn_get_threads(void) { return team_threads; }
