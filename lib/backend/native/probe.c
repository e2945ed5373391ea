/*
 * How fast two cores of this process hand data to each other, for bench.
 * Kernel parts that one core writes are read by the other in the next
 * kernel, so that speed bounds what a second thread gives. On a VM it moves
 * with where the host puts the virtual CPUs: on the 2-core test VM a cache
 * line's round trip took 49-93 ns in some stretches and 403-627 ns in
 * others, data the other core wrote read at 69-112 % or 22-54 % of the speed
 * of one's own, and small's 2-thread step took 0.039 s or 0.044-0.049 s
 * (its 1-thread step 0.07-0.08 s in both).
 */
#define _GNU_SOURCE /* CPU_SET, pthread_setaffinity_np */
#include "glyphnet.h"
#include <pthread.h>
#include <sched.h>

/* Batches of each measurement; the median batch is reported. */
#define BATCHES 5
#define TRIPS 4000
#define READS 40
/* Seconds before a probe whose threads keep losing their cores (a busy
 * machine) gives up: it takes 20-60 ms when they have them. */
#define GIVE_UP_S 2.0

typedef struct {
  atomic_int go, turn, late;
  double deadline;
  int cpu[2];
  uint32_t *buf;
  size_t n;
  double trip_ns[BATCHES], own_s[BATCHES], other_s[BATCHES];
  uint32_t sink;
} Probe;

/* Waits for `turn`; -1 once the probe is past its deadline (for either thread). */
static int wait_turn(Probe *p, int turn) {
  for (unsigned spins = 1; atomic_load(&p->turn) != turn; spins++) {
    gn__relax();
    if (spins % 1024 == 0 && (atomic_load(&p->late) || gn__seconds() > p->deadline)) {
      atomic_store(&p->late, 1);
      return -1;
    }
  }
  return 0;
}

/* Integer sums vectorise (float ones keep their order and do not). */
static uint32_t read_all(const uint32_t *buf, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i < n; i++) s += buf[i];
  return s;
}

static void write_all(uint32_t *buf, size_t n, uint32_t v) {
  for (size_t i = 0; i < n; i++) buf[i] = v + (uint32_t)i;
}

/* Pins the calling probe thread to `cpu` once both threads exist; 0, or
 * -1 when the probe was called off (the other thread did not start). */
static int start(Probe *p, int cpu) {
  int go;
  while ((go = atomic_load(&p->go)) == 0) gn__relax();
  if (go < 0) return -1;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  return 0;
}

/* Turns: the first thread takes odd ones, the second even ones. */
static void *first(void *arg) {
  Probe *p = arg;
  if (start(p, p->cpu[0]) != 0) return NULL;
  int turn = 0;
  for (int b = 0; b < BATCHES; b++) {
    const double t0 = gn__seconds();
    for (int i = 0; i < TRIPS; i++) {
      atomic_store(&p->turn, ++turn);
      if (wait_turn(p, ++turn)) return NULL;
    }
    p->trip_ns[b] = (gn__seconds() - t0) / TRIPS * 1e9;
  }
  for (int b = 0; b < BATCHES; b++) {
    double own = 0;
    for (int r = 0; r < READS; r++) {
      write_all(p->buf, p->n, (uint32_t)r);
      const double t0 = gn__seconds();
      p->sink += read_all(p->buf, p->n);
      own += gn__seconds() - t0;
      write_all(p->buf, p->n, (uint32_t)r + 1);
      atomic_store(&p->turn, ++turn);
      if (wait_turn(p, ++turn)) return NULL;
    }
    p->own_s[b] = own;
  }
  return NULL;
}

static void *second(void *arg) {
  Probe *p = arg;
  if (start(p, p->cpu[1]) != 0) return NULL;
  int turn = 0;
  uint32_t sink = 0;
  for (int b = 0; b < BATCHES; b++) {
    for (int i = 0; i < TRIPS; i++) {
      if (wait_turn(p, ++turn)) return NULL;
      atomic_store(&p->turn, ++turn);
    }
  }
  for (int b = 0; b < BATCHES; b++) {
    double other = 0;
    for (int r = 0; r < READS; r++) {
      if (wait_turn(p, ++turn)) return NULL;
      const double t0 = gn__seconds();
      sink += read_all(p->buf, p->n);
      other += gn__seconds() - t0;
      atomic_store(&p->turn, ++turn);
    }
    p->other_s[b] = other;
  }
  p->sink += sink;
  return NULL;
}

static int by_value(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v) {
  qsort(v, BATCHES, sizeof *v, by_value);
  return v[BATCHES / 2];
}

/* The first two CPUs this process may run on; 0, or -1 when it has fewer. */
static int two_cpus(int cpu[2]) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  int found = 0;
  for (int c = 0; c < CPU_SETSIZE && found < 2; c++) {
    if (CPU_ISSET(c, &set)) cpu[found++] = c;
  }
  return found == 2 ? 0 : -1;
}

/**
 * Two probe threads, pinned to the first two CPUs this process may use,
 * measure: out[0] the round trip of one cache line between them (ns);
 * out[1] and out[2] the GB/s at which a core reads `bytes` it wrote itself
 * and `bytes` the other core wrote. Returns 0, or -1 when the process has
 * fewer than 2 CPUs, memory or a thread was missing, or the threads took
 * longer than GIVE_UP_S (other work holds the cores). The calling thread
 * only waits; nothing else is pinned. About 20-60 ms.
 */
int gn_core_probe(int bytes, double *out) {
  gn__q_drain(); /* the queue's worker must not be running a kernel beside it */
  Probe *p = calloc(1, sizeof *p);
  if (!p) return -1;
  p->n = (size_t)(bytes > 64 ? bytes : 64) / sizeof(uint32_t);
  p->buf = aligned_alloc(64, (p->n * sizeof(uint32_t) + 63) / 64 * 64);
  int rc = -1;
  pthread_t a, b;
  if (p->buf && two_cpus(p->cpu) == 0 && pthread_create(&a, NULL, first, p) == 0) {
    rc = pthread_create(&b, NULL, second, p) == 0 ? 0 : -1;
    p->deadline = gn__seconds() + GIVE_UP_S;
    atomic_store(&p->go, rc == 0 ? 1 : -1);
    if (rc == 0) pthread_join(b, NULL);
    pthread_join(a, NULL);
    if (atomic_load(&p->late)) rc = -1;
  }
  if (rc == 0) {
    const double gb = (double)p->n * sizeof(uint32_t) * READS / 1e9;
    out[0] = median(p->trip_ns);
    out[1] = gb / median(p->own_s);
    out[2] = gb / median(p->other_s);
  }
  free(p->buf);
  free(p);
  return rc;
}
