/*
 * optimizer.c — SGD with momentum and AdamW over float vectors (see
 * optimizer.h). The update formulas follow PyTorch's SGD (dampening 0)
 * and AdamW (Loshchilov & Hutter, "Decoupled weight decay
 * regularization", ICLR 2019), so recipes carry over; test_optimizer
 * compares both with PyTorch step by step.
 */
#include "optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int rml_optim_kind_parse(const char *name, rml_opt_kind *kind)
{
	if (strcmp(name, "sgd") == 0)
		*kind = RML_OPT_SGD;
	else if (strcmp(name, "adamw") == 0)
		*kind = RML_OPT_ADAMW;
	else
		return -1;
	return 0;
}

rml_status rml_optim_init(rml_optim *o, rml_opt_kind kind, int64_t n, rml_error *err)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->momentum = 0.9f;
	o->beta1 = 0.9f;
	o->beta2 = 0.999f;
	o->eps = 1e-8f;
	o->n = n;
	o->m = calloc((size_t)(n ? n : 1), sizeof *o->m);
	o->v = kind == RML_OPT_ADAMW ? calloc((size_t)(n ? n : 1), sizeof *o->v) : NULL;
	if (!o->m || (kind == RML_OPT_ADAMW && !o->v)) {
		rml_optim_free(o);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for the optimiser state");
	}
	return RML_OK;
}

void rml_optim_free(rml_optim *o)
{
	free(o->m);
	free(o->v);
	o->m = o->v = NULL;
}

void rml_optim_begin(rml_optim *o)
{
	o->step++;
}

void rml_optim_update(rml_optim *o, float *p, const float *g, int64_t off, int64_t len,
		      float lr, float wd)
{
	float *m = o->m + off;
	if (o->kind == RML_OPT_SGD) {
		float mu = o->momentum;
		for (int64_t i = 0; i < len; i++) {
			float gi = g[i] + wd * p[i];
			m[i] = mu * m[i] + gi;
			p[i] -= lr * (o->nesterov ? gi + mu * m[i] : m[i]);
		}
		return;
	}
	float *v = o->v + off;
	float b1 = o->beta1, b2 = o->beta2;
	double c1 = 1.0 - pow(b1, (double)o->step), c2 = 1.0 - pow(b2, (double)o->step);
	float step = (float)(lr / c1), rc2 = (float)(1.0 / sqrt(c2));
	for (int64_t i = 0; i < len; i++) {
		p[i] -= lr * wd * p[i];
		m[i] = b1 * m[i] + (1 - b1) * g[i];
		v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
		p[i] -= step * m[i] / (sqrtf(v[i]) * rc2 + o->eps);
	}
}

double rml_lr_cosine(double base, int64_t t, int64_t warmup, int64_t total)
{
	if (t < warmup)
		return base * (double)(t + 1) / (double)warmup;
	if (total <= warmup)
		return base;
	double x = (double)(t - warmup) / (double)(total - warmup);
	if (x > 1)
		x = 1;
	return 0.5 * base * (1 + cos(M_PI * x));
}

rml_status rml_optim_to_file(const rml_optim *o, rml_file *f, rml_error *err)
{
	int64_t d[1] = { o->n };
	rml_status st = rml_set_str(f, "optim.kind", o->kind == RML_OPT_SGD ? "sgd" : "adamw");
	if (!st)
		st = rml_set_i64(f, "optim.step", o->step);
	if (!st)
		st = rml_set_f64(f, "optim.momentum", o->momentum);
	if (!st)
		st = rml_set_i64(f, "optim.nesterov", o->nesterov);
	if (!st)
		st = rml_set_f64(f, "optim.beta1", o->beta1);
	if (!st)
		st = rml_set_f64(f, "optim.beta2", o->beta2);
	if (!st)
		st = rml_set_f64(f, "optim.eps", o->eps);
	if (st)
		return rml_errorf(err, st, "out of memory");
	if (!rml_add_tensor(f, "optim.m", RML_DTYPE_F32, 1, d, o->m, err))
		return err ? err->code : RML_ERR_NOMEM;
	if (o->v && !rml_add_tensor(f, "optim.v", RML_DTYPE_F32, 1, d, o->v, err))
		return err ? err->code : RML_ERR_NOMEM;
	return RML_OK;
}

static rml_tensor *state_tensor(const rml_optim *o, const rml_file *f, const char *name,
				rml_error *err)
{
	rml_tensor *t = rml_expect_tensor(f, name, RML_DTYPE_F32, 1, err);
	if (t && t->dims[0] != o->n) {
		rml_errorf(err, RML_ERR_MISMATCH,
			   "the optimiser state %s holds %lld values, the model trains %lld", name,
			   (long long)t->dims[0], (long long)o->n);
		return NULL;
	}
	return t;
}

rml_status rml_optim_from_file(rml_optim *o, const rml_file *f, rml_error *err)
{
	const char *kind;
	int64_t step, nesterov = o->nesterov;
	double mom = o->momentum, b1 = o->beta1, b2 = o->beta2, eps = o->eps;
	rml_status st = rml_get_str(f, "optim.kind", &kind, err);
	if (!st)
		st = rml_get_i64(f, "optim.step", &step, err);
	/* The hyperparameters came later than the state: a checkpoint without
	 * them keeps those o was set up with. */
	if (!st && rml_get(f, "optim.momentum"))
		st = rml_get_f64(f, "optim.momentum", &mom, err);
	if (!st && rml_get(f, "optim.nesterov"))
		st = rml_get_i64(f, "optim.nesterov", &nesterov, err);
	if (!st && rml_get(f, "optim.beta1"))
		st = rml_get_f64(f, "optim.beta1", &b1, err);
	if (!st && rml_get(f, "optim.beta2"))
		st = rml_get_f64(f, "optim.beta2", &b2, err);
	if (!st && rml_get(f, "optim.eps"))
		st = rml_get_f64(f, "optim.eps", &eps, err);
	if (st)
		return st;
	rml_opt_kind k;
	if (strcmp(kind, "sgd") == 0)
		k = RML_OPT_SGD;
	else if (strcmp(kind, "adamw") == 0)
		k = RML_OPT_ADAMW;
	else
		return rml_errorf(err, RML_ERR_FORMAT, "unknown optimiser '%s' in the checkpoint", kind);
	if (k != o->kind)
		return rml_errorf(err, RML_ERR_MISMATCH, "the checkpoint was made with %s, not %s", kind,
				  o->kind == RML_OPT_SGD ? "sgd" : "adamw");
	if (step < 0 || !(mom >= 0 && mom < 1) || !(b1 >= 0 && b1 < 1) || !(b2 >= 0 && b2 < 1) ||
	    !(eps > 0))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's optimiser settings are out of range");
	rml_tensor *m = state_tensor(o, f, "optim.m", err);
	rml_tensor *v = m && o->v ? state_tensor(o, f, "optim.v", err) : NULL;
	if (!m || (o->v && !v))
		return err ? err->code : RML_ERR_FORMAT;
	memcpy(o->m, m->data, m->nbytes);
	if (v)
		memcpy(o->v, v->data, v->nbytes);
	o->step = step;
	o->momentum = (float)mom;
	o->nesterov = nesterov != 0;
	o->beta1 = (float)b1;
	o->beta2 = (float)b2;
	o->eps = (float)eps;
	return RML_OK;
}
