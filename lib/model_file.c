/*
 * model_file.c — models in .rml files (kind "model") and adapter files
 * (kind "adapters"), the base hash that binds them, and the keys and
 * tensors under "calib." that a model carries for the calibration module
 * without reading them (contracts in model.h; layout in
 * rmlops-format(5)). Not here: building or running
 * the graph (model.c).
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* ---- files ---------------------------------------------------------------------------- */

void rml_model_base_hash(const rml_model *m, char hex[65])
{
	rml_sha256 c;
	rml_sha256_init(&c);
	for (int i = 0; i < m->n_p + m->n_b; i++) {
		const rml_param *p = i < m->n_p ? &m->params[i] : &m->buffers[i - m->n_p];
		if (p->group != RML_GROUP_THETA)
			continue;
		rml_sha256_update(&c, p->name, strlen(p->name) + 1);
		for (int d = 0; d < p->ndim; d++) {
			uint8_t le[8];
			for (int b = 0; b < 8; b++)
				le[b] = (uint8_t)((uint64_t)p->dims[d] >> (8 * b));
			rml_sha256_update(&c, le, 8);
		}
		rml_sha256_update(&c, p->data, (size_t)p->numel * sizeof(float));
	}
	uint8_t dg[32];
	rml_sha256_final(&c, dg);
	rml_hex32(dg, hex);
}

static rml_status put_param(rml_file *f, const rml_param *p, rml_error *err)
{
	return rml_add_tensor(f, p->name, RML_DTYPE_F32, p->ndim, p->dims, p->data, err)
		       ? RML_OK
		       : (err ? err->code : RML_ERR_NOMEM);
}

/* ---- what the model carries ---------------------------------------------- */

/* The calibrator ("calib.", calib_model.h) and the co-activation
 * statistics ("coact.", coact.h). */
static int carried_name(const char *name)
{
	return strncmp(name, "calib.", 6) == 0 || strncmp(name, "coact.", 6) == 0;
}

/* The keys and tensors of src with a carried name, appended to dst. */
static rml_status copy_carried(rml_file *dst, const rml_file *src, rml_error *err)
{
	for (int64_t i = 0; i < src->n_kv; i++)
		if (carried_name(src->kv[i].key) && rml_set_kv(dst, &src->kv[i]))
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < src->n_tensors; i++) {
		const rml_tensor *t = &src->tensors[i];
		if (carried_name(t->name) &&
		    !rml_add_tensor(dst, t->name, t->dtype, t->ndim, t->dims, t->data, err))
			return err ? err->code : RML_ERR_NOMEM;
	}
	return RML_OK;
}

const rml_file *rml_model_carried(const rml_model *m)
{
	return &m->carried;
}

rml_status rml_model_set_carried(rml_model *m, const rml_file *part, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = part ? copy_carried(&f, part, err) : RML_OK;
	if (st) {
		rml_file_free(&f);
		return st;
	}
	rml_file_free(&m->carried);
	m->carried = f;
	return RML_OK;
}

rml_status rml_model_to_file(const rml_model *m, rml_file *f, rml_error *err)
{
	rml_status st = rml_set_str(f, "kind", "model");
	if (!st)
		st = rml_set_str(f, "model.arch_yaml", m->a.yaml);
	if (!st)
		st = rml_set_i64(f, "model.n_classes", m->n_classes);
	if (!st)
		st = rml_set_i64(f, "model.adapter_gamma", m->gamma);
	if (!st && m->class_names)
		st = rml_set_str_array(f, "model.classes", (const char *const *)m->class_names,
				       m->n_classes);
	if (!st) {
		char hex[65];
		rml_model_base_hash(m, hex);
		st = rml_set_str(f, "model.base_hash", hex);
	}
	if (st)
		return rml_errorf(err, st, "cannot describe the model: %s", rml_strerror(st));
	for (int i = 0; i < m->n_p && !st; i++)
		st = put_param(f, &m->params[i], err);
	for (int i = 0; i < m->n_b && !st; i++)
		st = put_param(f, &m->buffers[i], err);
	if (!st)
		st = copy_carried(f, &m->carried, err);
	return st;
}

