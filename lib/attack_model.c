/*
 * attack_model.c — the adversarial test toolbox over the model engine (see
 * attack_model.h). For running attack.c's attacks against a real model on a
 * real dataset and keeping the outcome honest: the adversarial set is
 * stored as uint8, so the floats the attacks make are quantised inside
 * their budget and the model is asked again about the stored images.
 * Not for the attack algorithms themselves, nor for printing.
 */
#include "attack_model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attack_report.h"
#include "canvas.h"
#include "kernels.h"
#include "metrics.h"
#include "train.h"
#include "yamlwalk.h"

/* ---- names ------------------------------------------------------------------ */

const char *rml_attack_norm_name(rml_attack_norm n)
{
	return n == RML_NORM_LINF ? "linf" : n == RML_NORM_L2 ? "l2" : n == RML_NORM_L0 ? "l0" : "unknown";
}

const char *rml_target_mode_name(rml_target_mode t)
{
	static const char *const v[] = { "none", "random", "next", "class" };
	return (int)t >= 0 && (int)t <= RML_TARGET_CLASS ? v[t] : "unknown";
}

static const char *const search_names[] = { "cmaes", "de" };
static const char *const fitness_names[] = { "prob", "margin" };
static const char *const loss_names[] = { "ce", "dlr" };

void rml_attack_spec_default(rml_attack_spec *a, rml_attack_kind kind)
{
	memset(a, 0, sizeof *a);
	rml_attack_config_default(&a->cfg, kind);
	a->cfg.seed = 1;
	snprintf(a->name, sizeof a->name, "%s", rml_attack_kind_name(kind));
	a->target = RML_TARGET_NONE;
}

/* ---- settings ----------------------------------------------------------------- */

static const char *const keys[] = {
	"name", "attack", "norm", "eps", "pixels", "target", "steps", "step_size", "restarts",
	"random_start", "generations", "popsize", "search", "fitness", "sigma0", "de_f", "de_cr",
	"min_search", "seed", "loss", "tile", "queries", "p_init", "preset", NULL,
};

const char *const *rml_attack_spec_keys(void) { return keys; }

static rml_status bad(rml_error *err, const char *key, const char *value, const char *want)
{
	return rml_errorf(err, RML_ERR_ARG, "%s wants %s, not '%s'", key, want, value);
}

static int parse_f(const char *s, double lo, double hi, int open_lo, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi || (open_lo && v <= lo))
		return -1;
	*out = v;
	return 0;
}

static int parse_i(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "on"))
		*out = 1;
	else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "off"))
		*out = 0;
	else
		return -1;
	return 0;
}

static int norm_suits(rml_attack_kind k, rml_attack_norm n)
{
	if (k == RML_ATTACK_PIXEL_L0)
		return n == RML_NORM_L0;
	if (k == RML_ATTACK_CMAES_LINF)
		return n == RML_NORM_LINF;
	/* FGSM, PGD, APGD and Square: L-inf or L2. */
	return n == RML_NORM_LINF || n == RML_NORM_L2;
}

rml_status rml_attack_spec_set(rml_attack_spec *a, const char *key, const char *v, rml_error *err)
{
	rml_attack_config *c = &a->cfg;
	double f;
	int64_t i;
	int b;
	if (!key || !v)
		return rml_errorf(err, RML_ERR_ARG, "missing setting");
	if (!strcmp(key, "name")) {
		size_t l = strlen(v);
		if (l < 1 || l >= sizeof a->name)
			return bad(err, key, v, "1 to 63 characters");
		for (size_t j = 0; j < l; j++)
			if (!isgraph((unsigned char)v[j]) || v[j] == '"' || v[j] == '\\')
				return bad(err, key, v, "printable characters without spaces or quotes");
		memcpy(a->name, v, l + 1);
	} else if (!strcmp(key, "attack")) {
		rml_attack_kind k;
		if (rml_attack_kind_parse(v, &k, err))
			return RML_ERR_ARG;
		/* The name follows the kind unless it was given. */
		if (!strcmp(a->name, rml_attack_kind_name(c->kind)))
			snprintf(a->name, sizeof a->name, "%s", v);
		/* Square's default fitness is the paper's margin; the others'
		 * the probability (a later fitness setting still wins). */
		if (k == RML_ATTACK_SQUARE && c->kind != RML_ATTACK_SQUARE)
			c->fitness = RML_FITNESS_MARGIN;
		else if (k != RML_ATTACK_SQUARE && c->kind == RML_ATTACK_SQUARE)
			c->fitness = RML_FITNESS_PROB;
		c->kind = k;
		if (!norm_suits(k, c->norm))
			c->norm = k == RML_ATTACK_PIXEL_L0 ? RML_NORM_L0 : RML_NORM_LINF;
	} else if (!strcmp(key, "norm")) {
		if (!strcmp(v, "linf") || !strcmp(v, "inf"))
			c->norm = RML_NORM_LINF;
		else if (!strcmp(v, "l2"))
			c->norm = RML_NORM_L2;
		else if (!strcmp(v, "l0"))
			c->norm = RML_NORM_L0;
		else
			return bad(err, key, v, "linf, l2 or l0");
	} else if (!strcmp(key, "eps")) {
		if (parse_f(v, 0, 1e6, 1, &c->eps))
			return bad(err, key, v, "a positive number of pixel units (3 = 3/255 of the range)");
	} else if (!strcmp(key, "pixels")) {
		if (parse_i(v, 1, 1 << 20, &c->pixels))
			return bad(err, key, v, "a whole number of pixels from 1");
	} else if (!strcmp(key, "target")) {
		if (!strcmp(v, "none"))
			a->target = RML_TARGET_NONE;
		else if (!strcmp(v, "random"))
			a->target = RML_TARGET_RANDOM;
		else if (!strcmp(v, "next"))
			a->target = RML_TARGET_NEXT;
		else if (!parse_i(v, 0, 100000, &i)) {
			a->target = RML_TARGET_CLASS;
			a->target_class = (int32_t)i;
		} else
			return bad(err, key, v, "none, random, next or a class number");
		c->targeted = a->target != RML_TARGET_NONE;
	} else if (!strcmp(key, "steps")) {
		if (parse_i(v, 1, 100000, &c->steps))
			return bad(err, key, v, "a whole number from 1 to 100000");
	} else if (!strcmp(key, "step_size")) {
		if (parse_f(v, 0, 1e6, 0, &c->step_size))
			return bad(err, key, v, "a number of pixel units >= 0 (0 = 2.5 eps / steps)");
	} else if (!strcmp(key, "restarts")) {
		if (parse_i(v, 1, 10000, &c->restarts))
			return bad(err, key, v, "a whole number from 1 to 10000");
	} else if (!strcmp(key, "random_start")) {
		if (parse_bool(v, &b))
			return bad(err, key, v, "yes or no");
		c->random_start = b;
	} else if (!strcmp(key, "generations")) {
		if (parse_i(v, 1, 100000, &c->generations))
			return bad(err, key, v, "a whole number from 1 to 100000");
	} else if (!strcmp(key, "popsize")) {
		if (parse_i(v, 0, 100000, &c->popsize) || c->popsize == 1)
			return bad(err, key, v, "0 (the default) or a whole number from 2 to 100000");
	} else if (!strcmp(key, "search")) {
		if (!strcmp(v, "cmaes") || !strcmp(v, "cma-es"))
			c->search = RML_SEARCH_CMAES;
		else if (!strcmp(v, "de"))
			c->search = RML_SEARCH_DE;
		else
			return bad(err, key, v, "cmaes or de");
	} else if (!strcmp(key, "fitness")) {
		if (!strcmp(v, "prob"))
			c->fitness = RML_FITNESS_PROB;
		else if (!strcmp(v, "margin"))
			c->fitness = RML_FITNESS_MARGIN;
		else
			return bad(err, key, v, "prob or margin");
	} else if (!strcmp(key, "sigma0")) {
		if (parse_f(v, 0, 1e6, 0, &c->sigma0))
			return bad(err, key, v, "a number >= 0 (0 = the default)");
	} else if (!strcmp(key, "de_f")) {
		if (parse_f(v, 0, 2, 1, &c->de_f))
			return bad(err, key, v, "a number in (0, 2]");
	} else if (!strcmp(key, "de_cr")) {
		if (parse_f(v, 0, 1, 0, &c->de_cr))
			return bad(err, key, v, "a number in [0, 1]");
	} else if (!strcmp(key, "min_search")) {
		if (parse_i(v, 0, 64, &c->min_search))
			return bad(err, key, v, "a number of bisection rounds from 0 to 64");
	} else if (!strcmp(key, "seed")) {
		if (parse_i(v, 0, INT64_MAX, &i))
			return bad(err, key, v, "a whole number >= 0");
		c->seed = (uint64_t)i;
	} else if (!strcmp(key, "loss")) {
		if (!strcmp(v, "ce"))
			c->loss = RML_LOSS_CE;
		else if (!strcmp(v, "dlr"))
			c->loss = RML_LOSS_DLR;
		else
			return bad(err, key, v, "ce or dlr");
	} else if (!strcmp(key, "tile")) {
		if (parse_i(v, 1, 4096, &c->tile))
			return bad(err, key, v, "a whole number of pixels from 1");
	} else if (!strcmp(key, "queries")) {
		if (parse_i(v, 1, 10000000, &c->queries))
			return bad(err, key, v, "a whole number from 1 to 10000000");
	} else if (!strcmp(key, "p_init")) {
		if (parse_f(v, 0, 1, 0, &c->p_init))
			return bad(err, key, v, "a fraction in [0, 1] (0 = the default)");
	} else if (!strcmp(key, "preset")) {
		/* The threshold attack's search: the paper's, or the one this
		 * repository measured strongest at the same 10 generations. */
		if (!strcmp(v, "paper")) {
			c->generations = 10;
			c->popsize = 0;
			c->sigma0 = 0;
			c->fitness = RML_FITNESS_PROB;
			c->tile = 1;
			c->search = RML_SEARCH_CMAES;
		} else if (!strcmp(v, "tuned")) {
			c->generations = 10;
			c->popsize = RML_ADVTEST_TUNED_POPSIZE;
			c->sigma0 = RML_ADVTEST_TUNED_SIGMA0;
			c->fitness = RML_FITNESS_MARGIN;
			c->tile = RML_ADVTEST_TUNED_TILE;
			c->search = RML_SEARCH_CMAES;
		} else {
			return bad(err, key, v, "paper or tuned");
		}
	} else {
		(void)f;
		return rml_errorf(err, RML_ERR_ARG, "unknown setting '%s'", key);
	}
	return RML_OK;
}

