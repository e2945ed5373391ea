/* The kernel queue: one worker thread runs the kernels, in the order they
 * were queued, while JavaScript goes on building the step (lib/backend/
 * native/queue.ts says when JavaScript must wait). Each gnq_X takes gn_X's
 * arguments, stores them and returns at once; the worker calls gn_X.
 *
 * One producer (the JS thread) and one consumer (the worker) share a ring of
 * tasks through two counters: `queued` (written by the producer) and `done`
 * (by the worker). Either side spins a little before it sleeps, and each
 * wakes the other only when it says it sleeps (seq_cst on both counters and
 * both flags, so a wake-up is never lost). */
#include "glyphnet.h"
#include <pthread.h>
#include <sched.h>

typedef union {
  const void *p;
  long long i;
  double d;
} Arg;

typedef struct {
  int (*run)(const Arg *a);
  const char *name;
  Arg a[15];
} Task;

/* A step queues about 600 tasks; a full ring makes the producer wait. */
#define RING 4096
/* Spins before sleeping: about 30-60 µs, longer than the JavaScript between two
 * kernels, so a kernel queued soon after the last finds the worker awake. */
#define SPINS 20000

static Task ring[RING];
/* The counters (`gn__queued`, `gn__done`) live in pool.c, which waits on them. */
#define queued gn__queued
#define done gn__done
static atomic_int worker_sleeps, waiter_sleeps, started;
/* The task count the sleeping waiter waits for: the worker wakes it only
 * then (waking it after every task cost a futex call per task and took the
 * other core from the kernel's second thread each time). */
static atomic_ullong wait_target;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER, done_cond = PTHREAD_COND_INITIALIZER;
static pthread_t worker;
/* The first failure since the last gn_q_error_copy: the kernel's name. */
static const char *failed;

static void run_one(Task *t) {
  if (t->run(t->a) != 0 && !failed) failed = t->name;
}

static void *work(void *unused) {
  (void)unused;
  gn__on_worker = 1;
  unsigned long long next = atomic_load(&done);
  for (;;) {
    int spins = 0;
    while (atomic_load(&queued) == next) {
      if (++spins < SPINS) {
        gn__relax();
        continue;
      }
      pthread_mutex_lock(&lock);
      atomic_store(&worker_sleeps, 1);
      while (atomic_load(&queued) == next) pthread_cond_wait(&work_cond, &lock);
      atomic_store(&worker_sleeps, 0);
      pthread_mutex_unlock(&lock);
    }
    run_one(&ring[next % RING]);
    atomic_store(&done, ++next);
    if (atomic_load(&waiter_sleeps) && next >= atomic_load(&wait_target)) {
      pthread_mutex_lock(&lock);
      pthread_cond_broadcast(&done_cond);
      pthread_mutex_unlock(&lock);
    }
  }
  return NULL; /* never: the worker lives as long as the process */
}

/**
 * Starts the worker (once per process) and returns the tasks done so far
 * (all that were queued: a caller starting again, e.g. a second Deno
 * isolate in `deno test`, numbers its tasks from there), or -1 when the
 * thread could not start. The library then stays loaded for good: the
 * worker runs its code, so a dlclose must not unmap it.
 */
double gn_q_start(void) {
  if (!atomic_load(&started)) {
    if (gn__pin_library() != 0 || pthread_create(&worker, NULL, work, NULL) != 0) return -1;
    atomic_store(&started, 1);
    /* At exit the worker must not be inside a kernel while libraries
     * unload: exit waits for the queued tasks. (Stopping and joining the
     * worker there instead crashed at exit in every small run at 2 threads.) */
    atexit(gn__q_drain);
  }
  gn__q_drain();
  return (double)atomic_load(&done);
}

/** Tasks the worker has finished since the start. */
double gn_q_done(void) { return (double)atomic_load(&done); }

/**
 * Waits until `upto` tasks are done (spinning briefly, then sleeping).
 * Returns 1 when a kernel failed since the last gn_q_error_copy, else 0.
 */
