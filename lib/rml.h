/*
 * rml.h — what every part of librmlops shares: error reporting, the seeded
 * random generator, content hashing (SHA-256), thread control.
 *
 * The library never prints and never exits: a function that can fail returns
 * an rml_status and, when given an rml_error, leaves a one-line message in
 * it that the calling program prints as "rmlops-x: message".
 */
#ifndef RML_H
#define RML_H

#include <stddef.h>
#include <stdint.h>

#ifndef RML_VERSION
#define RML_VERSION "0.1.0"
#endif

typedef enum {
	RML_OK = 0,
	RML_ERR_IO,        /* read/write/open failed, or unexpected end of input */
	RML_ERR_FORMAT,    /* input is not what it claims (magic, checksum, layout) */
	RML_ERR_VERSION,   /* a file from a newer version of the format */
	RML_ERR_LIMIT,     /* a size beyond what the library accepts */
	RML_ERR_NOMEM,     /* allocation failed */
	RML_ERR_ARG,       /* caller passed an invalid argument or option value */
	RML_ERR_MISMATCH,  /* inputs do not fit each other (shapes, base model hash) */
	RML_ERR_NUMERIC,   /* a computation met NaN/Inf where it cannot continue */
} rml_status;

typedef struct {
	rml_status code;
	char msg[512];
} rml_error;

/* The generic text of a status code ("truncated or unreadable input", ...). */
const char *rml_strerror(rml_status code);

/* Record an error: err may be NULL (then only the code is returned). Returns
 * code so callers can write `return rml_errorf(err, RML_ERR_IO, "...")`. */
rml_status rml_errorf(rml_error *err, rml_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- random numbers ---------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: fast, 2^256 period, and the same
 * stream on every platform, so a seed reproduces a run byte for byte. */
typedef struct {
	uint64_t s[4];
	int has_spare;      /* Box–Muller makes normals in pairs */
	double spare;
} rml_rng;

void rml_rng_seed(rml_rng *r, uint64_t seed);
/* A generator for sub-stream `stream` of `seed`: independent streams for
 * repetitions and workers that do not depend on the order they are drawn. */
void rml_rng_seed_stream(rml_rng *r, uint64_t seed, uint64_t stream);
uint64_t rml_rng_u64(rml_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rml_rng_uniform(rml_rng *r);
/* Uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint64_t rml_rng_below(rml_rng *r, uint64_t n);
/* Standard normal. */
double rml_rng_normal(rml_rng *r);
/* Fisher–Yates shuffle of idx[0..n). */
void rml_rng_shuffle(rml_rng *r, int64_t *idx, int64_t n);

/* ---- hashing ------------------------------------------------------------ */

typedef struct {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t fill;
} rml_sha256;

void rml_sha256_init(rml_sha256 *c);
void rml_sha256_update(rml_sha256 *c, const void *data, size_t n);
void rml_sha256_final(rml_sha256 *c, uint8_t out[32]);
/* Lower-case hex of a 32-byte digest into out[65]. */
void rml_hex32(const uint8_t d[32], char out[65]);

/* CRC-32 (zlib's polynomial) of data, continuing from crc (start with 0). */
uint32_t rml_crc32(uint32_t crc, const void *data, size_t n);

/* ---- threads ------------------------------------------------------------ */

/* Worker threads for OpenMP loops and OpenBLAS; n <= 0 means all cores.
 * Returns the number in force. Results depend only on inputs and this
 * number, never on scheduling. */
int rml_set_threads(int n);
int rml_get_threads(void);

/* While other processes hold the cores, the library runs its parallel
 * loops on fewer threads than rml_set_threads gave (halved each time the
 * contention persists, at least one), and on all of them again once the
 * cores are free; results do not change, only how fast they come. Called
 * by the model's forward and backward before they open their loops; a
 * caller with loops of its own outside those may call it too. Does
 * nothing inside a parallel region. */
void rml_threads_adapt(void);

/* ---- small helpers ------------------------------------------------------ */

/* a*b into *out unless it overflows int64; returns 0 on success, -1 on
 * overflow or negative operands. */
int rml_mul_overflow(int64_t a, int64_t b, int64_t *out);

/* Monotonic wall clock in seconds, for progress and benchmarks. */
double rml_now(void);

#endif