rml_status rml_attack_spec_check(const rml_attack_spec *a, int n_classes, rml_error *err)
{
	const rml_attack_config *c = &a->cfg;
	if (!norm_suits(c->kind, c->norm))
		return rml_errorf(err, RML_ERR_ARG, "attack %s: %s does not work in the %s norm (%s)",
				  a->name, rml_attack_kind_name(c->kind), rml_attack_norm_name(c->norm),
				  c->kind == RML_ATTACK_PIXEL_L0	 ? "it changes pixels: l0"
				  : c->kind == RML_ATTACK_CMAES_LINF ? "it searches the linf ball"
								     : "linf or l2");
	if (a->target == RML_TARGET_CLASS && n_classes > 0 && a->target_class >= n_classes)
		return rml_errorf(err, RML_ERR_ARG, "attack %s: target class %d, but the model has %d classes",
				  a->name, (int)a->target_class, n_classes);
	if (c->kind == RML_ATTACK_PIXEL_L0 && c->min_search > 0 && c->pixels < 2)
		return rml_errorf(err, RML_ERR_ARG,
				  "attack %s: min_search needs pixels >= 2 (there is nothing smaller than 1)",
				  a->name);
	return RML_OK;
}

/* ---- YAML ---------------------------------------------------------------------- */

/* One attack: a mapping of settings, "attack" read first. */
static rml_status parse_one(rml_yamlwalk *y, yaml_node_t *n, rml_attack_spec *a)
{
	if (n->type != YAML_MAPPING_NODE)
		return rml_yamlwalk_fail(y, n, "each attack is a mapping of settings (attack: pgd, eps: 3, ...)",
					 NULL);
	y->ctx = n;
	rml_yamlwalk_pair set[sizeof keys / sizeof keys[0]];
	int ns = rml_yamlwalk_map(y, n, NULL, keys, set, (int)(sizeof set / sizeof set[0]));
	if (ns < 0)
		return RML_ERR_FORMAT;
	yaml_node_t *kind = rml_yamlwalk_get(set, ns, "attack");
	if (!kind)
		return rml_yamlwalk_fail(y, n, "missing 'attack' (fgsm, pgd, apgd, cmaes-linf, pixel-l0 or square)",
					 NULL);
	rml_attack_kind k;
	rml_error e = { 0 };
	if (rml_attack_kind_parse((const char *)kind->data.scalar.value, &k, &e))
		return rml_yamlwalk_fail(y, kind, e.msg, NULL);
	rml_attack_spec_default(a, k);
	/* A preset first, so that the settings beside it refine it. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < ns; i++) {
			const char *key = set[i].key;
			if (!strcmp(key, "attack") || (pass == 0) != !strcmp(key, "preset"))
				continue;
			if (rml_attack_spec_set(a, key, (const char *)set[i].val->data.scalar.value, &e))
				return rml_yamlwalk_fail(y, set[i].val, e.msg, NULL);
		}
	if (rml_attack_spec_check(a, 0, &e))
		return rml_yamlwalk_fail(y, n, e.msg, NULL);
	return RML_OK;
}

rml_status rml_attack_spec_parse_yaml(const char *text, const char *what, rml_attack_spec **list,
				  int *n_out, rml_error *err)
{
	*list = NULL;
	*n_out = 0;
	rml_yamlwalk y;
	rml_status st = rml_yamlwalk_load(&y, text, what, err);
	if (st) {
		rml_yamlwalk_free(&y);
		return st;
	}
	y.noun = "setting";
	y.nouns = "setting names";
	y.scalars = 1;
	yaml_node_t *root = rml_yamlwalk_root(&y);
	yaml_node_t *seq = root;
	if (!root) {
		st = rml_yamlwalk_fail(&y, NULL, "no attacks (the file is empty)", NULL);
		goto out;
	}
	if (root->type == YAML_MAPPING_NODE) {
		seq = NULL;
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
		     p++) {
			yaml_node_t *k = rml_yamlwalk_node(&y, p->key);
			if (k && k->type == YAML_SCALAR_NODE &&
			    !strcmp((const char *)k->data.scalar.value, "attacks") && !seq) {
				seq = rml_yamlwalk_node(&y, p->value);
			} else {
				char m[320];
				snprintf(m, sizeof m, "unknown top-level key '%s' (expected 'attacks')",
					 k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value
									   : "?");
				st = rml_yamlwalk_fail(&y, k, m, NULL);
				goto out;
			}
		}
		if (!seq) {
			st = rml_yamlwalk_fail(&y, root, "missing 'attacks'", NULL);
			goto out;
		}
	}
	if (seq->type != YAML_SEQUENCE_NODE) {
		st = rml_yamlwalk_fail(&y, seq, "expected a list of attacks (lines starting with '- attack:')",
				       NULL);
		goto out;
	}
	int n = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n < 1) {
		st = rml_yamlwalk_fail(&y, seq, "the list of attacks is empty", NULL);
		goto out;
	}
	if (n > 1000) {
		st = rml_yamlwalk_fail(&y, seq, "more than 1000 attacks", NULL);
		goto out;
	}
	rml_attack_spec *v = calloc((size_t)n, sizeof *v);
	if (!v) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n && !st; i++) {
		yaml_node_t *it = rml_yamlwalk_node(&y, seq->data.sequence.items.start[i]);
		if (!it)
			st = rml_yamlwalk_fail(&y, seq, "broken list", NULL);
		else
			st = parse_one(&y, it, &v[i]);
	}
	if (st)
		free(v);
	else {
		*list = v;
		*n_out = n;
	}
out:
	rml_yamlwalk_free(&y);
	return st;
}

/* ---- the binding ----------------------------------------------------------------- */

static rml_status fwd(rml_attack_binding *b, const float *x, int64_t n, float **logits)
{
	return rml_model_forward(b->m, x, n, RML_MODE_EVAL, logits, &b->err);
}

static int cb_prob(void *ctx, const float *x, int64_t n, float *probs)
{
	rml_attack_binding *b = ctx;
	int h, w, c;
	rml_model_input_shape(b->m, &h, &w, &c);
	const int64_t d = (int64_t)h * w * c;
	for (int64_t i = 0; i < n; i += b->batch) {
		int64_t nb = n - i < b->batch ? n - i : b->batch;
		float *logits;
		rml_status st = fwd(b, x + i * d, nb, &logits);
		if (st)
			return (int)st;
		rml_softmax(probs + i * b->k, logits, nb, b->k);
	}
	b->n_prob += n;
	return 0;
}

static int cb_grad(void *ctx, const float *x, int64_t n, const int32_t *labels, float *loss,
		   float *dx)
{
	rml_attack_binding *b = ctx;
	int h, w, c;
	rml_model_input_shape(b->m, &h, &w, &c);
	const int64_t d = (int64_t)h * w * c, k = b->k;
	memset(dx, 0, (size_t)(n * d) * sizeof *dx);
	for (int64_t i = 0; i < n; i += b->batch) {
		int64_t nb = n - i < b->batch ? n - i : b->batch;
		/* Scale nb undoes the mean: each example's input gradient is that
		 * of its own loss -log p_y. */
		rml_status st = rml_train_grad(b->m, RML_MODE_EVAL, x + i * d, labels + i, nb, 0.0, (float)nb,
				    b->probs, b->dlogits, dx + i * d, NULL, &b->err);
		if (st)
			return (int)st;
		for (int64_t e = 0; e < nb; e++) {
			double py = b->probs[e * k + labels[i + e]];
			loss[i + e] = (float)-log(py > 1e-30 ? py : 1e-30);
		}
	}
	b->n_grad += n;
	return 0;
}

/* The DLR loss of attack.h and its gradient with respect to the logits z
 * [k] of one example into g [k]. */
static float dlr_loss(const float *z, int64_t k, int32_t y, float *g)
{
	int64_t p1 = -1, p2 = -1, p3 = -1, o = -1;
	for (int64_t j = 0; j < k; j++) {
		g[j] = 0;
		if (j != y && (o < 0 || z[j] > z[o]))
			o = j;
		if (p1 < 0 || z[j] > z[p1]) {
			p3 = p2;
			p2 = p1;
			p1 = j;
		} else if (p2 < 0 || z[j] > z[p2]) {
			p3 = p2;
			p2 = j;
		} else if (p3 < 0 || z[j] > z[p3]) {
			p3 = j;
		}
	}
	double den = (double)z[p1] - (double)z[p3] + 1e-12;
	double num = (double)z[y] - (double)z[o];
	/* L = -num / den: dL/dnum = -1/den, dL/dden = num/den^2. */
	g[y] += (float)(-1.0 / den);
	g[o] += (float)(1.0 / den);
	g[p1] += (float)(num / (den * den));
	g[p3] -= (float)(num / (den * den));
	return (float)(-num / den);
}

static int cb_grad_dlr(void *ctx, const float *x, int64_t n, const int32_t *labels, float *loss,
		       float *dx)
{
	rml_attack_binding *b = ctx;
	int h, w, c;
	rml_model_input_shape(b->m, &h, &w, &c);
	const int64_t d = (int64_t)h * w * c, k = b->k;
	memset(dx, 0, (size_t)(n * d) * sizeof *dx);
	for (int64_t i = 0; i < n; i += b->batch) {
		int64_t nb = n - i < b->batch ? n - i : b->batch;
		float *logits;
		rml_status st = fwd(b, x + i * d, nb, &logits);
		if (st)
			return (int)st;
		for (int64_t e = 0; e < nb; e++)
			loss[i + e] = dlr_loss(logits + e * k, k, labels[i + e], b->dlogits + e * k);
		st = rml_model_backward(b->m, b->dlogits, dx + i * d, &b->err);
		if (st)
			return (int)st;
	}
	b->n_grad += n;
	return 0;
}

static void cb_progress(void *ctx, int64_t done, int64_t total)
{
	rml_attack_binding *b = ctx;
	if (b->progress)
		b->progress(b->progress_ctx, done, total);
}

rml_status rml_attack_bind(rml_attack_binding *b, rml_attack_model *am, rml_model *m,
			    int64_t batch, int with_grad, rml_error *err)
{
	memset(b, 0, sizeof *b);
	memset(am, 0, sizeof *am);
	if (batch < 1)
		batch = 1;
	b->m = m;
	b->batch = batch;
	b->k = rml_model_n_classes(m);
	rml_status st = rml_model_reserve(m, batch, with_grad, err);
	if (st)
		return st;
	rml_model_set_trainable(m, 0);
	b->probs = malloc((size_t)(batch * b->k) * sizeof(float));
	b->dlogits = malloc((size_t)(batch * b->k) * sizeof(float));
	if (!b->probs || !b->dlogits) {
		rml_attack_unbind(b);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for a batch of %lld", (long long)batch);
	}
	am->grad = with_grad ? cb_grad : NULL;
	am->grad_dlr = with_grad && b->k >= 3 ? cb_grad_dlr : NULL;
	am->prob = cb_prob;
	am->progress = cb_progress;
	am->ctx = b;
	am->n_class = b->k;
	return RML_OK;
}

void rml_attack_unbind(rml_attack_binding *b)
{
	free(b->probs);
	free(b->dlogits);
	b->probs = b->dlogits = NULL;
}

/* ---- quantisation ----------------------------------------------------------------- */

static uint8_t round_px(float v)
{
	if (!(v > 0))
		return 0;
	if (v >= 255)
		return 255;
	return (uint8_t)lrintf(v);
}

void rml_attack_quantize(rml_attack_norm norm, double b, const uint8_t *x, const float *xa,
			  int64_t pixels, int64_t c, uint8_t *out)
{
	const int64_t d = pixels * c;
	if (norm == RML_NORM_L0) {
		for (int64_t p = 0; p < pixels; p++) {
			int same = 1;
			for (int64_t k = 0; k < c; k++)
				same &= xa[p * c + k] == (float)x[p * c + k];
			for (int64_t k = 0; k < c; k++)
				out[p * c + k] = same ? x[p * c + k] : round_px(xa[p * c + k]);
		}
		return;
	}
	if (norm == RML_NORM_LINF) {
		const int lim = (int)floor(b < 255 ? b : 255);
		for (int64_t j = 0; j < d; j++) {
			int q = round_px(xa[j]), dv = q - (int)x[j];
			if (dv > lim)
				q = x[j] + lim;
			else if (dv < -lim)
				q = x[j] - lim;
			out[j] = (uint8_t)q;
		}
		return;
	}
	double s = 0;
	for (int64_t j = 0; j < d; j++) {
		out[j] = round_px(xa[j]);
		double t = (double)out[j] - (double)x[j];
		s += t * t;
	}
	if (sqrt(s) <= b)
		return;
	/* Truncation towards x: every difference shrinks, so the norm is at
	 * most that of xa, which is within b. */
	for (int64_t j = 0; j < d; j++) {
		double t = (double)xa[j] - (double)x[j];
		t = t > 0 ? floor(t) : ceil(t);
		double v = (double)x[j] + t;
		out[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
	}
}

/* ---- running ------------------------------------------------------------------------ */

void rml_attack_dataset_result_init(rml_attack_dataset_result *r) { memset(r, 0, sizeof *r); }

void rml_attack_dataset_result_free(rml_attack_dataset_result *r)
{
	free(r->adv);
	free(r->targets);
	free(r->clean_pred);
	free(r->pred);
	free(r->success);
	free(r->attacked);
	free(r->linf);
	free(r->l2);
	free(r->l0);
	free(r->queries);
	free(r->grads);
	free(r->budget);
	memset(r, 0, sizeof *r);
}

static rml_status result_alloc(rml_attack_dataset_result *r, int64_t n, int64_t d, int targeted)
{
	size_t nn = (size_t)(n > 0 ? n : 1);
	r->adv = malloc((size_t)(n * d) + 1);
	r->targets = targeted ? malloc(nn * sizeof(int32_t)) : NULL;
	r->clean_pred = malloc(nn * sizeof(int32_t));
	r->pred = malloc(nn * sizeof(int32_t));
	r->success = calloc(nn, 1);
	r->attacked = calloc(nn, 1);
	r->linf = calloc(nn, sizeof(float));
	r->l2 = calloc(nn, sizeof(float));
	r->l0 = calloc(nn, sizeof(int32_t));
	r->queries = calloc(nn, sizeof(int64_t));
	r->grads = calloc(nn, sizeof(int64_t));
	r->budget = calloc(nn, sizeof(float));
	if (!r->adv || (targeted && !r->targets) || !r->clean_pred || !r->pred || !r->success ||
	    !r->attacked || !r->linf || !r->l2 || !r->l0 || !r->queries || !r->grads || !r->budget)
		return RML_ERR_NOMEM;
	return RML_OK;
}

/* Top classes of n uint8 images through the bound model. */
static rml_status classify_u8(rml_attack_binding *b, const uint8_t *x, int64_t n, int64_t d,
			      int32_t *pred, rml_error *err)
{
	for (int64_t i = 0; i < n; i += b->batch) {
		int64_t nb = n - i < b->batch ? n - i : b->batch;
		float *logits;
		rml_status st = rml_model_forward_u8(b->m, x + i * d, nb, RML_MODE_EVAL, &logits, err);
		if (st)
			return st;
		rml_softmax(b->probs, logits, nb, b->k);
		rml_top1(b->probs, nb, b->k, pred + i, NULL);
	}
	return RML_OK;
}

static void choose_targets(const rml_attack_spec *a, const int32_t *labels, int64_t n, int64_t k,
			   int32_t *t)
{
	for (int64_t i = 0; i < n; i++) {
		int32_t y = labels[i];
		if (a->target == RML_TARGET_NEXT) {
			t[i] = (int32_t)((y + 1) % k);
		} else if (a->target == RML_TARGET_CLASS) {
			t[i] = a->target_class;
		} else {
			/* A stream of its own, apart from the attack's (seed, i). */
			rml_rng r;
			rml_rng_seed_stream(&r, a->cfg.seed ^ 0x7461726765747321ull, (uint64_t)i);
			int32_t v = (int32_t)rml_rng_below(&r, (uint64_t)(k - 1));
			t[i] = v >= y ? v + 1 : v;
		}
	}
}

struct prog {
	rml_attack_dataset_progress_fn fn;
	void *ctx;
	int64_t base, total;
};

static void chunk_progress(void *ctx, int64_t done, int64_t total)
{
	struct prog *p = ctx;
	(void)total;
	if (p->fn)
		p->fn(p->ctx, p->base + done, p->total);
}

rml_status rml_attack_dataset(rml_model *m, const rml_attack_spec *a, const rml_dataset *d,
			   int64_t chunk, rml_attack_dataset_progress_fn progress, void *pctx,
			   rml_attack_dataset_result *r, rml_error *err)
{
	rml_attack_dataset_result_init(r);
	int h, w, c;
	rml_model_input_shape(m, &h, &w, &c);
	const int64_t k = rml_model_n_classes(m);
	if (d->h != h || d->w != w || d->c != c)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the model takes %dx%dx%d images, the dataset holds %lldx%lldx%lld", h, w,
				  c, (long long)d->h, (long long)d->w, (long long)d->c);
	for (int64_t i = 0; i < d->n; i++) {
		if (d->labels[i] < 0)
			return rml_errorf(err, RML_ERR_ARG,
					  "image %lld has no label; attacks need labelled images",
					  (long long)i);
		if (d->labels[i] >= k)
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "image %lld has label %d, but the model has %lld classes",
					  (long long)i, d->labels[i], (long long)k);
	}
	rml_status st = rml_attack_spec_check(a, (int)k, err);
	if (st)
		return st;
	if (chunk < 1)
		chunk = 128;
	const rml_attack_config *c0 = &a->cfg;
	const int white = c0->kind == RML_ATTACK_FGSM || c0->kind == RML_ATTACK_PGD ||
			  c0->kind == RML_ATTACK_APGD;
	const int64_t dim = d->h * d->w * d->c, n = d->n;
	r->n = n;
	r->h = d->h;
	r->w = d->w;
	r->c = d->c;
	r->k = k;
	if (result_alloc(r, n, dim, a->target != RML_TARGET_NONE)) {
		rml_attack_dataset_result_free(r);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld results", (long long)n);
	}
	if (n == 0)
		return RML_OK;
	const int64_t cn = chunk < n ? chunk : n;
	/* Forward batches: the white-box chunk, or a black-box population. */
	int64_t batch = white ? cn : 128;
	rml_attack_binding b;
	rml_attack_model am;
	float *xf = malloc((size_t)(cn * dim) * sizeof(float));
	float *xa = malloc((size_t)(cn * dim) * sizeof(float));
	rml_attack_result *res = malloc((size_t)cn * sizeof *res);
	int32_t *lab = malloc((size_t)cn * sizeof *lab);
	if (!xf || !xa || !res || !lab) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory for a chunk of %lld images",
				(long long)cn);
		goto done;
	}
	st = rml_attack_bind(&b, &am, m, batch, white, err);
	if (st)
		goto done;
	/* White-box attacks are judged here on the stored images; their own
	 * clean and final forward passes would be spent twice. */
	if (white)
		am.prob = NULL;
	struct prog pg = { progress, pctx, 0, n };
	b.progress = chunk_progress;
	b.progress_ctx = &pg;
	if (r->targets)
		choose_targets(a, d->labels, n, k, r->targets);
	st = classify_u8(&b, d->images, n, dim, r->clean_pred, err);
	if (st)
		goto unbind;
	double t0 = rml_now();
	for (int64_t i0 = 0; i0 < n; i0 += cn) {
		const int64_t nb = n - i0 < cn ? n - i0 : cn;
		const uint8_t *x8 = d->images + i0 * dim;
		for (int64_t j = 0; j < nb * dim; j++)
			xf[j] = (float)x8[j];
		for (int64_t e = 0; e < nb; e++)
			lab[e] = r->targets ? r->targets[i0 + e] : d->labels[i0 + e];
		rml_attack_config cfg = *c0;
		/* Black-box searches judge the whole-valued images that will be
		 * stored, so their successes survive quantisation. */
		cfg.integer = !white;
		cfg.batch = cn;
		cfg.index0 = i0;
		pg.base = i0;
		st = rml_attack_run(&cfg, &am, xf, lab, nb, d->h, d->w, d->c, xa, res, err);
		if (st) {
			if (b.err.msg[0] && err)
				rml_errorf(err, st, "%s (%s)", err->msg, b.err.msg);
			goto unbind;
		}
		for (int64_t e = 0; e < nb; e++) {
			const int64_t i = i0 + e;
			rml_attack_quantize(cfg.norm, res[e].budget > 0 ? res[e].budget : cfg.eps,
					     x8 + e * dim, xa + e * dim, d->h * d->w, d->c,
					     r->adv + i * dim);
			r->queries[i] = res[e].queries;
			r->grads[i] = res[e].grads;
			r->budget[i] = (float)res[e].budget;
		}
	}
	r->seconds = rml_now() - t0;
	st = classify_u8(&b, r->adv, n, dim, r->pred, err);
	if (st)
		goto unbind;
	for (int64_t i = 0; i < n; i++) {
		const int32_t y = d->labels[i];
		const int32_t goal = r->targets ? r->targets[i] : y;
		const uint8_t *x8 = d->images + i * dim, *a8 = r->adv + i * dim;
		for (int64_t j = 0; j < dim; j++) {
			xf[j] = (float)x8[j];
			xa[j] = (float)a8[j];
		}
		rml_attack_result mr;
		rml_attack_measure(xf, xa, d->h * d->w, d->c, &mr);
		r->linf[i] = (float)mr.linf;
		r->l2[i] = (float)mr.l2;
		r->l0[i] = (int32_t)mr.l0;
		if (r->targets) {
			r->success[i] = r->pred[i] == goal;
			r->attacked[i] = r->clean_pred[i] == y && y != goal;
		} else {
			r->success[i] = r->pred[i] != y;
			r->attacked[i] = r->clean_pred[i] == y;
		}
	}