int gn_q_wait(double upto) {
  const unsigned long long target = (unsigned long long)upto;
  int spins = 0;
  /* With threads to spare, this thread is a runner while it waits: it runs
   * parts of the worker's kernels instead of sleeping. */
  const int runs_parts = gn__threads() > 1;
  while (atomic_load(&done) < target) {
    if (runs_parts) {
      /* Spinning keeps this thread ready for the next kernel's parts; SPINS
       * after the last part it ran, it yields its core each time round, in
       * case another thread (more busy threads than cores) waits for one. */
      if (gn__join() > 0) spins = 0;
      if (++spins < SPINS) gn__relax();
      else sched_yield();
      continue;
    }
    if (++spins < SPINS) {
      gn__relax();
      continue;
    }
    pthread_mutex_lock(&lock);
    atomic_store(&wait_target, target);
    atomic_store(&waiter_sleeps, 1);
    while (atomic_load(&done) < target) pthread_cond_wait(&done_cond, &lock);
    atomic_store(&waiter_sleeps, 0);
    pthread_mutex_unlock(&lock);
  }
  return failed != NULL;
}

/** Copies the failed kernel's name into out (cap bytes, NUL-ended), clears it; returns its length. */
int gn_q_error_copy(char *out, int cap) {
  const int k = gn__copy_text(failed ? failed : "", out, cap);
  failed = NULL;
  return k;
}

static Task *slot(void) {
  const unsigned long long q = atomic_load(&queued);
  while (q - atomic_load(&done) >= RING) sched_yield();
  return &ring[q % RING];
}

static void publish(void) {
  atomic_fetch_add(&queued, 1);
  if (atomic_load(&worker_sleeps)) {
    pthread_mutex_lock(&lock);
    pthread_cond_signal(&work_cond);
    pthread_mutex_unlock(&lock);
  }
}

#define AP(x) ((Arg){.p = (const void *)(x)})
#define AI(x) ((Arg){.i = (long long)(x)})
#define AD(x) ((Arg){.d = (double)(x)})
#define PF(k) ((float *)a[k].p)
#define PI(k) ((int *)a[k].p)
#define PD(k) ((const double *)a[k].p)
#define IV(k) ((int)a[k].i)
#define FV(k) ((float)a[k].d)
/* Stores fn's name, its runner and its arguments in the next slot and publishes it. */
#define ENQUEUE(fn, ...)                              \
  do {                                                \
    Task *t_ = slot();                                \
    const Arg args_[] = {__VA_ARGS__};                \
    t_->run = run_##fn;                               \
    t_->name = #fn;                                   \
    memcpy(t_->a, args_, sizeof args_);               \
    publish();                                        \
  } while (0)

static int run_gn_conv2d(const Arg *a) { return gn_conv2d(PF(0), PF(1), PF(2), PI(3)); }
void gnq_conv2d(const float *x, const float *w, float *y, const int *g) {
  ENQUEUE(gn_conv2d, AP(x), AP(w), AP(y), AP(g));
}

static int run_gn_conv2d_bwd_input(const Arg *a) {
  return gn_conv2d_bwd_input(PF(0), PF(1), PF(2), PI(3));
}
void gnq_conv2d_bwd_input(const float *dy, const float *w, float *dx, const int *g) {
  ENQUEUE(gn_conv2d_bwd_input, AP(dy), AP(w), AP(dx), AP(g));
}

static int run_gn_conv2d_bwd_input_add(const Arg *a) {
  return gn_conv2d_bwd_input_add(PF(0), PF(1), PF(2), PF(3), PI(4));
}
void gnq_conv2d_bwd_input_add(const float *dy, const float *w, const float *add, float *dx,
                              const int *g) {
  ENQUEUE(gn_conv2d_bwd_input_add, AP(dy), AP(w), AP(add), AP(dx), AP(g));
}

