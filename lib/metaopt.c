/*
 * metaopt.c — ES-MAML resilience optimisation of the meta-adapters (see
 * metaopt.h). Each worker thread owns full copies of the model (one with
 * the task head when tasks are used) and scratch sized once; a job (one
 * inner loop on one implementation) starts by copying its parameters from
 * a template, so jobs are independent of the worker that runs them and of
 * each other.
 */
#include "metaopt.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "es.h"
#include "inject_model.h"
#include "kernels.h"
#include "train.h"
#include "yamlwalk.h"

#define EVAL_CHUNK 64
/* Stream salts: iteration draws, held-out draws, the P_0 images. */
#define SALT_ITER 0x6974657200000000ull
#define SALT_HELD 0x68656c6400000000ull

/* ---- disturbances ------------------------------------------------------- */

static const char *const kind_names[RML_DIST_COUNT] = { "fgsm", "fault", "task" };

const char *rml_dist_kind_name(rml_dist_kind k)
{
	return k >= 0 && k < RML_DIST_COUNT ? kind_names[k] : "?";
}

rml_status rml_dist_kind_parse(const char *s, rml_dist_kind *k, rml_error *err)
{
	for (int i = 0; i < RML_DIST_COUNT; i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*k = (rml_dist_kind)i;
			return RML_OK;
		}
	return rml_errorf(err, RML_ERR_ARG, "unknown disturbance '%s' (fgsm, fault, task)", s);
}

void rml_disturbance_default(rml_disturbance *d, rml_dist_kind k)
{
	memset(d, 0, sizeof *d);
	d->kind = k;
	d->weight = 1;
	d->eps = 3;
	d->fault.model = RML_FAULT_BITFLIP;
	d->fault.unit = RML_FAULT_UNIT_GRAD_TOPK;
	d->fault.rate = 0.0001;
	d->fault.bits = RML_METAOPT_FAULT_BITS;
	strcpy(d->targets, "theta");
}

rml_status rml_dist_pool_parse_list(rml_dist_pool *p, const char *list, rml_error *err)
{
	p->n = 0;
	char buf[256];
	if (!list || strlen(list) >= sizeof buf)
		return rml_errorf(err, RML_ERR_ARG, "disturbance list too long");
	strcpy(buf, list);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		rml_dist_kind k = RML_DIST_FGSM;
		rml_status st = rml_dist_kind_parse(t, &k, err);
		if (st)
			return st;
		if (p->n == RML_DIST_MAX)
			return rml_errorf(err, RML_ERR_LIMIT, "more than %d disturbances", RML_DIST_MAX);
		rml_disturbance_default(&p->d[p->n++], k);
	}
	if (!p->n)
		return rml_errorf(err, RML_ERR_ARG, "empty disturbance pool");
	return RML_OK;
}

static int parse_pos(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !isfinite(v) || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* One item of a pool: its type first, then every other key. */
static rml_status parse_item(rml_yamlwalk *y, yaml_node_t *item, const char *const *keys,
			     rml_disturbance *d)
{
	if (!item || item->type != YAML_MAPPING_NODE)
		return rml_yamlwalk_fail(y, item, "a disturbance must be a mapping", NULL);
	rml_yamlwalk_pair pr[8];
	int n = rml_yamlwalk_map(y, item, "a disturbance", keys, pr, 8);
	if (n < 0)
		return RML_ERR_FORMAT;
	yaml_node_t *t = rml_yamlwalk_get(pr, n, "type");
	if (!t)
		return rml_yamlwalk_fail(y, item, "a disturbance needs a type (fgsm, fault, task)", NULL);
	const char *type = (const char *)t->data.scalar.value;
	rml_dist_kind kind = RML_DIST_FGSM;
	if (rml_dist_kind_parse(type, &kind, NULL))
		return rml_yamlwalk_fail(y, t, "unknown type (fgsm, fault, task): ", type);
	rml_disturbance_default(d, kind);
	for (int i = 0; i < n; i++) {
		const char *k = pr[i].key, *v = (const char *)pr[i].val->data.scalar.value;
		yaml_node_t *at = pr[i].val;
		rml_error e2;
		int fault = kind == RML_DIST_FAULT;
		if (strcmp(k, "type") == 0)
			continue;
		if (strcmp(k, "weight") == 0) {
			if (parse_pos(v, 1e-9, 1e9, &d->weight))
				return rml_yamlwalk_fail(y, at, "weight is not a positive number: ", v);
		} else if (kind == RML_DIST_FGSM && strcmp(k, "eps") == 0) {
			if (parse_pos(v, 1e-9, 255, &d->eps))
				return rml_yamlwalk_fail(y, at, "eps is not in (0, 255]: ", v);
		} else if (fault && strcmp(k, "rate") == 0) {
			if (parse_pos(v, 0, 1, &d->fault.rate))
				return rml_yamlwalk_fail(y, at, "rate is not in [0, 1]: ", v);
		} else if (fault && strcmp(k, "unit") == 0) {
			if (rml_fault_unit_parse(v, &d->fault.unit, &e2))
				return rml_yamlwalk_fail(y, at, e2.msg, NULL);
		} else if (fault && strcmp(k, "model") == 0) {
			if (rml_fault_model_parse(v, &d->fault.model, &e2))
				return rml_yamlwalk_fail(y, at, e2.msg, NULL);
		} else if (fault && strcmp(k, "bits") == 0) {
			if (rml_fault_bits_parse(v, &d->fault.bits, &e2))
				return rml_yamlwalk_fail(y, at, e2.msg, NULL);
		} else if (fault && strcmp(k, "targets") == 0) {
			if (!*v || strlen(v) >= sizeof d->targets)
				return rml_yamlwalk_fail(y, at, "targets empty or too long", NULL);
			strcpy(d->targets, v);
		} else {
			return rml_yamlwalk_fail(y, at, "this key does not apply to the type: ", k);
		}
	}
	if (kind == RML_DIST_FAULT && d->fault.unit == RML_FAULT_UNIT_BER &&
	    (d->fault.model == RML_FAULT_ZERO || d->fault.model == RML_FAULT_RANDOM))
		return rml_yamlwalk_fail(y, item, "unit ber needs a bit fault model", NULL);
	return RML_OK;
}

rml_status rml_dist_pool_parse_yaml(rml_dist_pool *p, const char *text, const char *what,
				    rml_error *err)
{
	static const char *const top[] = { "disturbances", NULL };
	static const char *const keys[] = { "type", "weight", "eps", "rate", "unit", "model",
					    "bits", "targets", NULL };
	p->n = 0;
	rml_yamlwalk y;
	rml_status st = rml_yamlwalk_load(&y, text, what, err);
	if (st) {
		rml_yamlwalk_free(&y);
		return st;
	}
	yaml_node_t *seq = rml_yamlwalk_root(&y);
	if (seq && seq->type == YAML_MAPPING_NODE) {
		rml_yamlwalk_pair pr[1];
		int n = rml_yamlwalk_map(&y, seq, NULL, top, pr, 1);
		if (n < 0) {
			st = RML_ERR_FORMAT;
			goto out;
		}
		seq = n ? pr[0].val : NULL;
	}
	if (!seq || seq->type != YAML_SEQUENCE_NODE) {
		st = rml_yamlwalk_fail(&y, seq, "expected a list of disturbances", NULL);
		goto out;
	}
	int n = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n == 0) {
		st = rml_errorf(err, RML_ERR_ARG, "%s: empty disturbance pool", what);
		goto out;
	}
	if (n > RML_DIST_MAX) {
		st = rml_errorf(err, RML_ERR_LIMIT, "%s: more than %d disturbances", what, RML_DIST_MAX);
		goto out;
	}
	y.scalars = 1;
	for (int i = 0; i < n && !st; i++)
		st = parse_item(&y, rml_yamlwalk_node(&y, seq->data.sequence.items.start[i]), keys,
				&p->d[i]);
	if (!st)
		p->n = n;
out:
	rml_yamlwalk_free(&y);
	return st;
}

