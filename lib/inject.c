/*
 * inject.c — fault models and fault placement on float32 weights (see
 * inject.h). Distinct weights and tensors are chosen by selection sampling
 * (Knuth's Algorithm S): one pass, no index arrays, and the same seed gives
 * the same faults whatever the sizes of the other tensors' contents.
 */
#include "inject.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const model_names[RML_FAULT_MODEL_COUNT] = {
	"bitflip", "stuck0", "stuck1", "zero", "random",
};
static const char *const unit_names[RML_FAULT_UNIT_COUNT] = {
	"tensor", "weight", "ber", "grad-topk",
};

const char *rml_fault_model_name(rml_fault_model m)
{
	return (unsigned)m < RML_FAULT_MODEL_COUNT ? model_names[m] : "?";
}

const char *rml_fault_unit_name(rml_fault_unit u)
{
	return (unsigned)u < RML_FAULT_UNIT_COUNT ? unit_names[u] : "?";
}

rml_status rml_fault_model_parse(const char *s, rml_fault_model *out, rml_error *err)
{
	for (int i = 0; i < RML_FAULT_MODEL_COUNT; i++)
		if (strcmp(s, model_names[i]) == 0) {
			*out = (rml_fault_model)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown fault model '%s' (bitflip, stuck0, stuck1, zero, random)", s);
}

rml_status rml_fault_unit_parse(const char *s, rml_fault_unit *out, rml_error *err)
{
	for (int i = 0; i < RML_FAULT_UNIT_COUNT; i++)
		if (strcmp(s, unit_names[i]) == 0) {
			*out = (rml_fault_unit)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG,
			  "unknown fault unit '%s' (tensor, weight, ber, grad-topk)", s);
}

rml_status rml_fault_bits_parse(const char *s, uint32_t *out, rml_error *err)
{
	if (strcmp(s, "any") == 0) { *out = RML_BITS_ANY; return RML_OK; }
	if (strcmp(s, "sign") == 0) { *out = RML_BITS_SIGN; return RML_OK; }
	if (strcmp(s, "exponent") == 0) { *out = RML_BITS_EXPONENT; return RML_OK; }
	if (strcmp(s, "mantissa") == 0) { *out = RML_BITS_MANTISSA; return RML_OK; }
	uint32_t mask = 0;
	const char *p = s;
	while (*p) {
		char *end;
		long b = strtol(p, &end, 10);
		if (end == p || b < 0 || b > 31 || (*end && *end != ','))
			return rml_errorf(err, RML_ERR_ARG,
					  "bad bit list '%s' (any, sign, exponent, mantissa, "
					  "or positions 0-31 separated by commas)", s);
		mask |= 1u << b;
		p = *end ? end + 1 : end;
	}
	if (!mask)
		return rml_errorf(err, RML_ERR_ARG, "empty bit list '%s'", s);
	*out = mask;
	return RML_OK;
}

void rml_fault_log_init(rml_fault_log *l)
{
	l->v = NULL;
	l->n = l->cap = 0;
}

int64_t rml_fault_log_bits_changed(const rml_fault_log *l)
{
	int64_t bits = 0;
	for (int64_t i = 0; i < l->n; i++) {
		uint32_t a, b;
		memcpy(&a, &l->v[i].old_value, 4);
		memcpy(&b, &l->v[i].new_value, 4);
		bits += __builtin_popcount(a ^ b);
	}
	return bits;
}

void rml_fault_log_free(rml_fault_log *l)
{
	free(l->v);
	rml_fault_log_init(l);
}

static rml_status log_reserve(rml_fault_log *l, int64_t need, rml_error *err)
{
	if (need <= l->cap)
		return RML_OK;
	int64_t cap = l->cap ? l->cap : 64;
	while (cap < need)
		cap *= 2;
	rml_fault *v = realloc(l->v, (size_t)cap * sizeof *v);
	if (!v)
		return rml_errorf(err, RML_ERR_NOMEM, "no memory for a log of %lld faults",
				  (long long)cap);
	l->v = v;
	l->cap = cap;
	return RML_OK;
}

static inline uint32_t f2u(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float u2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* The k-th (0-based) set bit of mask. */
static int nth_set_bit(uint32_t mask, int k)
{
	for (int b = 0; b < 32; b++)
		if (mask & (1u << b))
			if (k-- == 0)
				return b;
	return -1;
}

static int popcount32(uint32_t x)
{
	int c = 0;
	for (; x; x &= x - 1)
		c++;
	return c;
}

typedef struct {
	const rml_fault_spec *spec;
	rml_fault_target *t;
	const float *lo, *hi;  /* per-tensor range for RANDOM */
	rml_rng *rng;
	rml_fault_log *log;
} injector;

/* Apply one fault at (tensor, index); bit < 0 asks for a random allowed bit. */
static void fault_one(injector *in, int tensor, int64_t index, int bit)
{
	const rml_fault_spec *s = in->spec;
	float *w = &in->t[tensor].data[index];
	rml_fault f = { .tensor = tensor, .index = index, .bit = -1, .old_value = *w };
	uint32_t u = f2u(*w);
	if (s->model <= RML_FAULT_STUCK1) {
		if (bit < 0)
			bit = nth_set_bit(s->bits,
					  (int)rml_rng_below(in->rng, (uint64_t)popcount32(s->bits)));
		f.bit = (int8_t)bit;
		if (s->model == RML_FAULT_BITFLIP)
			u ^= 1u << bit;
		else if (s->model == RML_FAULT_STUCK0)
			u &= ~(1u << bit);
		else
			u |= 1u << bit;
		*w = u2f(u);
	} else if (s->model == RML_FAULT_ZERO) {
		*w = 0.0f;
	} else {
		double r = rml_rng_uniform(in->rng);
		*w = (float)(in->lo[tensor] + r * (in->hi[tensor] - in->lo[tensor]));
	}
	f.new_value = *w;
	in->log->v[in->log->n++] = f;
}

/* Selection sampling: visit i = 0..n-1 and keep each with probability
 * (k - kept)/(n - i); exactly k of n are kept, uniformly. */
static inline int select_next(rml_rng *rng, int64_t n_left, int64_t k_left)
{
	return (double)n_left * rml_rng_uniform(rng) < (double)k_left;
}

static rml_status inject_tensor_unit(injector *in, int n_targets, rml_error *err)
{
	int64_t k = llround(in->spec->rate * n_targets);
	rml_status st = log_reserve(in->log, k, err);
	if (st)
		return st;
	int64_t kept = 0;
	for (int i = 0; i < n_targets && kept < k; i++) {
		if (!select_next(in->rng, n_targets - i, k - kept))
			continue;
		kept++;
		if (in->t[i].n == 0)
			continue;
		int64_t idx = (int64_t)rml_rng_below(in->rng, (uint64_t)in->t[i].n);
		fault_one(in, i, idx, -1);
	}
	return RML_OK;
}

static rml_status inject_weight_unit(injector *in, int n_targets, int64_t total,
				     rml_error *err)
{
	int64_t k = llround(in->spec->rate * (double)total);
	rml_status st = log_reserve(in->log, k, err);
	if (st)
		return st;
	int64_t kept = 0, seen = 0;
	for (int i = 0; i < n_targets && kept < k; i++)
		for (int64_t j = 0; j < in->t[i].n && kept < k; j++, seen++)
			if (select_next(in->rng, total - seen, k - kept)) {
				kept++;
				fault_one(in, i, j, -1);
			}
	return RML_OK;
}

static rml_status inject_ber(injector *in, int64_t total, rml_error *err)
{
	double p = in->spec->rate;
	int m = popcount32(in->spec->bits);
	double n_bits = (double)total * m;
	if (p <= 0)
		return RML_OK;
	/* Walk the allowed bits with geometric gaps: the next hit after the
	 * current position is floor(log U / log(1-p)) bits further. */
	double logq = p < 1 ? log1p(-p) : -INFINITY;
	double pos = -1;
	int tensor = 0;
	int64_t base = 0;  /* first weight index of `tensor` */
	for (;;) {
		double gap = p < 1 ? floor(log(1.0 - rml_rng_uniform(in->rng)) / logq) : 0;
		pos += gap + 1;
		if (pos >= n_bits)
			break;
		int64_t wi = (int64_t)(pos / m);
		int bi = (int)(pos - (double)wi * m);
		while (wi >= base + in->t[tensor].n) {
			base += in->t[tensor].n;
			tensor++;
		}
		rml_status st = log_reserve(in->log, in->log->n + 1, err);
		if (st)
			return st;
		fault_one(in, tensor, wi - base, nth_set_bit(in->spec->bits, bi));
	}
	return RML_OK;
}

typedef struct {
	float score;
	int64_t index;
} scored;

static int by_score_desc(const void *a, const void *b)
{
	const scored *x = a, *y = b;
	/* NaN scores sort last; ties by index so the order is total. */
	int xn = isnan(x->score), yn = isnan(y->score);
	if (xn != yn)
		return xn - yn;
	if (!xn && x->score != y->score)
		return x->score < y->score ? 1 : -1;
	return (x->index > y->index) - (x->index < y->index);
}

static rml_status inject_grad_topk(injector *in, int n_targets, int64_t total,
				   rml_error *err)
{
	int64_t k = llround(in->spec->rate * (double)total);
	if (k == 0)
		return RML_OK;
	scored *s = malloc((size_t)total * sizeof *s);
	int64_t *start = malloc((size_t)(n_targets + 1) * sizeof *start);
	if (!s || !start) {
		free(s);
		free(start);
		return rml_errorf(err, RML_ERR_NOMEM, "no memory to rank %lld weights",
				  (long long)total);
	}
	int64_t g = 0;
	start[0] = 0;
	for (int i = 0; i < n_targets; i++) {
		for (int64_t j = 0; j < in->t[i].n; j++, g++) {
			s[g].score = fabsf(in->t[i].score[j]);
			s[g].index = g;
		}
		start[i + 1] = g;
	}
	qsort(s, (size_t)total, sizeof *s, by_score_desc);
	rml_status st = log_reserve(in->log, k, err);
	for (int64_t r = 0; st == RML_OK && r < k; r++) {
		int64_t gi = s[r].index;
		int lo = 0, hi = n_targets;  /* find tensor with start[t] <= gi < start[t+1] */
		while (hi - lo > 1) {
			int mid = (lo + hi) / 2;
			if (start[mid] <= gi)
				lo = mid;
			else
				hi = mid;
		}
		fault_one(in, lo, gi - start[lo], -1);
	}
	free(s);
	free(start);
	return st;
}

rml_status rml_inject(const rml_fault_spec *spec, rml_fault_target *t, int n_targets,
		      rml_rng *rng, rml_fault_log *log, rml_error *err)
{
	log->n = 0;
	if ((unsigned)spec->model >= RML_FAULT_MODEL_COUNT ||
	    (unsigned)spec->unit >= RML_FAULT_UNIT_COUNT)
		return rml_errorf(err, RML_ERR_ARG, "unknown fault model or unit");
	if (!(spec->rate >= 0 && spec->rate <= 1))
		return rml_errorf(err, RML_ERR_ARG, "fault rate %g is outside [0, 1]", spec->rate);
	if (!spec->bits)
		return rml_errorf(err, RML_ERR_ARG, "no bit positions allowed");
	if (n_targets <= 0)
		return rml_errorf(err, RML_ERR_ARG, "no weight tensors to inject faults into");
	if (spec->unit == RML_FAULT_UNIT_BER && spec->model >= RML_FAULT_ZERO)
		return rml_errorf(err, RML_ERR_ARG,
				  "a bit error rate needs a bit-level fault model "
				  "(bitflip, stuck0, stuck1), not '%s'",
				  rml_fault_model_name(spec->model));
	int64_t total = 0;
	for (int i = 0; i < n_targets; i++) {
		if (t[i].n < 0 || (t[i].n > 0 && !t[i].data))
			return rml_errorf(err, RML_ERR_ARG, "target %d has no data", i);
		if (spec->unit == RML_FAULT_UNIT_GRAD_TOPK && t[i].n > 0 && !t[i].score)
			return rml_errorf(err, RML_ERR_ARG,
					  "grad-topk needs gradient scores for tensor %s",
					  t[i].name ? t[i].name : "?");
		total += t[i].n;
	}
	float *lo = NULL, *hi = NULL;
	if (spec->model == RML_FAULT_RANDOM) {
		lo = malloc((size_t)n_targets * sizeof *lo);
		hi = malloc((size_t)n_targets * sizeof *hi);
		if (!lo || !hi) {
			free(lo);
			free(hi);
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		}
		for (int i = 0; i < n_targets; i++) {
			lo[i] = INFINITY;
			hi[i] = -INFINITY;
			for (int64_t j = 0; j < t[i].n; j++)
				if (isfinite(t[i].data[j])) {
					lo[i] = fminf(lo[i], t[i].data[j]);
					hi[i] = fmaxf(hi[i], t[i].data[j]);
				}
			if (lo[i] > hi[i])
				lo[i] = hi[i] = 0;
		}
	}
	injector in = { .spec = spec, .t = t, .lo = lo, .hi = hi, .rng = rng, .log = log };
	rml_status st;
	switch (spec->unit) {
	case RML_FAULT_UNIT_TENSOR: st = inject_tensor_unit(&in, n_targets, err); break;
	case RML_FAULT_UNIT_WEIGHT: st = inject_weight_unit(&in, n_targets, total, err); break;
	case RML_FAULT_UNIT_BER: st = inject_ber(&in, total, err); break;
	default: st = inject_grad_topk(&in, n_targets, total, err); break;
	}
	free(lo);
	free(hi);
	if (st != RML_OK) {
		rml_inject_undo(t, log);
		log->n = 0;
	}
	return st;
}

void rml_inject_undo(rml_fault_target *t, const rml_fault_log *log)
{
	for (int64_t i = log->n - 1; i >= 0; i--) {
		const rml_fault *f = &log->v[i];
		t[f->tensor].data[f->index] = f->old_value;
	}
}

int64_t rml_bits_differ(const float *a, const float *b, int64_t n)
{
	int64_t c = 0;
	for (int64_t i = 0; i < n; i++)
		c += popcount32(f2u(a[i]) ^ f2u(b[i]));
	return c;
}