static int run_gn_conv2d_bwd_filter(const Arg *a) {
  return gn_conv2d_bwd_filter(PF(0), PF(1), PF(2), PI(3));
}
void gnq_conv2d_bwd_filter(const float *x, const float *dy, float *dw, const int *g) {
  ENQUEUE(gn_conv2d_bwd_filter, AP(x), AP(dy), AP(dw), AP(g));
}

static int run_gn_matmul(const Arg *a) {
  gn_matmul(PF(0), PF(1), PF(2), IV(3), IV(4), IV(5), IV(6), IV(7), IV(8), IV(9), IV(10));
  return 0;
}
void gnq_matmul(const float *a, const float *b, float *c, int batch, int m, int n, int k, int ta,
                int tb, int stride_a, int stride_b) {
  ENQUEUE(gn_matmul, AP(a), AP(b), AP(c), AI(batch), AI(m), AI(n), AI(k), AI(ta), AI(tb), AI(stride_a),
          AI(stride_b));
}

static int run_gn_block_fwd(const Arg *a) {
  return gn_block_fwd(PF(0), PF(1), PF(2), PF(3), PF(4), PF(5), PF(6), PF(7), PF(8), PI(9), IV(10),
                      IV(11), FV(12), PF(13));
}
void gnq_block_fwd(const float *x, const float *w, const float *bias, const float *gamma,
                   const float *beta, float *y, float *conv, float *mean, float *var, const int *g,
                   int transpose, int act, float eps, const float *res) {
  ENQUEUE(gn_block_fwd, AP(x), AP(w), AP(bias), AP(gamma), AP(beta), AP(y), AP(conv), AP(mean), AP(var),
          AP(g), AI(transpose), AI(act), AD(eps), AP(res));
}

static int run_gn_bn_act_bwd(const Arg *a) {
  return gn_bn_act_bwd(PF(0), PF(1), PF(2), PF(3), PF(4), PF(5), PF(6), (size_t)a[7].i, IV(8),
                       IV(9), FV(10), PF(11), PF(12), PF(13), PF(14));
}
void gnq_bn_act_bwd(const float *dy, const float *z, const float *mean, const float *bias,
                    const float *var, const float *gamma, const float *beta, size_t rows, int c,
                    int act, float eps, float *dz, float *dgamma, float *dbeta, float *dbias) {
  ENQUEUE(gn_bn_act_bwd, AP(dy), AP(z), AP(mean), AP(bias), AP(var), AP(gamma), AP(beta), AI(rows), AI(c),
          AI(act), AD(eps), AP(dz), AP(dgamma), AP(dbeta), AP(dbias));
}

static int run_gn_unary(const Arg *a) {
  gn_unary(IV(0), PF(1), PF(2), (size_t)a[3].i);
  return 0;
}
void gnq_unary(int op, const float *x, float *out, size_t n) {
  ENQUEUE(gn_unary, AI(op), AP(x), AP(out), AI(n));
}

static int run_gn_reduce(const Arg *a) {
  return gn_reduce(IV(0), PF(1), PF(2), PI(3), (size_t)a[4].i);
}
void gnq_reduce(int op, const float *x, float *out, const int *d, size_t len) {
  ENQUEUE(gn_reduce, AI(op), AP(x), AP(out), AP(d), AI(len));
}

static int run_gn_random_normal(const Arg *a) {
  gn_random_normal(a[0].d, PF(1), (size_t)a[2].i, FV(3), FV(4));
  return 0;
}
void gnq_random_normal(double seed, float *out, size_t n, float mean, float sd) {
  ENQUEUE(gn_random_normal, AD(seed), AP(out), AI(n), AD(mean), AD(sd));
}

static int run_gn_adam(const Arg *a) {
  gn_adam(PF(0), PF(1), PF(2), PF(3), PF(4), PF(5), PF(6), IV(7), FV(8), FV(9), FV(10), FV(11));
  return 0;
}
void gnq_adam(const float *value, const float *grad, const float *m, const float *v,
              float *value_out, float *m_out, float *v_out, int n, float a, float b1, float b2,
              float e) {
  ENQUEUE(gn_adam, AP(value), AP(grad), AP(m), AP(v), AP(value_out), AP(m_out), AP(v_out), AI(n), AD(a),
          AD(b1), AD(b2), AD(e));
}