/* ---- settings ----------------------------------------------------------- */

void rml_metaopt_config_default(rml_metaopt_config *c)
{
	c->steps = 40;
	c->batch = 4;
	c->alpha = 0.001;
	c->beta = 0.0001;
	c->sigma = 0.01;
	c->n_impl = 2;
	c->val_size = 100;
	c->iterations = 300;
	c->patience = 10;
	c->heldout = 2;
	c->eval_every = 2;
	c->random_steps = 0;
	c->train_metric = RML_METAOPT_PROB;
	c->p0 = NAN;
	c->seed = 1;
}

static rml_status check_config(const rml_metaopt_config *c, rml_error *err)
{
	if (c->steps < 1 || c->steps > 10000)
		return rml_errorf(err, RML_ERR_ARG, "inner steps %d outside 1..10000", c->steps);
	if (c->batch < 1 || c->batch > 1024)
		return rml_errorf(err, RML_ERR_ARG, "inner batch %d outside 1..1024", c->batch);
	if (!(c->alpha >= 0) || c->alpha > 1e3)
		return rml_errorf(err, RML_ERR_ARG, "inner learning rate outside [0, 1000]");
	if (!(c->beta >= 0) || c->beta > 1e3)
		return rml_errorf(err, RML_ERR_ARG, "outer step outside [0, 1000]");
	if (!(c->sigma > 0) || c->sigma > 1e3)
		return rml_errorf(err, RML_ERR_ARG, "sigma must be in (0, 1000]");
	if (c->n_impl < 1 || c->n_impl > 1024)
		return rml_errorf(err, RML_ERR_ARG, "implementations %d outside 1..1024", c->n_impl);
	if (c->val_size < 1 || c->val_size > 100000)
		return rml_errorf(err, RML_ERR_ARG, "validation size %d outside 1..100000", c->val_size);
	if (c->iterations < 0 || c->iterations > 1000000)
		return rml_errorf(err, RML_ERR_ARG, "iterations %d outside 0..1000000", c->iterations);
	if (c->patience < 1 || c->heldout < 1 || c->eval_every < 1)
		return rml_errorf(err, RML_ERR_ARG, "patience, held-out and eval-every must be >= 1");
	if (c->train_metric != RML_METAOPT_ACCURACY && c->train_metric != RML_METAOPT_PROB)
		return rml_errorf(err, RML_ERR_ARG, "unknown training metric %d", c->train_metric);
	if (!isnan(c->p0) && !(c->p0 > 0 && c->p0 <= 1))
		return rml_errorf(err, RML_ERR_ARG, "P0 must be in (0, 1]");
	return RML_OK;
}

/* ---- data --------------------------------------------------------------- */

typedef struct {
	int64_t e, ways, n_sup, n_qry;
	const uint8_t *sup_img, *qry_img;
	const int32_t *sup_lab, *qry_lab;
} task_view;

typedef struct {
	int64_t n_episodes, ways, n_sup, n_qry;
	const uint8_t *sup_img, *qry_img;
	const int32_t *sup_lab, *qry_lab;
} tasks_info;

static rml_status check_images(const rml_dataset *d, const char *role, int h, int w, int c,
			       int n_classes, int64_t need, rml_error *err)
{
	if (!d)
		return rml_errorf(err, RML_ERR_ARG, "no %s dataset", role);
	if (d->h != h || d->w != w || d->c != c)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "%s images are %lldx%lldx%lld, the model takes %dx%dx%d", role,
				  (long long)d->h, (long long)d->w, (long long)d->c, h, w, c);
	if (d->n < need)
		return rml_errorf(err, RML_ERR_MISMATCH, "%s has %lld images, %lld needed", role,
				  (long long)d->n, (long long)need);
	for (int64_t i = 0; i < d->n; i++)
		if (d->labels[i] < 0 || d->labels[i] >= n_classes)
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "%s image %lld has label %d; the model has %d classes", role,
					  (long long)i, d->labels[i], n_classes);
	return RML_OK;
}

static rml_status read_tasks(const rml_file *f, int h, int w, int c, tasks_info *t, rml_error *err)
{
	rml_tensor *si = rml_expect_tensor(f, "support.images", RML_DTYPE_U8, 5, err);
	rml_tensor *sl = si ? rml_expect_tensor(f, "support.labels", RML_DTYPE_I32, 2, err) : NULL;
	rml_tensor *qi = sl ? rml_expect_tensor(f, "query.images", RML_DTYPE_U8, 5, err) : NULL;
	rml_tensor *ql = qi ? rml_expect_tensor(f, "query.labels", RML_DTYPE_I32, 2, err) : NULL;
	if (!ql) {
		/* err->msg is both the source and the target: copy it first. */
		char why[sizeof err->msg];
		snprintf(why, sizeof why, "%s", err ? err->msg : "not a task file");
		return rml_errorf(err, RML_ERR_FORMAT, "task file: %s", why);
	}
	int64_t ways;
	if (rml_get_i64(f, "tasks.ways", &ways, err))
		return RML_ERR_FORMAT;
	int64_t e = si->dims[0];
	if (ways < 2 || ways > 100000 || e < 1 || sl->dims[0] != e || qi->dims[0] != e ||
	    ql->dims[0] != e || sl->dims[1] != si->dims[1] || ql->dims[1] != qi->dims[1] ||
	    si->dims[1] < 1 || qi->dims[1] < 1)
		return rml_errorf(err, RML_ERR_FORMAT, "task file: inconsistent episode shapes");
	if (si->dims[2] != h || si->dims[3] != w || si->dims[4] != c || qi->dims[2] != h ||
	    qi->dims[3] != w || qi->dims[4] != c)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "task images are %lldx%lldx%lld, the model takes %dx%dx%d",
				  (long long)si->dims[2], (long long)si->dims[3], (long long)si->dims[4],
				  h, w, c);
	t->n_episodes = e;
	t->ways = ways;
	t->n_sup = si->dims[1];
	t->n_qry = qi->dims[1];
	t->sup_img = si->data;
	t->qry_img = qi->data;
	t->sup_lab = sl->data;
	t->qry_lab = ql->data;
	for (int64_t i = 0; i < e * t->n_sup; i++)
		if (t->sup_lab[i] < 0 || t->sup_lab[i] >= ways)
			return rml_errorf(err, RML_ERR_FORMAT, "task file: support label out of range");
	for (int64_t i = 0; i < e * t->n_qry; i++)
		if (t->qry_lab[i] < 0 || t->qry_lab[i] >= ways)
			return rml_errorf(err, RML_ERR_FORMAT, "task file: query label out of range");
	return RML_OK;
}