unbind:
	rml_attack_unbind(&b);
done:
	free(xf);
	free(xa);
	free(res);
	free(lab);
	if (st)
		rml_attack_dataset_result_free(r);
	return st;
}

void rml_attack_summarize(const rml_attack_dataset_result *r, const int32_t *labels,
			   rml_attack_report *rep)
{
	memset(rep, 0, sizeof *rep);
	rep->n = r->n;
	int64_t right = 0, robust = 0;
	double sl = 0, s2 = 0, s0 = 0, sb = 0;
	for (int64_t i = 0; i < r->n; i++) {
		right += r->clean_pred[i] == labels[i];
		robust += r->pred[i] == labels[i];
		rep->queries += r->queries[i];
		rep->grads += r->grads[i];
		rep->linf_max = fmax(rep->linf_max, r->linf[i]);
		rep->l2_max = fmax(rep->l2_max, r->l2[i]);
		if (r->l0[i] > rep->l0_max)
			rep->l0_max = r->l0[i];
		if (!r->attacked[i])
			continue;
		rep->n_attacked++;
		if (r->success[i]) {
			rep->n_success++;
			sl += r->linf[i];
			s2 += r->l2[i];
			s0 += r->l0[i];
			sb += r->budget[i];
		}
	}
	const double nan = NAN;
	rep->clean_acc1 = r->n ? (double)right / (double)r->n : nan;
	rep->acc1 = r->n ? (double)robust / (double)r->n : nan;
	rep->acc1_lo = rep->acc1_hi = nan;
	if (r->n) {
		/* Wilson's score interval, z = 1.96: sensible at 0% and 100%. */
		const double z = 1.959964, nn = (double)r->n, ph = rep->acc1;
		const double mid = (ph + z * z / (2 * nn)) / (1 + z * z / nn);
		const double half = z / (1 + z * z / nn) * sqrt(ph * (1 - ph) / nn + z * z / (4 * nn * nn));
		rep->acc1_lo = fmax(0.0, mid - half);
		rep->acc1_hi = fmin(1.0, mid + half);
	}
	rep->queries_median = nan;
	int64_t *qs = rep->n_success > 0 ? malloc((size_t)rep->n_success * sizeof *qs) : NULL;
	if (qs) {
		int64_t m = 0;
		for (int64_t i = 0; i < r->n; i++)
			if (r->attacked[i] && r->success[i])
				qs[m++] = r->queries[i];
		/* Insertion sort: a few hundred values. */
		for (int64_t i = 1; i < m; i++)
			for (int64_t j = i; j > 0 && qs[j - 1] > qs[j]; j--) {
				int64_t t = qs[j];
				qs[j] = qs[j - 1];
				qs[j - 1] = t;
			}
		rep->queries_median = (double)qs[(m - 1) / 2];
		free(qs);
	}
	rep->success_rate = rep->n_attacked ? (double)rep->n_success / (double)rep->n_attacked : nan;
	double ns = (double)rep->n_success;
	rep->linf_mean = ns > 0 ? sl / ns : nan;
	rep->l2_mean = ns > 0 ? s2 / ns : nan;
	rep->l0_mean = ns > 0 ? s0 / ns : nan;
	rep->budget_mean = ns > 0 ? sb / ns : nan;
	rep->queries_mean = r->n ? (double)rep->queries / (double)r->n : nan;
	rep->seconds = r->seconds;
}

