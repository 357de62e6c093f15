/*
 * rml.c — errors, the seeded generator, SHA-256, CRC-32 and thread control
 * shared by all of librmlops. Nothing here allocates.
 */
#include "rml.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

/* OpenBLAS's own controls; declared here so no cblas header is needed. */
void openblas_set_num_threads(int n);

const char *rml_strerror(rml_status code)
{
	switch (code) {
	case RML_OK: return "success";
	case RML_ERR_IO: return "input/output error or unexpected end of input";
	case RML_ERR_FORMAT: return "malformed input";
	case RML_ERR_VERSION: return "unsupported format version";
	case RML_ERR_LIMIT: return "size beyond the supported limits";
	case RML_ERR_NOMEM: return "out of memory";
	case RML_ERR_ARG: return "invalid argument";
	case RML_ERR_MISMATCH: return "inputs do not match";
	case RML_ERR_NUMERIC: return "numerical failure";
	}
	return "unknown error";
}

rml_status rml_errorf(rml_error *err, rml_status code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* ---- random numbers ---------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rml_rng_seed(rml_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->has_spare = 0;
	r->spare = 0;
}

void rml_rng_seed_stream(rml_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed ^ 0x5851f42d4c957f2dULL;
	uint64_t a = splitmix64(&x);
	x = stream + 0x14057b7ef767814fULL;
	uint64_t b = splitmix64(&x);
	rml_rng_seed(r, a ^ (b * 0x9e3779b97f4a7c15ULL));
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rml_rng_u64(rml_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double rml_rng_uniform(rml_rng *r)
{
	return (double)(rml_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t rml_rng_below(rml_rng *r, uint64_t n)
{
	if (n <= 1)
		return 0;
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = rml_rng_u64(r);
	while (x >= limit);
	return x % n;
}

double rml_rng_normal(rml_rng *r)
{
	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	double u, v, s;
	do {
		u = 2.0 * rml_rng_uniform(r) - 1.0;
		v = 2.0 * rml_rng_uniform(r) - 1.0;
		s = u * u + v * v;
	} while (s >= 1.0 || s == 0.0);
	double m = sqrt(-2.0 * log(s) / s);
	r->spare = v * m;
	r->has_spare = 1;
	return u * m;
}

void rml_rng_shuffle(rml_rng *r, int64_t *idx, int64_t n)
{
	for (int64_t i = n - 1; i > 0; i--) {
		int64_t j = (int64_t)rml_rng_below(r, (uint64_t)i + 1);
		int64_t t = idx[i];
		idx[i] = idx[j];
		idx[j] = t;
	}
}

/* ---- SHA-256 (FIPS 180-4) ----------------------------------------------- */

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, int k)
{
	return (x >> k) | (x << (32 - k));
}

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
	uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t S1 = ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + S1 + ch + K256[i] + w[i];
		uint32_t S0 = ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22);
		uint32_t mj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + mj;
		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void rml_sha256_init(rml_sha256 *c)
{
	static const uint32_t h0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	memcpy(c->h, h0, sizeof h0);
	c->len = 0;
	c->fill = 0;
}

void rml_sha256_update(rml_sha256 *c, const void *data, size_t n)
{
	const uint8_t *p = data;
	c->len += n;
	if (c->fill) {
		size_t take = 64 - c->fill < n ? 64 - c->fill : n;
		memcpy(c->buf + c->fill, p, take);
		c->fill += take;
		p += take;
		n -= take;
		if (c->fill < 64)
			return;
		sha256_block(c->h, c->buf);
		c->fill = 0;
	}
	for (; n >= 64; p += 64, n -= 64)
		sha256_block(c->h, p);
	memcpy(c->buf, p, n);
	c->fill = n;
}

void rml_sha256_final(rml_sha256 *c, uint8_t out[32])
{
	uint64_t bits = c->len * 8;
	uint8_t pad = 0x80;
	rml_sha256_update(c, &pad, 1);
	uint8_t zero = 0;
	while (c->fill != 56)
		rml_sha256_update(c, &zero, 1);
	uint8_t l[8];
	for (int i = 0; i < 8; i++)
		l[i] = (uint8_t)(bits >> (56 - 8 * i));
	rml_sha256_update(c, l, 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(c->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c->h[i];
	}
}

void rml_hex32(const uint8_t d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
}

uint32_t rml_crc32(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;
	/* zlib takes uInt lengths; feed large buffers in pieces. */
	while (n > 0) {
		uInt take = n > (1u << 30) ? (1u << 30) : (uInt)n;
		crc = (uint32_t)crc32(crc, p, take);
		p += take;
		n -= take;
	}
	return crc;
}

/* ---- threads ------------------------------------------------------------ */

/*
 * Sharing the cores. libgomp's threads wait for each other at the end of
 * every parallel region by spinning, 300,000 rounds before they sleep,
 * unless the process runs more OpenMP threads than it has CPUs; then they
 * spin 100 rounds (GOMP_SPINCOUNT in the GCC manual). A training step or a
 * forward pass opens hundreds of regions. When another process (a second
 * rmlops program, a pipeline stage, a build) holds one of the cores, a
 * waiting thread spins away the time its descheduled partner needs, and
 * every region ends only when the scheduler next lets the partner run:
 * beside a busy loop on one of two cores, rmlops-eval at -j2 took 5-9x as
 * long as at -j1. libgomp takes its wait policy from the environment when
 * it is loaded, before main, so setting OMP_WAIT_POLICY or GOMP_SPINCOUNT
 * from here would change nothing.
 *
 * What the library does instead is make the documented condition for short
 * spinning true while the cores are contended: a parker thread opens an
 * OpenMP team of its own whose threads sleep on a condition variable, so
 * that the process counts more OpenMP threads than libgomp saw CPUs at
 * start. They never compute and cost a thread's stack each. On an idle
 * machine, though, long spinning is what lets a region start within a
 * microsecond of the last, and sleeping at every barrier costs small
 * batches up to a third of their speed; so a watcher thread, awake every
 * 25 ms, reads how long the threads of the computing team waited for a
 * CPU (/proc/self/task/N/schedstat). More than 15% of the interval, in
 * waits of a millisecond or more on average (a scheduler slice, not the
 * wake-up of an idle virtual CPU), twice in a row, means another process
 * holds a core (in the first 200 ms
 * after the start or a release it looks every 5 ms and decides on three
 * of four looks, since a team of two beside a busy core runs at half the
 * speed of one thread and a short run cannot spend 50 ms finding out
 * that it should shrink): the threads are parked,
 * and the team is halved (at least one thread; rml_threads_adapt applies
 * it before the model's next pass), halved again while it lasts. A team
 * of two sharing one free core beside a busy one loses at every barrier
 * what its slower thread waits, so there one thread beats two; and two
 * processes that both halve share the cores without waiting on each
 * other. Quiet intervals release both (the parker's team ends, the
 * parker exits, libgomp's count falls back, the team is whole): one
 * second of them, doubled each time the contention returns at once (a
 * process that stays: up to 32 s, so the cost of trying again is
 * small), back to one second after ten free seconds.
 *
 * Only the team is measured: OpenBLAS's own pool, idle here, yields in a
 * loop for its first tenth of a second and so "waits" tens of
 * milliseconds per interval on an idle machine, which used to park every
 * program at start and cost batch-4 training a quarter of its speed; and
 * one interval alone may be a passing command. A user who sets
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT keeps that choice: then nothing is
 * parked or halved. Results never depend on this (the kernels give the
 * same bits at any thread count): it changes how threads wait and how
 * many compute, not what they compute.
 */
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static int park_on;      /* the parked team should stay */
static int park_extra;   /* OpenMP threads to park (beside the parker) */
static int park_up;      /* a parker is running (or leaving) */
static int watch_started;

static void *park_main(void *arg)
{
	int extra = (int)(intptr_t)arg;
	for (;;) {
		/* The pthread that opens this team is not a thread of the main
		 * team: the extra threads add to libgomp's count of OpenMP
		 * threads. */
#pragma omp parallel num_threads(extra + 1)
		{
			pthread_mutex_lock(&park_mu);
			while (park_on)
				pthread_cond_wait(&park_cv, &park_mu);
			pthread_mutex_unlock(&park_mu);
		}
		/* Asked to park again while the team was ending: open it anew. */
		pthread_mutex_lock(&park_mu);
		int again = park_on;
		if (!again)
			park_up = 0;
		pthread_mutex_unlock(&park_mu);
		if (!again)
			return NULL;
	}
}

static void park(int on)
{
	pthread_mutex_lock(&park_mu);
	int start = on && !park_up;
	park_on = on;
	if (start)
		park_up = 1;
	pthread_cond_broadcast(&park_cv);
	int extra = park_extra;
	pthread_mutex_unlock(&park_mu);
	if (!start)
		return;
	pthread_attr_t a;
	pthread_t t;
	int ok = pthread_attr_init(&a) == 0;
	if (ok) {
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		ok = pthread_create(&t, &a, park_main, (void *)(intptr_t)extra) == 0;
		pthread_attr_destroy(&a);
	}
	if (!ok) {
		pthread_mutex_lock(&park_mu);
		park_up = 0;
		pthread_mutex_unlock(&park_mu);
	}
}

static int n_threads_in_force;

/* OpenBLAS's threaded builds (pthreads or OpenMP) export this. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* The thread ids of the computing team (the caller of rml_set_threads
 * and its OpenMP workers), which libgomp keeps for later regions. */
static int team_tid[256];
static int team_n;

static void record_team(int n)
{
	int tid[256], got = n < 256 ? n : 256;
#pragma omp parallel num_threads(got)
	{
		int i = omp_get_thread_num();
		if (i < got)
			tid[i] = (int)syscall(SYS_gettid);
	}
	pthread_mutex_lock(&park_mu);
	memcpy(team_tid, tid, sizeof(int) * (size_t)got);
	team_n = got;
	pthread_mutex_unlock(&park_mu);
}

/* Nanoseconds the team's threads have spent runnable but waiting for a
 * CPU, summed, and in *slices the times they were put on one (the third
 * field of schedstat); -1 when the kernel does not say. */
static long long cpu_wait_ns(long long *slices)
{
	int tid[256], n;
	pthread_mutex_lock(&park_mu);
	n = team_n;
	memcpy(tid, team_tid, sizeof(int) * (size_t)n);
	pthread_mutex_unlock(&park_mu);
	long long sum = 0, count = 0;
	int any = 0;
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid[i]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		unsigned long long run, wait, times;
		if (fscanf(f, "%llu %llu %llu", &run, &wait, &times) == 3) {
			sum += (long long)wait;
			count += (long long)times;
			any = 1;
		}
		fclose(f);
	}
	*slices = count;
	return any ? sum : -1;
}

/* Threads the computing team should use now: 0 is all of them. Set by the
 * watcher, read by rml_threads_adapt on the computing thread. */
static int team_want;

static void *watch_main(void *arg)
{
	(void)arg;
	/* Quick looks (5 ms) for the first 200 ms after the start and after
	 * each release, when contention is most likely new and costs most
	 * (two threads beside a busy core run at half the speed of one), then
	 * the steady 25 ms. Times below are in milliseconds. */
	enum { STEP = 25, QUICK = 5, QUICK_FOR = 200 };
	/* A wait counts as another process's only when it averages a
	 * millisecond or more each time a thread got a CPU: a busy process
	 * holds a core for a scheduler slice (2.9-4.3 ms a wait beside a
	 * busy loop, scripts/thread_waits.py), while a thread woken on an
	 * idle core waits only for that core to wake (0.18-0.42 ms on a
	 * virtual machine), which summed over a look's wake-ups used to pass
	 * 5% of an idle machine's looks and park the team for good. */
	const long long slice_ns = 1000000;
	long long slices, last_slices, last = cpu_wait_ns(&last_slices);
	if (last < 0) {
		park(1);  /* no measure: assume a shared machine */
		return NULL;
	}
	/* seen: the last four quick looks, a bit each (contended or not);
	 * busy/quiet: steady intervals in a row, contended/uncontended;
	 * hold: quiet milliseconds that release the threads, one second,
	 * doubled (to 32 s) each time the cores were contended again within a
	 * second of a release (a process that stays), back to one second
	 * after ten free seconds; since: milliseconds since a release (capped
	 * at ten seconds; at the start, as if long ago); young: milliseconds
	 * since the start or a release, for the quick looks. */
	int parked = 0, busy = 0, want = 0;
	unsigned seen = 0;
	long long quiet = 0, hold = 1000, since = 10000, young = 0;
	for (;;) {
		int step = !parked && young < QUICK_FOR ? QUICK : STEP;
		struct timespec ts = { 0, step * 1000000L };
		while (nanosleep(&ts, &ts))
			;
		long long now = cpu_wait_ns(&slices), dw = now - last, ds = slices - last_slices;
		last = now;
		last_slices = slices;
		/* A thread that exited takes its count along: a fall is no news. */
		if (now < 0 || dw < 0 || ds < 0)
			continue;
		if (!parked && since < 10000)
			since += step;
		if (!parked && young < QUICK_FOR)
			young += step;
		/* Waited for a CPU more than 15% of the look, in waits of a
		 * scheduler slice. (A busy loop beside a team of two costs it
		 * 30-70%; the kernel's own threads take a millisecond or two
		 * now and then, which at 5% parked the team for nothing.) */
		int contended = dw * 100 > step * 15 * 1000000LL && dw >= slice_ns * (ds > 0 ? ds : 1);
		int decide;
		if (step == QUICK) {
			/* Three of the last four quick looks: a busy core shows in
			 * nearly every one (a scheduler slice is a few ms), a
			 * passing command of a few ms in one or two. */
			seen = ((seen << 1) | (unsigned)contended) & 0xf;
			decide = __builtin_popcount(seen) >= 3;
		} else {
			/* Two steady intervals in a row: one may be a passing
			 * command. */
			busy = contended ? busy + 1 : 0;
			decide = busy >= 2;
		}
		if (contended) {
			quiet = 0;
			if (!decide)
				continue;
			busy = 0, seen = 0;
			if (!parked) {
				park(1), parked = 1;
				hold = since < 1000 ? (hold < 16000 ? 2 * hold : 32000) : since >= 10000 ? 1000 : hold;
			}
			/* Half the team, at least one thread, each time the
			 * contention persists. */
			int n = __atomic_load_n(&n_threads_in_force, __ATOMIC_RELAXED);
			want = want > 0 ? want : n;
			want = want > 1 ? want / 2 : 1;
			__atomic_store_n(&team_want, want, __ATOMIC_RELAXED);
		} else if (parked && (quiet += step) >= hold) {
			park(0), parked = 0, quiet = 0, since = 0, young = 0, want = 0, seen = 0;
			__atomic_store_n(&team_want, 0, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

/* With n threads computing: park so many that n + parked exceeds the CPUs
 * libgomp counted at start (omp_get_num_procs), when contended. */
static void park_threads(int n)
{
	if (n < 2 || getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT"))
		return;
	int want = omp_get_num_procs() - n + 1;
	if (want < 1 || want > 256)
		return;  /* more threads than CPUs: libgomp spins briefly anyway */
	pthread_mutex_lock(&park_mu);
	if (want > park_extra)
		park_extra = want;
	int start = !watch_started;
	watch_started = 1;
	pthread_mutex_unlock(&park_mu);
	if (!start)
		return;
	pthread_attr_t a;
	pthread_t t;
	if (pthread_attr_init(&a))
		return;
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, watch_main, NULL))
		park(1);  /* no watcher: assume a shared machine */
	pthread_attr_destroy(&a);
}

/* CPUs this process may use: its affinity mask, bounded by a cgroup v2
 * CPU quota (cpu.max, as containers and CI runners set it), rounded up. */
static int usable_cpus(void)
{
	int n = omp_get_num_procs();  /* libgomp counts the affinity mask */
	char path[600] = "/sys/fs/cgroup", line[512];  /* room for the prefix, line and suffix */
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (f) {
		while (fgets(line, sizeof line, f))
			if (strncmp(line, "0::", 3) == 0) {
				line[strcspn(line, "\n")] = 0;
				if (strlen(line + 3) < sizeof line)
					snprintf(path, sizeof path, "/sys/fs/cgroup%s", line + 3);
			}
		fclose(f);
	}
	strncat(path, "/cpu.max", sizeof path - strlen(path) - 1);
	f = fopen(path, "r");
	if (f) {
		long long quota, period;
		if (fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
			long long q = (quota + period - 1) / period;
			if (q < n)
				n = (int)q;
		}
		fclose(f);
	}
	return n < 1 ? 1 : n;
}

int rml_set_threads(int n)
{
	if (n <= 0)
		n = usable_cpus();
	if (n < 1)
		n = 1;
	omp_set_num_threads(n);
	/* The kernels split GEMMs over OpenMP threads themselves: a second,
	 * spinning pool inside OpenBLAS would only compete with them. */
	openblas_set_num_threads(1);
	/* That only stops OpenBLAS from using its pool; the pool's threads,
	 * made when the library was loaded, still spin for about a tenth of a
	 * second and take a core from the team (a tenth of a short
	 * evaluation's time, and it looked like another process to the
	 * watcher). OpenBLAS's own fork handler ends them this way; a
	 * threaded call would start them again, and none is made. The serial
	 * OpenBLAS has no pool and no such function. */
	if (blas_thread_shutdown_)
		blas_thread_shutdown_();
	if (n >= 2)
		record_team(n);
	__atomic_store_n(&n_threads_in_force, n, __ATOMIC_RELAXED);
	__atomic_store_n(&team_want, 0, __ATOMIC_RELAXED);
	park_threads(n);
	return n;
}

void rml_threads_adapt(void)
{
	int n = __atomic_load_n(&n_threads_in_force, __ATOMIC_RELAXED);
	int want = __atomic_load_n(&team_want, __ATOMIC_RELAXED);
	if (n < 2 || omp_in_parallel())
		return;
	if (want < 1 || want > n)
		want = n;
	if (omp_get_max_threads() != want)
		omp_set_num_threads(want);
}

int rml_get_threads(void)
{
	if (!n_threads_in_force)
		return rml_set_threads(0);
	return n_threads_in_force;
}

int rml_mul_overflow(int64_t a, int64_t b, int64_t *out)
{
	if (a < 0 || b < 0)
		return -1;
	if (a != 0 && b > INT64_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

double rml_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