static int run_gn_moving_average(const Arg *a) {
  gn_moving_average(PF(0), PF(1), PF(2), IV(3), FV(4), FV(5));
  return 0;
}
void gnq_moving_average(const float *m, const float *x, float *out, int n, float keep,
                        float take) {
  ENQUEUE(gn_moving_average, AP(m), AP(x), AP(out), AI(n), AD(keep), AD(take));
}

static int run_gn_binary(const Arg *a) {
  gn_binary(IV(0), PF(1), IV(2), PF(3), IV(4), PF(5), IV(6));
  return 0;
}
void gnq_binary(int op, const float *a, int na, const float *b, int nb, float *out, int n) {
  ENQUEUE(gn_binary, AI(op), AP(a), AI(na), AP(b), AI(nb), AP(out), AI(n));
}

static int run_gn_binary_bcast(const Arg *a) {
  gn_binary_bcast(IV(0), PF(1), PF(2), PF(3), PI(4));
  return 0;
}
void gnq_binary_bcast(int op, const float *a, const float *b, float *out, const int *d) {
  ENQUEUE(gn_binary_bcast, AI(op), AP(a), AP(b), AP(out), AP(d));
}

static int run_gn_transpose(const Arg *a) {
  gn_transpose(PF(0), PF(1), PI(2));
  return 0;
}
void gnq_transpose(const float *x, float *out, const int *d) {
  ENQUEUE(gn_transpose, AP(x), AP(out), AP(d));
}

static int run_gn_gather_weighted(const Arg *a) {
  gn_gather_weighted(PF(0), PI(1), PF(2), PF(3), IV(4), IV(5), IV(6), IV(7));
  return 0;
}
void gnq_gather_weighted(const float *x, const int *index, const float *weight, float *out,
                         int count, int B, int HW, int C) {
  ENQUEUE(gn_gather_weighted, AP(x), AP(index), AP(weight), AP(out), AI(count), AI(B), AI(HW), AI(C));
}

static int run_gn_scatter_weighted(const Arg *a) {
  gn_scatter_weighted(PF(0), PI(1), PF(2), PF(3), IV(4), IV(5), IV(6), IV(7));
  return 0;
}
void gnq_scatter_weighted(const float *dy, const int *index, const float *weight, float *dx,
                          int count, int B, int HW, int C) {
  ENQUEUE(gn_scatter_weighted, AP(dy), AP(index), AP(weight), AP(dx), AI(count), AI(B), AI(HW), AI(C));
}

static int run_gn_correlate3x3(const Arg *a) {
  gn_correlate3x3(PF(0), PD(1), PF(2), IV(3), IV(4), IV(5), IV(6));
  return 0;
}
void gnq_correlate3x3(const float *x, const double *kernel, float *y, int B, int H, int W, int C) {
  ENQUEUE(gn_correlate3x3, AP(x), AP(kernel), AP(y), AI(B), AI(H), AI(W), AI(C));
}

static int run_gn_blur(const Arg *a) {
  return gn_blur(PF(0), PF(1), IV(2), PF(3), IV(4), IV(5), IV(6), IV(7));
}
void gnq_blur(const float *x, const float *taps, int T, float *y, int B, int H, int W, int C) {
  ENQUEUE(gn_blur, AP(x), AP(taps), AI(T), AP(y), AI(B), AI(H), AI(W), AI(C));
}

static int run_gn_squash(const Arg *a) {
  gn_squash(PF(0), PD(1), PF(2), PF(3), IV(4), (size_t)a[5].i);
  return 0;
}
void gnq_squash(const float *x, const double *params, float *value, float *grad, int B,
                size_t per) {
  ENQUEUE(gn_squash, AP(x), AP(params), AP(value), AP(grad), AI(B), AI(per));
}