/* No attack: the stored images are the clean ones (a curve's budget 0). */
static rml_status run_clean(rml_model *m, const rml_dataset *d, int64_t chunk,
			    rml_attack_dataset_result *r, rml_error *err)
{
	rml_attack_dataset_result_init(r);
	const int64_t dim = d->h * d->w * d->c;
	r->n = d->n;
	r->h = d->h;
	r->w = d->w;
	r->c = d->c;
	r->k = rml_model_n_classes(m);
	rml_attack_binding b;
	rml_attack_model am;
	rml_status st = result_alloc(r, d->n, dim, 0);
	if (st)
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory for %lld results", (long long)d->n);
	if (!st)
		st = rml_attack_bind(&b, &am, m, chunk < 1 ? 128 : chunk, 0, err);
	if (!st) {
		st = classify_u8(&b, d->images, d->n, dim, r->clean_pred, err);
		rml_attack_unbind(&b);
	}
	if (st) {
		rml_attack_dataset_result_free(r);
		return st;
	}
	memcpy(r->adv, d->images, (size_t)(d->n * dim));
	for (int64_t i = 0; i < d->n; i++) {
		r->pred[i] = r->clean_pred[i];
		r->success[i] = r->pred[i] != d->labels[i];
		r->attacked[i] = !r->success[i];
		r->success[i] = 0;
	}
	return RML_OK;
}