static void shape_text(char *buf, size_t size, int ndim, const int64_t *dims)
{
	size_t at = (size_t)snprintf(buf, size, "[");
	for (int d = 0; d < ndim && at < size; d++)
		at += (size_t)snprintf(buf + at, size - at, "%s%lld", d ? "," : "", (long long)dims[d]);
	if (at < size)
		snprintf(buf + at, size - at, "]");
}

/* Check that f holds p with its exact dtype and shape; copy only when
 * asked, so a caller can validate everything before changing anything. */
static rml_status take_param(rml_param *p, const rml_file *f, const char *what, int copy,
			     rml_error *err)
{
	rml_tensor *t = rml_find_tensor(f, p->name);
	if (!t)
		return rml_errorf(err, RML_ERR_FORMAT, "%s: tensor '%s' is missing", what, p->name);
	if (t->dtype != RML_DTYPE_F32)
		return rml_errorf(err, RML_ERR_MISMATCH, "%s: tensor '%s' is %s, expected f32", what,
				  p->name, rml_dtype_name(t->dtype));
	int ok = t->ndim == p->ndim;
	for (int d = 0; ok && d < p->ndim; d++)
		ok = t->dims[d] == p->dims[d];
	if (!ok) {
		char have[96], want[96];
		shape_text(have, sizeof have, t->ndim, t->dims);
		shape_text(want, sizeof want, p->ndim, p->dims);
		return rml_errorf(err, RML_ERR_MISMATCH, "%s: tensor '%s' has shape %s, the architecture needs %s",
				  what, p->name, have, want);
	}
	if (copy)
		memcpy(p->data, t->data, (size_t)p->numel * sizeof(float));
	return RML_OK;
}

static int is_param_name(const rml_model *m, const char *name, int with_buffers)
{
	for (int i = 0; i < m->n_p; i++)
		if (strcmp(m->params[i].name, name) == 0)
			return 1;
	for (int i = 0; with_buffers && i < m->n_b; i++)
		if (strcmp(m->buffers[i].name, name) == 0)
			return 1;
	return 0;
}

rml_status rml_model_from_file(rml_model **out, const rml_file *f, rml_error *err)
{
	*out = NULL;
	rml_status st = rml_expect_kind(f, "model", "input", err);
	const char *yaml = NULL;
	int64_t k = 0, gamma = 0;
	if (!st)
		st = rml_get_str(f, "model.arch_yaml", &yaml, err);
	if (!st)
		st = rml_get_i64(f, "model.n_classes", &k, err);
	if (!st && rml_get(f, "model.adapter_gamma"))
		st = rml_get_i64(f, "model.adapter_gamma", &gamma, err);
	if (st)
		return st;
	if (k < 1 || k > 100000 || gamma < 0 || gamma > 8)
		return rml_errorf(err, RML_ERR_FORMAT, "model: invalid class count or adapter setting");
	rml_model_config cfg = { yaml, (int)k, (int)gamma, 0 };
	rml_model *m;
	st = rml_model_create(&m, &cfg, err);
	if (st)
		return st;
	for (int i = 0; i < m->n_p && !st; i++)
		st = take_param(&m->params[i], f, "model", 1, err);
	for (int i = 0; i < m->n_b && !st; i++)
		st = take_param(&m->buffers[i], f, "model", 1, err);
	/* Nothing else may ride along, except the optimiser state ("optim.*")
	 * that training checkpoints carry, the calibrator ("calib.*") and the
	 * co-activation statistics ("coact.*"). */
	if (!st)
		st = copy_carried(&m->carried, f, err);
	for (int64_t i = 0; i < f->n_tensors && !st; i++)
		if (strncmp(f->tensors[i].name, "optim.", 6) != 0 &&
		    !carried_name(f->tensors[i].name) &&
		    !is_param_name(m, f->tensors[i].name, 1))
			st = rml_errorf(err, RML_ERR_FORMAT,
					"model: tensor '%s' is not part of the architecture",
					f->tensors[i].name);
	const rml_kv *cl = rml_get(f, "model.classes");
	if (!st && cl && (cl->type != RML_KV_STR_ARRAY || cl->n != k))
		st = rml_errorf(err, RML_ERR_FORMAT,
				"model: model.classes must be a list of %lld names", (long long)k);
	if (!st && cl)
		st = rml_model_set_class_names(m, (const char *const *)cl->sa, (int)cl->n, err);
	if (st) {
		rml_model_free(m);
		return st;
	}
	*out = m;
	return RML_OK;
}