/* ---- implementations -------------------------------------------------- */

/* Everything an inner loop needs to know about its disturbance; the image
 * indices are drawn when the job runs, from the same seed. */
typedef struct {
	int dist;              /* pool entry */
	uint64_t seed;         /* the implementation's own stream */
	int heldout;           /* images from val, episodes from the held-out range */
	int metric;            /* RML_METAOPT_ACCURACY or RML_METAOPT_PROB */
} impl;

/* ---- workers -------------------------------------------------------------- */

typedef struct {
	rml_model *m;          /* main task */
	rml_model *tm;         /* task head (NULL without tasks) */
	rml_fault_targets tg;  /* on m; per pool entry would be nicer, see select_targets */
	char tg_what[128];
	uint8_t *tr_img, *va_img;
	int32_t *tr_lab, *va_lab;
	int64_t *order;
	float *x, *probs, *dlogits, *dx;
	rml_fault_log log;
} worker;

struct rml_metaopt {
	rml_metaopt_config cfg;
	rml_dist_pool pool;
	rml_metaopt_data data;
	tasks_info tasks;
	int have_tasks;
	int64_t train_episodes;   /* episodes [0, train_episodes) train, the rest held out */
	int h, w, c, n_classes;
	int64_t n_params, omega_off, omega_n, phi_off, phi_n, w_off, w_n;
	float *centre;            /* all parameters, omega = the current centre */
	float *tpl_plus, *tpl_minus;
	float *best_omega;
	float *start_omega;       /* omega as given */
	rml_es es;
	int n_workers;
	worker *wk;
	impl *heldout_impl;
	int n_heldout;
	double p0[2];              /* by metric */
	double heldout_before, heldout_best;
	int64_t iteration, best_iteration, last_improved;
	int finished;
};

static void worker_free(worker *w)
{
	rml_model_free(w->m);
	rml_model_free(w->tm);
	rml_fault_targets_free(&w->tg);
	free(w->tr_img);
	free(w->va_img);
	free(w->tr_lab);
	free(w->va_lab);
	free(w->order);
	free(w->x);
	free(w->probs);
	free(w->dlogits);
	free(w->dx);
	rml_fault_log_free(&w->log);
	memset(w, 0, sizeof *w);
}

static rml_status clone_model(const rml_model *src, rml_model **out, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	rml_status st = rml_model_to_file(src, &f, err);
	if (!st)
		st = rml_model_from_file(out, &f, err);
	rml_file_free(&f);
	return st;
}

static rml_status worker_init(rml_metaopt *mo, worker *w, const rml_model *m, rml_error *err)
{
	memset(w, 0, sizeof *w);
	rml_fault_log_init(&w->log);
	rml_status st = clone_model(m, &w->m, err);
	if (!st && mo->have_tasks) {
		st = clone_model(m, &w->tm, err);
		if (!st)
			st = rml_model_reset_head(w->tm, (int)mo->tasks.ways, 0, err);
	}
	int64_t chunk = EVAL_CHUNK > mo->cfg.batch ? EVAL_CHUNK : mo->cfg.batch;
	if (!st)
		st = rml_model_reserve(w->m, chunk, 1, err);
	if (!st && w->tm)
		st = rml_model_reserve(w->tm, chunk, 1, err);
	if (st)
		return st;
	int64_t n_tr = (int64_t)mo->cfg.steps * mo->cfg.batch;
	int64_t n_va = mo->cfg.val_size;
	if (mo->have_tasks) {
		if (mo->tasks.n_sup > n_tr)
			n_tr = mo->tasks.n_sup;
		if (mo->tasks.n_qry > n_va)
			n_va = mo->tasks.n_qry;
	}
	int64_t img = (int64_t)mo->h * mo->w * mo->c;
	int64_t k = mo->n_classes > mo->tasks.ways ? mo->n_classes : mo->tasks.ways;
	w->tr_img = malloc((size_t)(n_tr * img));
	w->va_img = malloc((size_t)(n_va * img));
	w->tr_lab = malloc((size_t)n_tr * sizeof *w->tr_lab);
	w->va_lab = malloc((size_t)n_va * sizeof *w->va_lab);
	w->order = malloc((size_t)(n_tr + n_va + 1) * sizeof *w->order);
	w->x = malloc((size_t)(chunk * img) * sizeof *w->x);
	w->dx = malloc((size_t)(chunk * img) * sizeof *w->dx);
	w->probs = malloc((size_t)(chunk * k) * sizeof *w->probs);
	w->dlogits = malloc((size_t)(chunk * k) * sizeof *w->dlogits);
	if (!w->tr_img || !w->va_img || !w->tr_lab || !w->va_lab || !w->order || !w->x || !w->dx ||
	    !w->probs || !w->dlogits)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory for a metaopt worker");
	return RML_OK;
}

/* Fault targets of the worker's main model for pool entry d (selected on
 * first use and kept while the next fault entry names the same tensors). */
static rml_status select_targets(worker *w, const rml_disturbance *d, rml_error *err)
{
	if (w->tg.n && strcmp(w->tg_what, d->targets) == 0)
		return RML_OK;
	rml_fault_targets_free(&w->tg);
	rml_status st = rml_fault_targets_select(&w->tg, w->m, d->targets, err);
	if (!st)
		strcpy(w->tg_what, d->targets);
	return st;
}

/* ---- the inner loop ----------------------------------------------------- */

/* Performance of m on n images (eval mode): top-1 accuracy (ties go to
 * the lowest class index) or the mean softmax probability of the true
 * class. A row with a non-finite logit is wrong and has probability 0. */
static rml_status perf(rml_model *m, worker *w, const uint8_t *img, const int32_t *lab, int64_t n,
		       int64_t img_size, double out[2], rml_error *err)
{
	int64_t k = rml_model_n_classes(m);
	double sum = 0, sum_p = 0;
	for (int64_t i = 0; i < n; i += EVAL_CHUNK) {
		int64_t b = n - i < EVAL_CHUNK ? n - i : EVAL_CHUNK;
		float *z;
		rml_status st = rml_model_forward_u8(m, img + i * img_size, b, RML_MODE_EVAL, &z, err);
		if (st)
			return st;
		for (int64_t r = 0; r < b; r++) {
			const float *row = z + r * k;
			int64_t best = 0, finite = 1;
			for (int64_t j = 0; j < k; j++) {
				if (!isfinite(row[j]))
					finite = 0;
				if (row[j] > row[best])
					best = j;
			}
			if (!finite)
				continue;
			sum += best == lab[i + r];
			double den = 0;
			for (int64_t j = 0; j < k; j++)
				den += exp((double)row[j] - row[best]);
			sum_p += exp((double)row[lab[i + r]] - row[best]) / den;
		}
	}
	out[RML_METAOPT_ACCURACY] = sum / (double)n;
	out[RML_METAOPT_PROB] = sum_p / (double)n;
	return RML_OK;
}