rml_status rml_attack_curve(rml_model *m, const rml_attack_spec *a, const rml_dataset *d,
			     const double *budgets, int n_budgets, int64_t chunk,
			     rml_attack_dataset_progress_fn progress, void *pctx, rml_attack_report *reps,
			     rml_error *err)
{
	for (int i = 0; i < n_budgets; i++) {
		rml_attack_spec one = *a;
		const int l0 = a->cfg.kind == RML_ATTACK_PIXEL_L0;
		if (!(budgets[i] >= 0) || (l0 && budgets[i] != floor(budgets[i])))
			return rml_errorf(err, RML_ERR_ARG, "budget %g: want %s", budgets[i],
					  l0 ? "a whole number of pixels >= 0" : "eps >= 0");
		rml_attack_dataset_result r;
		rml_status st;
		if (budgets[i] == 0) {
			st = run_clean(m, d, chunk, &r, err);
		} else {
			if (l0)
				one.cfg.pixels = (int64_t)budgets[i];
			else
				one.cfg.eps = budgets[i];
			st = rml_attack_dataset(m, &one, d, chunk, progress, pctx, &r, err);
		}
		if (st)
			return st;
		rml_attack_summarize(&r, d->labels, &reps[i]);
		rml_attack_dataset_result_free(&r);
	}
	return RML_OK;
}