rml_status rml_model_adapters_to_file(const rml_model *m, int with_head, rml_file *f,
				      rml_error *err)
{
	if (!m->gamma)
		return rml_errorf(err, RML_ERR_ARG, "the model has no adapters");
	char hex[65];
	rml_model_base_hash(m, hex);
	rml_status st = rml_set_str(f, "kind", "adapters");
	if (!st)
		st = rml_set_str(f, "adapters.base_hash", hex);
	if (!st)
		st = rml_set_i64(f, "adapters.gamma", m->gamma);
	if (!st)
		st = rml_set_i64(f, "adapters.with_head", with_head);
	if (st)
		return rml_errorf(err, st, "cannot describe the adapters");
	for (int i = 0; i < m->n_p && !st; i++) {
		rml_group g = m->params[i].group;
		if (g == RML_GROUP_OMEGA || g == RML_GROUP_PHI || (with_head && g == RML_GROUP_W))
			st = put_param(f, &m->params[i], err);
	}
	return st;
}

rml_status rml_model_load_adapters(rml_model *m, const rml_file *f, rml_error *err)
{
	rml_status st = rml_expect_kind(f, "adapters", "adapter file", err);
	const char *hash = NULL;
	if (!st)
		st = rml_get_str(f, "adapters.base_hash", &hash, err);
	if (st)
		return st;
	char mine[65];
	rml_model_base_hash(m, mine);
	if (strcmp(hash, mine) != 0)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the adapters belong to base model %.12s…, this model is %.12s…", hash,
				  mine);
	int64_t gamma = 0;
	if (rml_get_i64(f, "adapters.gamma", &gamma, err))
		return RML_ERR_FORMAT;
	if (!m->gamma) {
		st = rml_model_add_adapters(m, (int)gamma, 0, err);
		if (st)
			return st;
	} else if (gamma != m->gamma) {
		return rml_errorf(err, RML_ERR_MISMATCH, "adapters of compression %lld for a model with %d",
				  (long long)gamma, m->gamma);
	}
	/* Validate everything first, so a refused file changes nothing. */
	for (int64_t i = 0; i < f->n_tensors && !st; i++) {
		const char *name = f->tensors[i].name;
		int ok = 0;
		for (int j = 0; j < m->n_p && !ok; j++)
			ok = m->params[j].group != RML_GROUP_THETA && strcmp(m->params[j].name, name) == 0;
		if (!ok)
			st = rml_errorf(err, RML_ERR_FORMAT,
					"adapter file: tensor '%s' is not an adapter or head parameter of this model",
					name);
	}
	for (int copy = 0; copy < 2 && !st; copy++)
		for (int i = 0; i < m->n_p && !st; i++) {
			rml_group g = m->params[i].group;
			if (g == RML_GROUP_OMEGA || g == RML_GROUP_PHI ||
			    (g == RML_GROUP_W && rml_find_tensor(f, m->params[i].name)))
				st = take_param(&m->params[i], f, "adapter file", copy, err);
		}
	return st;
}