/* Replace the images by FGSM examples against m: x + eps sign(dL/dx),
 * rounded to whole pixel values and clipped to [0, 255]. */
static rml_status fgsm(rml_model *m, worker *w, uint8_t *img, const int32_t *lab, int64_t n,
		       int64_t img_size, double eps, rml_error *err)
{
	rml_model_set_trainable(m, 0);
	for (int64_t i = 0; i < n; i += EVAL_CHUNK) {
		int64_t b = n - i < EVAL_CHUNK ? n - i : EVAL_CHUNK;
		uint8_t *p = img + i * img_size;
		for (int64_t j = 0; j < b * img_size; j++)
			w->x[j] = p[j];
		memset(w->dx, 0, (size_t)(b * img_size) * sizeof *w->dx);
		rml_status st = rml_train_grad(m, RML_MODE_EVAL, w->x, lab + i, b, 0.0, 1.0f, w->probs,
					       w->dlogits, w->dx, NULL, err);
		if (st)
			return st;
		for (int64_t j = 0; j < b * img_size; j++) {
			float g = w->dx[j];
			double v = p[j] + (g > 0 ? eps : g < 0 ? -eps : 0);
			v = nearbyint(v);
			p[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
	return RML_OK;
}

/* Draw the images of an FGSM or fault implementation: n_tr + n_va distinct
 * images of src (selection sampling, then shuffled), training first. */
static void draw_images(worker *w, const rml_dataset *src, rml_rng *r, int64_t n_tr, int64_t n_va,
			int64_t img_size)
{
	int64_t need = n_tr + n_va, got = 0;
	for (int64_t i = 0; i < src->n && got < need; i++)
		if ((int64_t)rml_rng_below(r, (uint64_t)(src->n - i)) < need - got)
			w->order[got++] = i;
	rml_rng_shuffle(r, w->order, need);
	for (int64_t i = 0; i < need; i++) {
		int64_t j = w->order[i];
		uint8_t *dst = i < n_tr ? w->tr_img + i * img_size : w->va_img + (i - n_tr) * img_size;
		memcpy(dst, src->images + j * img_size, (size_t)img_size);
		if (i < n_tr)
			w->tr_lab[i] = src->labels[j];
		else
			w->va_lab[i - n_tr] = src->labels[j];
	}
}

/* One SGD step of the trainable groups on images [first, first + b) of the
 * training buffer; a step whose loss or gradient is not finite is skipped
 * (a faulty model may give NaN: nothing sensible can be learnt from it). */
static rml_status sgd_step(rml_metaopt *mo, rml_model *m, worker *w, const int64_t *idx, int64_t b,
			   int64_t img_size, int with_head, rml_error *err)
{
	int32_t lab[1024];
	for (int64_t i = 0; i < b; i++) {
		const uint8_t *p = w->tr_img + idx[i] * img_size;
		for (int64_t j = 0; j < img_size; j++)
			w->x[i * img_size + j] = p[j];
		lab[i] = w->tr_lab[idx[i]];
	}
	rml_model_zero_grad(m);
	float loss;
	rml_status st = rml_train_grad(m, RML_MODE_EVAL, w->x, lab, b, 0.0, 1.0f, w->probs, w->dlogits,
				       NULL, &loss, err);
	if (st || !isfinite(loss))
		return st;
	float *p = rml_model_param_block(m), *g = rml_model_grad_block(m);
	int64_t spans[2][2] = { { mo->phi_off, mo->phi_n }, { 0, 0 } };
	if (with_head)
		rml_model_group_range(m, RML_GROUP_W, &spans[1][0], &spans[1][1]);
	for (int s = 0; s < 2; s++)
		for (int64_t i = spans[s][0]; i < spans[s][0] + spans[s][1]; i++)
			if (!isfinite(g[i]))
				return RML_OK;
	float a = (float)mo->cfg.alpha;
	for (int s = 0; s < 2; s++)
		for (int64_t i = spans[s][0]; i < spans[s][0] + spans[s][1]; i++)
			p[i] -= a * g[i];
	return RML_OK;
}

static rml_status run_job(rml_metaopt *mo, worker *w, const float *params, const impl *im,
			  double *R, double *acc, rml_error *err)
{
	const rml_disturbance *d = &mo->pool.d[im->dist];
	const rml_metaopt_config *c = &mo->cfg;
	int64_t img_size = (int64_t)mo->h * mo->w * mo->c;
	rml_rng r;
	rml_rng_seed(&r, im->seed);
	int task = d->kind == RML_DIST_TASK;
	rml_model *m = task ? w->tm : w->m;
	int64_t n_steps_img = (int64_t)c->steps * c->batch;
	int64_t n_tr, n_va;
	/* Parameters: theta, omega, phi from the template; W from it too, or a
	 * fresh head for a task (seeded by the implementation). */
	float *pb = rml_model_param_block(m);
	if (task) {
		memcpy(pb, params, (size_t)mo->w_off * sizeof *pb);
		rml_status st = rml_model_reset_head(m, (int)mo->tasks.ways, rml_rng_u64(&r), err);
		if (st)
			return st;
		int64_t span = mo->train_episodes;
		int64_t e = im->heldout ? span + (int64_t)rml_rng_below(&r, (uint64_t)(mo->tasks.n_episodes - span))
					: (int64_t)rml_rng_below(&r, (uint64_t)span);
		n_tr = mo->tasks.n_sup;
		n_va = mo->tasks.n_qry;
		memcpy(w->tr_img, mo->tasks.sup_img + e * n_tr * img_size, (size_t)(n_tr * img_size));
		memcpy(w->va_img, mo->tasks.qry_img + e * n_va * img_size, (size_t)(n_va * img_size));
		memcpy(w->tr_lab, mo->tasks.sup_lab + e * n_tr, (size_t)n_tr * sizeof *w->tr_lab);
		memcpy(w->va_lab, mo->tasks.qry_lab + e * n_va, (size_t)n_va * sizeof *w->va_lab);
	} else {
		memcpy(pb, params, (size_t)mo->n_params * sizeof *pb);
		n_tr = n_steps_img;
		n_va = c->val_size;
		draw_images(w, im->heldout ? mo->data.val : mo->data.data, &r, n_tr, n_va, img_size);
	}
	rml_status st = RML_OK;
	if (d->kind == RML_DIST_FGSM) {
		double eps = d->eps * (1.0 - rml_rng_uniform(&r)); /* (0, eps] */
		st = fgsm(m, w, w->tr_img, w->tr_lab, n_tr, img_size, eps, err);
		if (!st)
			st = fgsm(m, w, w->va_img, w->va_lab, n_va, img_size, eps, err);
	} else if (d->kind == RML_DIST_FAULT) {
		st = select_targets(w, d, err);
		if (!st && d->fault.unit == RML_FAULT_UNIT_GRAD_TOPK) {
			rml_dataset view = { .n = n_tr, .h = mo->h, .w = mo->w, .c = mo->c,
					     .images = w->tr_img, .labels = w->tr_lab,
					     .n_classes = mo->n_classes };
			st = rml_fault_targets_grad_scores(&w->tg, m, &view, EVAL_CHUNK, err);
		}
		rml_rng fr;
		rml_rng_seed_stream(&fr, im->seed, 1);
		if (!st)
			st = rml_inject(&d->fault, w->tg.t, w->tg.n, &fr, &w->log, err);
	}
	if (st)
		return st;
	rml_model_set_trainable(m, RML_GROUP_BIT(RML_GROUP_PHI) | (task ? RML_GROUP_BIT(RML_GROUP_W) : 0));
	double pm[2];
	st = perf(m, w, w->va_img, w->va_lab, n_va, img_size, pm, err);
	if (!st)
		acc[0] = pm[im->metric];
	/* The training order: the images in turn, reshuffled after each pass. */
	int64_t *idx = w->order;
	for (int64_t i = 0; i < n_tr; i++)
		idx[i] = i;
	rml_rng_shuffle(&r, idx, n_tr);
	int64_t pos = 0;
	double sum = 0;
	int64_t batch[1024];
	for (int t = 1; t <= c->steps && !st; t++) {
		for (int i = 0; i < c->batch; i++) {
			if (pos == n_tr) {
				rml_rng_shuffle(&r, idx, n_tr);
				pos = 0;
			}
			batch[i] = idx[pos++];
		}
		st = sgd_step(mo, m, w, batch, c->batch, img_size, task, err);
		if (!st)
			st = perf(m, w, w->va_img, w->va_lab, n_va, img_size, pm, err);
		if (!st) {
			acc[t] = pm[im->metric];
			sum += acc[t];
		}
	}
	rml_model_set_trainable(m, 0);
	if (d->kind == RML_DIST_FAULT)
		rml_inject_undo(w->tg.t, &w->log);
	if (!st)
		*R = sum / c->steps / mo->p0[im->metric];
	return st;
}

/* Run jobs [0, n) — implementations ims[j % n_impl] on template tpl[j /
 * n_impl] — over the workers; results by job index, so the order in which
 * workers take jobs does not matter. */
static rml_status run_jobs(rml_metaopt *mo, const float *const *tpl, const impl *ims, int n_impl,
			   int n_jobs, double *R, double *acc, rml_error *err)
{
	int nw = mo->n_workers < n_jobs ? mo->n_workers : n_jobs;
	rml_status *sts = calloc((size_t)n_jobs, sizeof *sts);
	rml_error *errs = calloc((size_t)n_jobs, sizeof *errs);
	if (!sts || !errs) {
		free(sts);
		free(errs);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	int stride = mo->cfg.steps + 1;
	if (nw <= 1) {
		for (int j = 0; j < n_jobs; j++)
			sts[j] = run_job(mo, &mo->wk[0], tpl[j / n_impl], &ims[j % n_impl], &R[j],
					 acc + (int64_t)j * stride, &errs[j]);
	} else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nw)
		for (int j = 0; j < n_jobs; j++)
			sts[j] = run_job(mo, &mo->wk[omp_get_thread_num()], tpl[j / n_impl],
					 &ims[j % n_impl], &R[j], acc + (int64_t)j * stride, &errs[j]);
	}
	rml_status st = RML_OK;
	for (int j = 0; j < n_jobs && !st; j++)
		if (sts[j]) {
			st = sts[j];
			if (err)
				*err = errs[j];
		}
	free(sts);
	free(errs);
	return st;
}

/* ---- set-up ------------------------------------------------------------- */

static rml_status setup(rml_metaopt *mo, const rml_model *m, const rml_metaopt_config *cfg,
			const rml_dist_pool *pool, const rml_metaopt_data *data, int n_workers,
			int need_train, rml_error *err)
{
	mo->cfg = *cfg;
	mo->pool = *pool;
	mo->data = *data;
	rml_status st = check_config(cfg, err);
	if (st)
		return st;
	if (!rml_model_has_adapters(m))
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the model has no adapters (add them with rmlops-train --adapters)");
	if (pool->n < 1)
		return rml_errorf(err, RML_ERR_ARG, "empty disturbance pool");
	rml_model_input_shape(m, &mo->h, &mo->w, &mo->c);
	mo->n_classes = rml_model_n_classes(m);
	int need_main = 0;
	for (int i = 0; i < pool->n; i++) {
		if (pool->d[i].kind == RML_DIST_TASK)
			mo->have_tasks = 1;
		else
			need_main = 1;
	}
	int64_t per = (int64_t)cfg->steps * cfg->batch + cfg->val_size;
	if (need_main && need_train &&
	    (st = check_images(data->data, "training", mo->h, mo->w, mo->c, mo->n_classes, per, err)))
		return st;
	if ((st = check_images(data->val, "validation", mo->h, mo->w, mo->c, mo->n_classes,
			       need_main ? per : 1, err)))
		return st;
	if (mo->have_tasks) {
		if (!data->tasks)
			return rml_errorf(err, RML_ERR_ARG, "a task disturbance needs a task file (--tasks)");
		if ((st = read_tasks(data->tasks, mo->h, mo->w, mo->c, &mo->tasks, err)))
			return st;
		/* Episodes split: the last quarter (at least one) is held out. */
		int64_t held = mo->tasks.n_episodes / 4 > 0 ? mo->tasks.n_episodes / 4 : 1;
		mo->train_episodes = mo->tasks.n_episodes - held;
		if (need_train && mo->train_episodes < 1)
			return rml_errorf(err, RML_ERR_ARG,
					  "a task file with %lld episode(s): at least 2 are needed (one held out)",
					  (long long)mo->tasks.n_episodes);
		if (!need_train)
			mo->train_episodes = 0; /* evaluation draws from every episode */
	}
	for (int i = 0; i < pool->n; i++) {
		const rml_disturbance *d = &pool->d[i];
		if (!(d->weight > 0) || !isfinite(d->weight))
			return rml_errorf(err, RML_ERR_ARG, "disturbance %d: weight must be positive", i + 1);
		if (d->kind == RML_DIST_FGSM && !(d->eps > 0 && d->eps <= 255))
			return rml_errorf(err, RML_ERR_ARG, "disturbance %d: eps must be in (0, 255]", i + 1);
		if (d->kind == RML_DIST_FAULT && !(d->fault.rate >= 0 && d->fault.rate <= 1))
			return rml_errorf(err, RML_ERR_ARG, "disturbance %d: rate must be in [0, 1]", i + 1);
	}
	mo->n_params = rml_model_n_params(m, RML_GROUPS_ALL);
	rml_model_group_range(m, RML_GROUP_OMEGA, &mo->omega_off, &mo->omega_n);
	rml_model_group_range(m, RML_GROUP_PHI, &mo->phi_off, &mo->phi_n);
	rml_model_group_range(m, RML_GROUP_W, &mo->w_off, &mo->w_n);
	if (mo->omega_n < 1 || mo->phi_n < 1)
		return rml_errorf(err, RML_ERR_MISMATCH, "the model's adapters have no omega or phi");
	if (mo->w_off + mo->w_n != mo->n_params)
		return rml_errorf(err, RML_ERR_MISMATCH, "the head is not the last parameter group");
	mo->n_workers = n_workers > 0 ? n_workers : rml_get_threads();
	if (mo->n_workers > 256)
		mo->n_workers = 256;
	mo->centre = malloc((size_t)mo->n_params * sizeof(float));
	mo->tpl_plus = malloc((size_t)mo->n_params * sizeof(float));
	mo->tpl_minus = malloc((size_t)mo->n_params * sizeof(float));
	mo->best_omega = malloc((size_t)mo->omega_n * sizeof(float));
	mo->start_omega = malloc((size_t)mo->omega_n * sizeof(float));
	mo->wk = calloc((size_t)mo->n_workers, sizeof *mo->wk);
	if (!mo->centre || !mo->tpl_plus || !mo->tpl_minus || !mo->best_omega || !mo->start_omega ||
	    !mo->wk)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	memcpy(mo->centre, rml_model_param_block((rml_model *)m), (size_t)mo->n_params * sizeof(float));
	memcpy(mo->start_omega, mo->centre + mo->omega_off, (size_t)mo->omega_n * sizeof(float));
	memcpy(mo->best_omega, mo->start_omega, (size_t)mo->omega_n * sizeof(float));
	for (int i = 0; i < mo->n_workers && !st; i++)
		st = worker_init(mo, &mo->wk[i], m, err);
	if (st)
		return st;
	/* Kernels called inside a worker run on that worker's thread only. */
	omp_set_max_active_levels(1);
	{
		int64_t img_size = (int64_t)mo->h * mo->w * mo->c;
		memcpy(rml_model_param_block(mo->wk[0].m), mo->centre, (size_t)mo->n_params * sizeof(float));
		st = perf(mo->wk[0].m, &mo->wk[0], data->val->images, data->val->labels, data->val->n,
			  img_size, mo->p0, err);
		if (!st && !(mo->p0[0] > 0 && mo->p0[1] > 0))
			st = rml_errorf(err, RML_ERR_NUMERIC,
					"the model classifies no validation image right: P0 = 0 (%g, %g)", mo->p0[0], mo->p0[1]);
		if (!st && !isnan(cfg->p0))
			mo->p0[RML_METAOPT_ACCURACY] = cfg->p0;
	}
	return st;
}

/* n_per implementations of every pool entry, drawn from stream `salt`. */
static rml_status draw_heldout(const rml_dist_pool *pool, int n_per, uint64_t seed, impl **out,
			       int *n, rml_error *err)
{
	*n = pool->n * n_per;
	*out = calloc((size_t)*n, sizeof **out);
	if (!*out)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_rng r;
	rml_rng_seed_stream(&r, seed ^ SALT_HELD, 0);
	for (int i = 0; i < *n; i++) {
		(*out)[i].dist = i / n_per;
		(*out)[i].seed = rml_rng_u64(&r);
		(*out)[i].heldout = 1;
		(*out)[i].metric = RML_METAOPT_ACCURACY;
	}
	return RML_OK;
}

/* Mean R of the held-out implementations at template tpl. */
static rml_status heldout_r(rml_metaopt *mo, const float *tpl, double *mean, double *r_each,
			    double *acc, rml_error *err)
{
	const float *tpls[1] = { tpl };
	rml_status st = run_jobs(mo, tpls, mo->heldout_impl, mo->n_heldout, mo->n_heldout, r_each, acc,
				 err);
	if (st)
		return st;
	double s = 0;
	for (int i = 0; i < mo->n_heldout; i++)
		s += r_each[i];
	*mean = s / mo->n_heldout;
	return RML_OK;
}

static rml_status measure_heldout(rml_metaopt *mo, double *mean, rml_error *err)
{
	double *r = malloc((size_t)mo->n_heldout * sizeof *r);
	double *acc = malloc((size_t)mo->n_heldout * (mo->cfg.steps + 1) * sizeof *acc);
	rml_status st = r && acc ? heldout_r(mo, mo->centre, mean, r, acc, err)
				 : rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	free(r);
	free(acc);
	return st;
}

rml_status rml_metaopt_init(rml_metaopt **out, const rml_model *m, const rml_metaopt_config *cfg,
			    const rml_dist_pool *pool, const rml_metaopt_data *data,
			    int n_workers, rml_error *err)
{
	rml_metaopt *mo = calloc(1, sizeof *mo);
	*out = NULL;
	if (!mo)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_status st = setup(mo, m, cfg, pool, data, n_workers, 1, err);
	if (!st)
		st = rml_es_init(&mo->es, mo->omega_n, 1, cfg->sigma, cfg->beta, cfg->seed, err);
	if (!st)
		st = draw_heldout(pool, cfg->heldout, cfg->seed, &mo->heldout_impl, &mo->n_heldout, err);
	if (!st)
		st = measure_heldout(mo, &mo->heldout_before, err);
	if (st) {
		rml_metaopt_free(mo);
		return st;
	}
	mo->heldout_best = mo->heldout_before;
	mo->best_iteration = -1;
	mo->last_improved = 0;
	mo->finished = cfg->iterations == 0;
	*out = mo;
	return RML_OK;
}

void rml_metaopt_free(rml_metaopt *mo)
{
	if (!mo)
		return;
	if (mo->wk)
		for (int i = 0; i < mo->n_workers; i++)
			worker_free(&mo->wk[i]);
	free(mo->wk);
	free(mo->centre);
	free(mo->tpl_plus);
	free(mo->tpl_minus);
	free(mo->best_omega);
	free(mo->start_omega);
	free(mo->heldout_impl);
	rml_es_free(&mo->es);
	free(mo);
}

/* ---- the outer loop ----------------------------------------------------- */

rml_status rml_metaopt_step(rml_metaopt *mo, rml_metaopt_record *rec, rml_error *err)
{
	if (mo->finished)
		return rml_errorf(err, RML_ERR_ARG, "the run is over");
	double t0 = rml_now();
	const rml_metaopt_config *c = &mo->cfg;
	memset(rec, 0, sizeof *rec);
	rec->iteration = mo->iteration;
	rec->heldout = NAN;
	/* The iteration's disturbance type and implementations. */
	rml_rng r;
	rml_rng_seed_stream(&r, c->seed ^ SALT_ITER, (uint64_t)mo->iteration);
	double total = 0;
	for (int i = 0; i < mo->pool.n; i++)
		total += mo->pool.d[i].weight;
	double u = rml_rng_uniform(&r) * total;
	int dist = mo->pool.n - 1;
	for (int i = 0; i < mo->pool.n; i++) {
		if (u < mo->pool.d[i].weight) {
			dist = i;
			break;
		}
		u -= mo->pool.d[i].weight;
	}
	rec->kind = mo->pool.d[dist].kind;
	impl *ims = calloc((size_t)c->n_impl, sizeof *ims);
	double *R = malloc(2 * (size_t)c->n_impl * sizeof *R);
	double *acc = malloc(2 * (size_t)c->n_impl * (c->steps + 1) * sizeof *acc);
	float *before = malloc((size_t)mo->omega_n * sizeof *before);
	if (!ims || !R || !acc || !before) {
		free(ims);
		free(R);
		free(acc);
		free(before);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < c->n_impl; i++) {
		ims[i].dist = dist;
		ims[i].seed = rml_rng_u64(&r);
		ims[i].metric = c->train_metric;
	}
	memcpy(mo->tpl_plus, mo->centre, (size_t)mo->n_params * sizeof(float));
	memcpy(mo->tpl_minus, mo->centre, (size_t)mo->n_params * sizeof(float));
	rml_es_point(&mo->es, mo->centre + mo->omega_off, 0, 1, mo->tpl_plus + mo->omega_off);
	rml_es_point(&mo->es, mo->centre + mo->omega_off, 0, -1, mo->tpl_minus + mo->omega_off);
	const float *tpls[2] = { mo->tpl_plus, mo->tpl_minus };
	rml_status st = run_jobs(mo, tpls, ims, c->n_impl, 2 * c->n_impl, R, acc, err);
	if (!st) {
		double rp = 0, rm = 0;
		for (int i = 0; i < c->n_impl; i++) {
			rp += R[i];
			rm += R[c->n_impl + i];
		}
		rec->r_plus = rp / c->n_impl;
		rec->r_minus = rm / c->n_impl;
		rec->r_mean = (rec->r_plus + rec->r_minus) / 2;
		float *omega = mo->centre + mo->omega_off;
		memcpy(before, omega, (size_t)mo->omega_n * sizeof *before);
		if (c->random_steps) {
			/* The control: the ES step's length, a direction that
			 * ignores the rewards (its own stream). */
			float *tmp = malloc((size_t)mo->omega_n * sizeof *tmp);
			if (!tmp) {
				st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			} else {
				st = rml_es_step(&mo->es, tmp, &rec->r_plus, &rec->r_minus, tmp, err);
				if (!st) {
					double len = c->beta * mo->es.last_norm, n2 = 0;
					rml_rng rr;
					rml_rng_seed_stream(&rr, c->seed ^ SALT_ITER ^ 0x5a5a, (uint64_t)mo->iteration);
					for (int64_t i = 0; i < mo->omega_n; i++) {
						tmp[i] = (float)rml_rng_normal(&rr);
						n2 += (double)tmp[i] * tmp[i];
					}
					double scale = n2 > 0 ? len / sqrt(n2) : 0;
					for (int64_t i = 0; i < mo->omega_n; i++)
						omega[i] = (float)(omega[i] + scale * tmp[i]);
				}
				free(tmp);
			}
		} else {
			st = rml_es_step(&mo->es, omega, &rec->r_plus, &rec->r_minus, NULL, err);
		}
		rec->grad_norm = mo->es.last_norm;
		double d2 = 0;
		for (int64_t i = 0; i < mo->omega_n; i++)
			d2 += ((double)omega[i] - before[i]) * ((double)omega[i] - before[i]);
		rec->step_norm = sqrt(d2);
	}
	free(ims);
	free(R);
	free(acc);
	free(before);
	if (st)
		return st;
	mo->iteration++;
	if (mo->iteration % c->eval_every == 0 || mo->iteration >= c->iterations) {
		st = measure_heldout(mo, &rec->heldout, err);
		if (st)
			return st;
		if (rec->heldout > mo->heldout_best) {
			mo->heldout_best = rec->heldout;
			mo->best_iteration = mo->iteration - 1;
			mo->last_improved = mo->iteration;
			memcpy(mo->best_omega, mo->centre + mo->omega_off,
			       (size_t)mo->omega_n * sizeof(float));
			rec->best = 1;
		} else if (mo->iteration - mo->last_improved >= c->patience) {
			mo->finished = 1;
		}
	}
	if (mo->iteration >= c->iterations)
		mo->finished = 1;
	rec->seconds = rml_now() - t0;
	return RML_OK;
}

int rml_metaopt_done(const rml_metaopt *mo) { return mo->finished; }
int64_t rml_metaopt_iteration(const rml_metaopt *mo) { return mo->iteration; }

void rml_metaopt_summary(const rml_metaopt *mo, double *p0, double *before, double *best,
			 int64_t *best_iteration)
{
	if (p0)
		*p0 = mo->p0[RML_METAOPT_ACCURACY];
	if (before)
		*before = mo->heldout_before;
	if (best)
		*best = mo->heldout_best;
	if (best_iteration)
		*best_iteration = mo->best_iteration;
}

rml_status rml_metaopt_result(const rml_metaopt *mo, rml_model *m, rml_error *err)
{
	int64_t off, n;
	rml_model_group_range(m, RML_GROUP_OMEGA, &off, &n);
	if (n != mo->omega_n || off != mo->omega_off)
		return rml_errorf(err, RML_ERR_MISMATCH, "the model's omega group does not match the run");
	memcpy(rml_model_param_block(m) + off, mo->best_omega, (size_t)n * sizeof(float));
	return RML_OK;
}

/* ---- state -------------------------------------------------------------- */

/* What must match for a resume: the settings that shape the result. */
static void settings_digest(const rml_metaopt *mo, char hex[65])
{
	rml_sha256 h;
	rml_sha256_init(&h);
	const rml_metaopt_config *c = &mo->cfg;
	char buf[512];
	int len = snprintf(buf, sizeof buf, "%d %d %.17g %.17g %.17g %d %d %d %d %d %d %d %d %.17g %llu",
			   c->steps, c->batch, c->alpha, c->beta, c->sigma, c->n_impl, c->val_size,
			   c->iterations, c->patience, c->heldout, c->eval_every, c->random_steps, c->train_metric,
			   mo->p0[0], (unsigned long long)c->seed);
	rml_sha256_update(&h, buf, (size_t)len);
	for (int i = 0; i < mo->pool.n; i++) {
		const rml_disturbance *d = &mo->pool.d[i];
		len = snprintf(buf, sizeof buf, "|%d %.17g %.17g %d %d %.17g %u %s", d->kind, d->weight,
			       d->eps, d->fault.model, d->fault.unit, d->fault.rate, d->fault.bits,
			       d->targets);
		rml_sha256_update(&h, buf, (size_t)len);
	}
	const rml_dataset *ds[2] = { mo->data.data, mo->data.val };
	for (int i = 0; i < 2; i++)
		if (ds[i]) {
			rml_sha256_update(&h, ds[i]->images, (size_t)(ds[i]->n * ds[i]->h * ds[i]->w * ds[i]->c));
			rml_sha256_update(&h, ds[i]->labels, (size_t)ds[i]->n * sizeof(int32_t));
		}
	if (mo->have_tasks) {
		int64_t img = (int64_t)mo->h * mo->w * mo->c;
		rml_sha256_update(&h, mo->tasks.sup_img, (size_t)(mo->tasks.n_episodes * mo->tasks.n_sup * img));
		rml_sha256_update(&h, mo->tasks.qry_img, (size_t)(mo->tasks.n_episodes * mo->tasks.n_qry * img));
	}
	rml_sha256_update(&h, mo->start_omega, (size_t)mo->omega_n * sizeof(float));
	uint8_t d[32];
	rml_sha256_final(&h, d);
	rml_hex32(d, hex);
}

/* omega and the best omega travel as f64 arrays in keys, not tensors, so
 * that the checkpoint stays a model file every program can read (a float
 * survives the round trip through double exactly). */
static rml_status set_floats(rml_file *f, const char *key, const float *v, int64_t n)
{
	double *d = malloc((size_t)n * sizeof *d);
	if (!d)
		return RML_ERR_NOMEM;
	for (int64_t i = 0; i < n; i++)
		d[i] = v[i];
	rml_status st = rml_set_f64_array(f, key, d, n);
	free(d);
	return st;
}

static rml_status get_floats(const rml_file *f, const char *key, float *v, int64_t n,
			     rml_error *err)
{
	const rml_kv *kv = rml_get(f, key);
	if (!kv || kv->type != RML_KV_F64_ARRAY)
		return rml_errorf(err, RML_ERR_FORMAT, "checkpoint: missing or malformed %s", key);
	if (kv->n != n)
		return rml_errorf(err, RML_ERR_MISMATCH, "checkpoint: %s has %lld values, omega %lld",
				  key, (long long)kv->n, (long long)n);
	for (int64_t i = 0; i < n; i++) {
		if (!isfinite(kv->fa[i]))
			return rml_errorf(err, RML_ERR_FORMAT, "checkpoint: %s is not finite", key);
		v[i] = (float)kv->fa[i];
	}
	return RML_OK;
}

rml_status rml_metaopt_save(const rml_metaopt *mo, rml_file *f, rml_error *err)
{
	char hex[65];
	settings_digest(mo, hex);
	if (rml_set_str(f, "metaopt.settings", hex) || rml_set_i64(f, "metaopt.iteration", mo->iteration) ||
	    rml_set_i64(f, "metaopt.best_iteration", mo->best_iteration) ||
	    rml_set_i64(f, "metaopt.last_improved", mo->last_improved) ||
	    rml_set_i64(f, "metaopt.finished", mo->finished) ||
	    rml_set_f64(f, "metaopt.p0", mo->p0[0]) ||
	    rml_set_f64(f, "metaopt.heldout_before", mo->heldout_before) ||
	    rml_set_f64(f, "metaopt.heldout_best", mo->heldout_best) ||
	    set_floats(f, "metaopt.omega", mo->centre + mo->omega_off, mo->omega_n) ||
	    set_floats(f, "metaopt.best_omega", mo->best_omega, mo->omega_n))
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory saving the metaopt state");
	return RML_OK;
}

rml_status rml_metaopt_restore(rml_metaopt *mo, const rml_file *f, rml_error *err)
{
	const char *hex;
	char want[65];
	settings_digest(mo, want);
	if (rml_get_str(f, "metaopt.settings", &hex, err))
		return RML_ERR_FORMAT;
	if (strcmp(hex, want) != 0)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the checkpoint was made with other settings, data or model");
	int64_t it, best_it, last, fin;
	double hb, hbest;
	if (rml_get_i64(f, "metaopt.iteration", &it, err) ||
	    rml_get_i64(f, "metaopt.best_iteration", &best_it, err) ||
	    rml_get_i64(f, "metaopt.last_improved", &last, err) ||
	    rml_get_i64(f, "metaopt.finished", &fin, err) ||
	    rml_get_f64(f, "metaopt.heldout_before", &hb, err) ||
	    rml_get_f64(f, "metaopt.heldout_best", &hbest, err))
		return RML_ERR_FORMAT;
	if (it < 0 || it > mo->cfg.iterations || best_it < -1 || best_it >= it || last < 0 || last > it ||
	    !isfinite(hb) || !isfinite(hbest))
		return rml_errorf(err, RML_ERR_FORMAT, "the checkpoint's metaopt state is out of range");
	float *centre = malloc((size_t)mo->omega_n * sizeof *centre);
	float *best = malloc((size_t)mo->omega_n * sizeof *best);
	rml_status st = centre && best ? RML_OK : rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!st)
		st = get_floats(f, "metaopt.omega", centre, mo->omega_n, err);
	if (!st)
		st = get_floats(f, "metaopt.best_omega", best, mo->omega_n, err);
	if (!st) {
		memcpy(mo->centre + mo->omega_off, centre, (size_t)mo->omega_n * sizeof(float));
		memcpy(mo->best_omega, best, (size_t)mo->omega_n * sizeof(float));
		mo->iteration = it;
		mo->best_iteration = best_it;
		mo->last_improved = last;
		mo->finished = fin != 0;
		mo->heldout_before = hb;
		mo->heldout_best = hbest;
		rml_es_seek(&mo->es, it);
	}
	free(centre);
	free(best);
	return st;
}

/* ---- evaluation ----------------------------------------------------------- */

rml_status rml_metaopt_evaluate(const rml_model *m, const rml_metaopt_config *cfg,
				const rml_dist_pool *pool, const rml_metaopt_data *data,
				int n_per, int n_workers, double *r, double *curves, double *p0,
				rml_error *err)
{
	if (n_per < 1 || n_per > 100000)
		return rml_errorf(err, RML_ERR_ARG, "implementations per disturbance %d outside 1..100000",
				  n_per);
	rml_metaopt *mo = calloc(1, sizeof *mo);
	if (!mo)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_status st = setup(mo, m, cfg, pool, data, n_workers, 0, err);
	impl *ims = NULL;
	int n = 0;
	double *acc = NULL;
	if (!st)
		st = draw_heldout(pool, n_per, cfg->seed, &ims, &n, err);
	if (!st && !(acc = malloc((size_t)n * (cfg->steps + 1) * sizeof *acc)))
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!st) {
		const float *tpls[1] = { mo->centre };
		st = run_jobs(mo, tpls, ims, n, n, r, acc, err);
	}
	if (!st && curves)
		memcpy(curves, acc, (size_t)n * (cfg->steps + 1) * sizeof *acc);
	if (!st && p0)
		*p0 = mo->p0[RML_METAOPT_ACCURACY];
	free(acc);
	free(ims);
	rml_metaopt_free(mo);
	return st;
}