void rml_attack_query_curve(const rml_attack_dataset_result *r, const double *q, int n_q, double *rate)
{
	int64_t att = 0;
	for (int64_t i = 0; i < r->n; i++)
		att += r->attacked[i] != 0;
	for (int j = 0; j < n_q; j++) {
		int64_t s = 0;
		for (int64_t i = 0; i < r->n; i++)
			s += r->attacked[i] && r->success[i] && (double)r->queries[i] <= q[j];
		rate[j] = att ? (double)s / (double)att : NAN;
	}
}

rml_status rml_attack_query_png(const char *path, const char *title, const char *const *names,
				 int n_attacks, const double *q, int n_q, const double *rates,
				 rml_error *err)
{
	static const uint32_t colours[] = { 0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e,
					    0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f };
	rml_series *s = calloc((size_t)(n_attacks > 0 ? n_attacks : 1), sizeof *s);
	double *x = malloc((size_t)(n_q + 1) * sizeof *x);
	if (!s || !x) {
		free(s);
		free(x);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	double lo = INFINITY, hi = -INFINITY;
	for (int j = 0; j < n_q; j++) {
		lo = fmin(lo, q[j]);
		hi = fmax(hi, q[j]);
	}
	const int logx = lo >= 1 && hi > 20 * lo;
	for (int j = 0; j < n_q; j++)
		x[j] = logx ? log10(q[j]) : q[j];
	double xmin = logx ? log10(lo) : lo, xmax = logx ? log10(hi) : hi;
	if (xmax <= xmin)
		xmax = xmin + 1;
	for (int a = 0; a < n_attacks; a++)
		s[a] = (rml_series){ names[a], x, rates + a * n_q, n_q, colours[a % 8], 0 };
	/* The query counts measured are the x ticks, named by the count on a
	 * log axis (a few of them; many would crowd their labels). */
	enum { MAX_TICKS = 12 };
	char names_q[MAX_TICKS][24];
	const char *labels[MAX_TICKS];
	int n_ticks = n_q <= MAX_TICKS ? n_q : 0;
	for (int j = 0; j < n_ticks; j++) {
		snprintf(names_q[j], sizeof names_q[j], "%.0f", q[j]);
		labels[j] = names_q[j];
	}
	rml_status st = rml_plot_png_xticks(path, title, logx ? "queries (log scale)" : "queries",
					    "success rate", s, n_attacks, xmin, xmax, 0, 1, x, labels,
					    n_ticks, err);
	free(s);
	free(x);
	return st;
}

rml_status rml_attack_curve_png(const char *path, const char *title, const char *xlabel,
				 const char *const *names, int n_attacks, const double *budgets,
				 int n_budgets, const rml_attack_report *reps, rml_error *err)
{
	static const uint32_t colours[] = { 0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e,
					    0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f };
	rml_series *s = calloc((size_t)(n_attacks > 0 ? n_attacks : 1), sizeof *s);
	double *y = malloc((size_t)(n_attacks * n_budgets + 1) * sizeof *y);
	if (!s || !y) {
		free(s);
		free(y);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	double xmin = budgets[0], xmax = budgets[0];
	for (int j = 0; j < n_budgets; j++) {
		xmin = fmin(xmin, budgets[j]);
		xmax = fmax(xmax, budgets[j]);
	}
	if (xmax <= xmin)
		xmax = xmin + 1;
	for (int a = 0; a < n_attacks; a++) {
		for (int j = 0; j < n_budgets; j++)
			y[a * n_budgets + j] = reps[a * n_budgets + j].acc1;
		s[a] = (rml_series){ names[a], budgets, y + a * n_budgets, n_budgets,
				     colours[a % 8], 0 };
	}
	/* The budgets measured are the x ticks (a few of them; many would
	 * crowd their labels). */
	rml_status st = rml_plot_png_xticks(path, title, xlabel, "robust accuracy (acc1)", s, n_attacks,
					    xmin, xmax, 0, 1, budgets, NULL, n_budgets <= 12 ? n_budgets : 0,
					    err);
	free(s);
	free(y);
	return st;
}

/* ---- files ------------------------------------------------------------------------- */

/* The settings as run: a 0 that means "the default" is stored as the value
 * the attack used (lib/attack.c), so the file says what was done. */
static rml_attack_config as_run(const rml_attack_config *c)
{
	rml_attack_config u = *c;
	if (u.step_size <= 0) {
		if (u.kind == RML_ATTACK_FGSM)
			u.step_size = u.eps;
		else if (u.kind == RML_ATTACK_PGD && u.steps > 0)
			u.step_size = 2.5 * u.eps / (double)u.steps;
		else if (u.kind == RML_ATTACK_APGD)
			u.step_size = 2.0 * u.eps;
	}
	if ((u.kind == RML_ATTACK_CMAES_LINF || u.kind == RML_ATTACK_PIXEL_L0) &&
	    u.search == RML_SEARCH_CMAES && u.sigma0 <= 0)
		u.sigma0 = 0.25;
	if ((u.kind == RML_ATTACK_CMAES_LINF || u.kind == RML_ATTACK_PIXEL_L0) &&
	    u.search == RML_SEARCH_DE && u.popsize <= 0)
		u.popsize = 400;
	if (u.kind == RML_ATTACK_SQUARE && u.p_init <= 0)
		u.p_init = u.norm == RML_NORM_LINF ? 0.05 : 0.1;
	return u;
}

rml_status rml_attack_to_file(const rml_attack_spec *a, const rml_dataset *d,
			       const rml_attack_dataset_result *r, rml_file *f, rml_error *err)
{
	rml_dataset adv = *d;
	adv.images = r->adv;
	rml_status st = rml_dataset_to_file(&adv, f, err);
	if (st)
		return st;
	const rml_attack_config used = as_run(&a->cfg), *c = &used;
	int64_t n1[1] = { r->n };
	struct {
		const char *name;
		rml_dtype t;
		const void *data;
	} tv[] = {
		{ "attack.success", RML_DTYPE_U8, r->success },
		{ "attack.attacked", RML_DTYPE_U8, r->attacked },
		{ "attack.clean_pred", RML_DTYPE_I32, r->clean_pred },
		{ "attack.pred", RML_DTYPE_I32, r->pred },
		{ "attack.linf", RML_DTYPE_F32, r->linf },
		{ "attack.l2", RML_DTYPE_F32, r->l2 },
		{ "attack.l0", RML_DTYPE_I32, r->l0 },
		{ "attack.queries", RML_DTYPE_I64, r->queries },
		{ "attack.grads", RML_DTYPE_I64, r->grads },
		{ "attack.budget", RML_DTYPE_F32, r->budget },
		{ "attack.targets", RML_DTYPE_I32, r->targets },
	};
	for (size_t i = 0; i < sizeof tv / sizeof tv[0]; i++)
		if (tv[i].data && !rml_add_tensor(f, tv[i].name, tv[i].t, 1, n1, tv[i].data, err))
			return err ? err->code : RML_ERR_NOMEM;
	rml_attack_report rep;
	rml_attack_summarize(r, d->labels, &rep);
	if (rml_set_str(f, "attack.name", a->name) ||
	    rml_set_str(f, "attack.kind", rml_attack_kind_name(c->kind)) ||
	    rml_set_str(f, "attack.norm", rml_attack_norm_name(c->norm)) ||
	    rml_set_f64(f, "attack.eps", c->eps) || rml_set_i64(f, "attack.pixels", c->pixels) ||
	    rml_set_str(f, "attack.target", rml_target_mode_name(a->target)) ||
	    rml_set_i64(f, "attack.target_class", a->target == RML_TARGET_CLASS ? a->target_class : -1) ||
	    rml_set_i64(f, "attack.steps", c->steps) || rml_set_f64(f, "attack.step_size", c->step_size) ||
	    rml_set_i64(f, "attack.restarts", c->restarts) ||
	    rml_set_i64(f, "attack.random_start", c->random_start) ||
	    rml_set_i64(f, "attack.generations", c->generations) ||
	    rml_set_i64(f, "attack.popsize", c->popsize) ||
	    rml_set_str(f, "attack.search", search_names[c->search]) ||
	    rml_set_str(f, "attack.fitness", fitness_names[c->fitness]) ||
	    rml_set_f64(f, "attack.sigma0", c->sigma0) || rml_set_f64(f, "attack.de_f", c->de_f) ||
	    rml_set_f64(f, "attack.de_cr", c->de_cr) || rml_set_i64(f, "attack.min_search", c->min_search) ||
	    rml_set_i64(f, "attack.seed", (int64_t)c->seed) ||
	    rml_set_str(f, "attack.loss", loss_names[c->loss]) ||
	    rml_set_i64(f, "attack.tile", c->tile) || rml_set_i64(f, "attack.queries", c->queries) ||
	    rml_set_f64(f, "attack.p_init", c->p_init) ||
	    rml_set_f64(f, "attack.clean_acc1", rep.clean_acc1) || rml_set_f64(f, "attack.acc1", rep.acc1) ||
	    rml_set_f64(f, "attack.success_rate", isnan(rep.success_rate) ? 0 : rep.success_rate))
		return rml_errorf(err, RML_ERR_NOMEM, "cannot record the attack settings: out of memory");
	return RML_OK;
}

rml_status rml_attack_verify(const rml_file *adv, const rml_dataset *clean,
			      rml_attack_verify_report *v, rml_error *err)
{
	memset(v, 0, sizeof *v);
	v->first_over = -1;
	const char *norm;
	rml_status st = rml_get_str(adv, "attack.norm", &norm, err);
	if (st)
		return rml_errorf(err, RML_ERR_FORMAT, "not an adversarial dataset: no attack.norm key");
	if (!strcmp(norm, "l0")) {
		int64_t k;
		if (rml_get_i64(adv, "attack.pixels", &k, err))
			return RML_ERR_FORMAT;
		v->norm = RML_NORM_L0;
		v->budget = (double)k;
	} else {
		if (rml_get_f64(adv, "attack.eps", &v->budget, err))
			return RML_ERR_FORMAT;
		if (!strcmp(norm, "linf"))
			v->norm = RML_NORM_LINF;
		else if (!strcmp(norm, "l2"))
			v->norm = RML_NORM_L2;
		else
			return rml_errorf(err, RML_ERR_FORMAT, "unknown attack.norm '%s'", norm);
	}
	rml_dataset d;
	st = rml_dataset_from_file(&d, adv, err);
	if (st)
		return st;
	if (d.n != clean->n || d.h != clean->h || d.w != clean->w || d.c != clean->c) {
		st = rml_errorf(err, RML_ERR_MISMATCH,
				"the adversarial set holds %lld images of %lldx%lldx%lld, the clean set "
				"%lld of %lldx%lldx%lld",
				(long long)d.n, (long long)d.h, (long long)d.w, (long long)d.c,
				(long long)clean->n, (long long)clean->h, (long long)clean->w,
				(long long)clean->c);
		goto out;
	}
	for (int64_t i = 0; i < d.n; i++)
		if (d.labels[i] != clean->labels[i]) {
			st = rml_errorf(err, RML_ERR_MISMATCH,
					"image %lld has label %d here and %d in the clean set: not its clean set",
					(long long)i, d.labels[i], clean->labels[i]);
			goto out;
		}
	v->n = d.n;
	const int64_t px = d.h * d.w, c = d.c;
	for (int64_t i = 0; i < d.n; i++) {
		const uint8_t *a = d.images + i * px * c, *x = clean->images + i * px * c;
		int64_t l0 = 0, s2 = 0;
		int linf = 0;
		for (int64_t p = 0; p < px; p++) {
			int ch = 0;
			for (int64_t k = 0; k < c; k++) {
				int t = (int)a[p * c + k] - (int)x[p * c + k];
				ch |= t != 0;
				linf = abs(t) > linf ? abs(t) : linf;
				s2 += (int64_t)t * t;
			}
			l0 += ch;
		}
		double l2 = sqrt((double)s2);
		v->linf_max = fmax(v->linf_max, linf);
		v->l2_max = fmax(v->l2_max, l2);
		if (l0 > v->l0_max)
			v->l0_max = l0;
		int over = v->norm == RML_NORM_LINF ? linf > v->budget
			   : v->norm == RML_NORM_L2 ? l2 > v->budget
						    : (double)l0 > v->budget;
		if (over) {
			if (v->first_over < 0)
				v->first_over = i;
			v->n_over++;
		}
	}
out:
	rml_dataset_free(&d);
	return st;
}

/* ---- the sheet ------------------------------------------------------------------------ */

static void caption(rml_canvas *cv, int x, int y, int width, const char *s, uint32_t rgb)
{
	char t[64];
	snprintf(t, sizeof t, "%s", s);
	int maxch = width / 6;
	if ((int)strlen(t) > maxch && maxch > 0)
		t[maxch] = 0;
	rml_canvas_text(cv, x, y, t, 1, rgb);
}

rml_status rml_attack_sheet(const char *path, const rml_attack_spec *a, const rml_dataset *d,
			     const rml_attack_dataset_result *r, const char *const *names, int64_t count,
			     double amplify, rml_error *err)
{
	if (r->n == 0)
		return rml_errorf(err, RML_ERR_ARG, "no examples to draw");
	if (count > r->n)
		count = r->n;
	if (count < 1)
		count = 1;
	const int64_t dim = r->h * r->w * r->c;
	int64_t *pick = malloc((size_t)count * sizeof *pick);
	uint8_t *delta = malloc((size_t)dim);
	if (!pick || !delta) {
		free(pick);
		free(delta);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	int64_t np = 0;
	for (int pass = 0; pass < 3 && np < count; pass++)
		for (int64_t i = 0; i < r->n && np < count; i++) {
			int good = r->attacked[i] && r->success[i];
			if ((pass == 0 && good) || (pass == 1 && r->attacked[i] && !good) ||
			    (pass == 2 && !r->attacked[i]))
				pick[np++] = i;
		}
	int maxd = 0;
	for (int64_t s = 0; s < np; s++)
		for (int64_t j = 0; j < dim; j++) {
			int t = abs((int)r->adv[pick[s] * dim + j] - (int)d->images[pick[s] * dim + j]);
			maxd = t > maxd ? t : maxd;
		}
	double amp = amplify > 0 ? amplify : maxd > 0 ? 127.0 / maxd : 1.0;
	const int scale = r->h <= 32 ? 3 : 1;
	const int cw = (int)r->w * scale, chh = (int)r->h * scale, lab = 12, pad = 6, top = 20;
	const int colw = cw > 80 ? cw : 80;
	rml_canvas cv;
	rml_status st = rml_canvas_init(&cv, (int)np * (colw + pad) + pad + 70,
					top + 3 * (chh + lab + pad) + pad, 0xffffff, err);
	if (st) {
		free(pick);
		free(delta);
		return st;
	}
	char title[160];
	if (a->cfg.kind == RML_ATTACK_PIXEL_L0)
		snprintf(title, sizeof title, "%s, %lld pixels: clean (true class), adversarial (model's class), change x%.3g",
			 a->name, (long long)a->cfg.pixels, amp);
	else
		snprintf(title, sizeof title, "%s, %s eps %g: clean (true class), adversarial (model's class), change x%.3g",
			 a->name, rml_attack_norm_name(a->cfg.norm), a->cfg.eps, amp);
	rml_canvas_text(&cv, pad, 6, title, 1, 0x202020);
	static const char *const rows[] = { "clean", "attacked", "change" };
	for (int row = 0; row < 3; row++)
		rml_canvas_text(&cv, pad, top + row * (chh + lab + pad) + chh / 2, rows[row], 1, 0x606060);
	char generic[32];
	for (int64_t s = 0; s < np; s++) {
		const int64_t i = pick[s];
		const int x = pad + 70 + (int)s * (colw + pad);
		const uint8_t *x8 = d->images + i * dim, *a8 = r->adv + i * dim;
		for (int64_t j = 0; j < dim; j++) {
			double v = 128.0 + amp * ((double)a8[j] - (double)x8[j]);
			delta[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v));
		}
		const uint8_t *img[3] = { x8, a8, delta };
		for (int row = 0; row < 3; row++) {
			int y = top + row * (chh + lab + pad);
			rml_canvas_image(&cv, x, y, img[row], (int)r->h, (int)r->w, (int)r->c, scale);
			const char *txt = NULL;
			uint32_t col = 0x202020;
			int32_t cls = row == 0 ? d->labels[i] : r->pred[i];
			if (row < 2) {
				snprintf(generic, sizeof generic, "class_%d", (int)cls);
				txt = cls >= 0 && names && names[cls] ? names[cls] : generic;
				if (row == 1 && r->success[i])
					col = 0xc00000;
			} else {
				snprintf(generic, sizeof generic, "Linf %.0f L0 %d", (double)r->linf[i],
					 (int)r->l0[i]);
				txt = generic;
			}
			caption(&cv, x, y + chh + 3, colw, txt, col);
		}
	}
	st = rml_canvas_save_png(&cv, path, err);
	rml_canvas_free(&cv);
	free(pick);
	free(delta);
	return st;
}

/* ---- what rmlops-attack runs ------------------------------------------------ */

rml_status rml_attack_spec_load(const char *path, const char *name, rml_attack_spec **list, int *n,
				rml_error *err)
{
	*list = NULL;
	*n = 0;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return rml_errorf(err, RML_ERR_IO, "cannot read %s", path);
	char *text = malloc(1 << 20);
	size_t len = text ? fread(text, 1, (1 << 20) - 1, fp) : 0;
	int big = text && len == (1 << 20) - 1;
	fclose(fp);
	if (!text || big) {
		free(text);
		return rml_errorf(err, RML_ERR_LIMIT, "%s: larger than 1 MB", path);
	}
	text[len] = 0;
	/* YAML text ends at a NUL: the rest would be dropped unread. */
	if (strlen(text) != len) {
		rml_errorf(err, RML_ERR_FORMAT, "%s: a NUL byte at offset %zu", path, strlen(text));
		free(text);
		return RML_ERR_FORMAT;
	}
	rml_status st = rml_attack_spec_parse_yaml(text, path, list, n, err);
	free(text);
	if (st || !name)
		return st;
	int k = 0;
	for (int i = 0; i < *n; i++)
		if (!strcmp((*list)[i].name, name))
			(*list)[k++] = (*list)[i];
	*n = k;
	if (!k)
		return rml_errorf(err, RML_ERR_ARG, "%s has no attack named '%s'", path, name);
	return RML_OK;
}

rml_status rml_attack_query_curves(rml_model *m, const rml_attack_spec *list, int n,
				   const rml_dataset *d, const double *q, int n_q, int64_t batch,
				   rml_attack_dataset_progress_fn progress, double *rates,
				   rml_attack_report *reps, rml_error *err)
{
	for (int i = 0; i < n; i++) {
		rml_attack_dataset_result r;
		rml_status st = rml_attack_dataset(m, &list[i], d, batch, progress, (void *)list[i].name, &r,
						   err);
		if (st)
			return st;
		rml_attack_query_curve(&r, q, n_q, rates + i * n_q);
		rml_attack_summarize(&r, d->labels, &reps[i]);
		rml_attack_dataset_result_free(&r);
	}
	return RML_OK;
}

rml_status rml_attack_curves(rml_model *m, const rml_attack_spec *list, int n, const rml_dataset *d,
			      const double *budgets, int n_budgets, int64_t batch,
			      rml_attack_dataset_progress_fn progress, rml_attack_report *reps,
			      rml_error *err)
{
	for (int i = 0; i < n; i++) {
		rml_status st = rml_attack_curve(m, &list[i], d, budgets, n_budgets, batch, progress,
						 (void *)list[i].name, reps + i * n_budgets, err);
		if (st)
			return st;
	}
	return RML_OK;
}

rml_status rml_attack_curve_check(const rml_attack_spec *list, int n, int nq, int n_eps, int n_pix,
				  rml_error *err)
{
	const int l0 = n > 0 && list[0].cfg.kind == RML_ATTACK_PIXEL_L0;
	for (int i = 0; i < n; i++) {
		rml_attack_kind k = list[i].cfg.kind;
		int il0 = k == RML_ATTACK_PIXEL_L0;
		if (nq && k != RML_ATTACK_CMAES_LINF && !il0 && k != RML_ATTACK_SQUARE)
			return rml_errorf(err, RML_ERR_ARG, "attack %s is white-box: the query axis is for "
					  "cmaes-linf, pixel-l0 and square", list[i].name);
		if (!nq && ((il0 && !n_pix) || (!il0 && !n_eps)))
			return rml_errorf(err, RML_ERR_ARG, "attack %s needs %s LIST for its curve", list[i].name,
					  il0 ? "--pixels" : "--eps");
		if (!nq && i > 0 && il0 != l0)
			return rml_errorf(err, RML_ERR_ARG, "one curve shares its budgets: do not mix "
					  "pixel-l0 with eps attacks");
	}
	return RML_OK;
}

rml_status rml_attack_curves_report(rml_model *m, const rml_attack_spec *list, int n,
				    const rml_dataset *d, const double *bud, int nb, int l0,
				    const double *q, int nq, int64_t batch,
				    rml_attack_dataset_progress_fn progress, int json, const char *plot,
				    rml_outbuf *out, rml_error *err)
{
	const int np = nq ? nq : nb;
	rml_attack_report *reps = calloc((size_t)n * (size_t)np, sizeof *reps);
	double *rates = calloc((size_t)n * (size_t)np, sizeof *rates);
	const char **nm = calloc((size_t)n, sizeof *nm);
	char title[160];
	rml_status st = RML_OK;
	if (!reps || !rates || !nm)
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int i = 0; !st && i < n; i++)
		nm[i] = list[i].name;
	if (!st && nq) {
		st = rml_attack_query_curves(m, list, n, d, q, nq, batch, progress, rates, reps, err);
		if (!st)
			rml_attack_query_text(out, json, list, n, q, nq, rates, reps, d->n);
		snprintf(title, sizeof title, "success rate against queries, eps %g, %lld images",
			 list[0].cfg.eps, (long long)d->n);
	} else if (!st) {
		st = rml_attack_curves(m, list, n, d, bud, nb, batch, progress, reps, err);
		if (!st)
			rml_attack_curve_text(out, json, l0, list, n, bud, nb, reps, d->n);
		snprintf(title, sizeof title, "robustness curve, %lld images", (long long)d->n);
	}
	if (!st && plot)
		st = nq ? rml_attack_query_png(plot, title, nm, n, q, nq, rates, err)
			: rml_attack_curve_png(plot, title, l0 ? "pixels changed (L0)" : "eps (pixel units, of 255)",
					       nm, n, bud, nb, reps, err);
	free(nm);
	free(rates);
	free(reps);
	return st;
}
