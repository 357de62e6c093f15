/*
 * model.c — models as data (contract in model.h; the architecture language
 * in rmlops-arch(5)): an architecture in YAML becomes a flat list of
 * operations over one parameter block (laid out group by group), one
 * gradient block, one buffer block (batch-norm running statistics) and
 * one activation arena sized by rml_model_reserve. Forward runs the list;
 * backward runs it in reverse and skips every operation that leads
 * neither to a trainable parameter nor to a requested input gradient, so
 * tuning only the adapters' last unit and the head stops at the first
 * adapter. Without gradients, activations share arena memory wherever
 * their lifetimes allow, which keeps large batches in cache.
 *
 * Not here: the kernels (kernels.c), losses beyond what kernels.h has,
 * optimisers, datasets.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "kernels.h"
#include "model_internal.h"

#define BN_EPS 1e-5f
#define LN_EPS 1e-5f
#define BN_MOMENTUM 0.1f
/* Far above any network this engine is for; they keep a hostile
 * architecture text (it travels inside model files) from making the
 * library allocate tens of gigabytes. */
#define MAX_PARAMS (INT64_C(1) << 28)
#define MAX_ACT_PER_IMAGE (INT64_C(1) << 28)

/* ---- the graph -------------------------------------------------------------- */

static const char *const op_names[OP_COUNT] = {
	"normalise", "conv", "dwconv", "batchnorm", "silu", "add", "concat", "unfold", "fold",
	"layernorm", "linear", "attention", "avgpool", "chscale", "bn+silu",
};

/* Graph construction ---------------------------------------------------------- */

typedef struct {
	rml_model *m;
	rml_status st;
	rml_error *err;
	char prefix[160];
} builder;

static int new_tensor(builder *b, int64_t h, int64_t w, int64_t c)
{
	rml_model *m = b->m;
	tensor *t = realloc(m->t, (size_t)(m->n_t + 1) * sizeof *t);
	if (!t) {
		b->st = RML_ERR_NOMEM;
		return 0;
	}
	m->t = t;
	memset(&t[m->n_t], 0, sizeof *t);
	t[m->n_t].per_img = h * w * c;
	t[m->n_t].h = h;
	t[m->n_t].w = w;
	t[m->n_t].c = c;
	return m->n_t++;
}

static int new_fixed(builder *b, int64_t floats_per_img, int64_t fixed)
{
	int id = new_tensor(b, 1, 1, 1);
	if (b->st)
		return 0;
	b->m->t[id].per_img = floats_per_img;
	b->m->t[id].fixed = fixed;
	return id;
}

static int add_pdesc(builder *b, pdesc **list, int *n, const char *suffix, rml_group g,
		     int ndim, const int64_t *dims, int init, int64_t fan)
{
	pdesc *v = realloc(*list, (size_t)(*n + 1) * sizeof *v);
	if (!v) {
		b->st = RML_ERR_NOMEM;
		return -1;
	}
	*list = v;
	pdesc *p = &v[*n];
	memset(p, 0, sizeof *p);
	size_t l = strlen(b->prefix) + strlen(suffix) + 2;
	p->name = malloc(l);
	if (!p->name) {
		b->st = RML_ERR_NOMEM;
		return -1;
	}
	snprintf(p->name, l, "%s.%s", b->prefix, suffix);
	p->group = g;
	p->ndim = ndim;
	p->numel = 1;
	for (int i = 0; i < ndim; i++) {
		p->dims[i] = dims[i];
		p->numel *= dims[i];
	}
	p->init = init;
	p->fan = fan;
	return (*n)++;
}

static int add_param(builder *b, const char *suffix, rml_group g, int ndim, const int64_t *dims,
		     int init, int64_t fan)
{
	return add_pdesc(b, &b->m->pd, &b->m->n_p, suffix, g, ndim, dims, init, fan);
}

static op *new_op(builder *b, op_kind kind, int in, int out)
{
	rml_model *m = b->m;
	op *v = realloc(m->ops, (size_t)(m->n_ops + 1) * sizeof *v);
	if (!v) {
		b->st = RML_ERR_NOMEM;
		return NULL;
	}
	m->ops = v;
	op *o = &v[m->n_ops++];
	memset(o, 0, sizeof *o);
	o->kind = kind;
	o->in = in;
	o->in2 = -1;
	o->out = out;
	o->p[0] = o->p[1] = o->buf[0] = o->buf[1] = o->save[0] = o->save[1] = -1;
	return o;
}

static void push(builder *b, const char *name, char *saved)
{
	strcpy(saved, b->prefix);
	size_t l = strlen(b->prefix);
	snprintf(b->prefix + l, sizeof b->prefix - l, "%s%s", l ? "." : "", name);
}

static void pop(builder *b, const char *saved)
{
	strcpy(b->prefix, saved);
}

/* conv (standard k x k, or depthwise when dw) with optional bias. */
static int g_conv(builder *b, const char *name, int x, int64_t cout, int k, int stride, int dw,
		  int bias, rml_group g)
{
	if (b->st)
		return 0;
	tensor *tx = &b->m->t[x];
	int64_t cin = tx->c, h = tx->h, w = tx->w;
	int pad = k / 2;
	int64_t oh = rml_conv_out(h, k, stride, pad), ow = rml_conv_out(w, k, stride, pad);
	char sv[160];
	push(b, name, sv);
	int y = new_tensor(b, oh, ow, dw ? cin : cout);
	op *o = new_op(b, dw ? OP_DW : OP_CONV, x, y);
	if (!o) {
		pop(b, sv);
		return 0;
	}
	o->k = k;
	o->stride = stride;
	o->pad = pad;
	o->cin = cin;
	o->cout = dw ? cin : cout;
	if (dw) {
		int64_t d[3] = { k, k, cin };
		o->p[0] = add_param(b, "w", g, 3, d, g == RML_GROUP_THETA ? INIT_CONV : INIT_UNIFORM_FANIN,
				    g == RML_GROUP_THETA ? (int64_t)k * k : (int64_t)k * k);
		b->m->flops += (double)oh * ow * cin * k * k;
	} else {
		int64_t d[4] = { k, k, cin, cout };
		o->p[0] = add_param(b, "w", g, 4, d, g == RML_GROUP_THETA ? INIT_CONV : INIT_UNIFORM_FANIN,
				    g == RML_GROUP_THETA ? (int64_t)k * k * cout : (int64_t)k * k * cin);
		b->m->flops += (double)oh * ow * cin * cout * k * k;
	}
	if (bias) {
		int64_t d[1] = { o->cout };
		o->p[1] = add_param(b, "b", g, 1, d, INIT_BIAS_FANIN, dw ? (int64_t)k * k : (int64_t)k * k * cin);
	}
	pop(b, sv);
	return y;
}

static int g_unary(builder *b, op_kind kind, int x);

/* Batch norm, followed by SiLU in the same operation when act (the fused
 * kernels take at most 4096 channels; wider maps get two operations). */
static int g_bn(builder *b, const char *name, int x, int act)
{
	if (b->st)
		return 0;
	tensor *tx = &b->m->t[x];
	int64_t c = tx->c;
	char sv[160];
	push(b, name, sv);
	int y = new_tensor(b, tx->h, tx->w, c);
	int sm = new_fixed(b, 0, c), sr = new_fixed(b, 0, c);
	op *o = new_op(b, act && c <= 4096 ? OP_BN_SILU : OP_BN, x, y);
	if (o) {
		int64_t d[1] = { c };
		o->cin = o->cout = c;
		o->p[0] = add_param(b, "gamma", RML_GROUP_THETA, 1, d, INIT_ONE, 0);
		o->p[1] = add_param(b, "beta", RML_GROUP_THETA, 1, d, INIT_ZERO, 0);
		o->buf[0] = add_pdesc(b, &b->m->bd, &b->m->n_b, "running_mean", RML_GROUP_THETA, 1, d, INIT_ZERO, 0);
		o->buf[1] = add_pdesc(b, &b->m->bd, &b->m->n_b, "running_var", RML_GROUP_THETA, 1, d, INIT_ONE, 0);
		o->save[0] = sm;
		o->save[1] = sr;
	}
	pop(b, sv);
	if (act && c > 4096)
		y = g_unary(b, OP_SILU, y);
	return y;
}

static int g_unary(builder *b, op_kind kind, int x)
{
	if (b->st)
		return 0;
	tensor *tx = &b->m->t[x];
	int y = new_tensor(b, tx->h, tx->w, tx->c);
	op *o = new_op(b, kind, x, y);
	if (o)
		o->cin = o->cout = b->m->t[x].c;
	return y;
}

static int g_binary(builder *b, op_kind kind, int x, int x2)
{
	if (b->st)
		return 0;
	tensor *tx = &b->m->t[x], *t2 = &b->m->t[x2];
	int64_t c = kind == OP_CONCAT ? tx->c + t2->c : tx->c;
	int y = new_tensor(b, tx->h, tx->w, c);
	op *o = new_op(b, kind, x, y);
	if (o) {
		o->in2 = x2;
		o->cin = b->m->t[x].c;
		o->cout = c;
	}
	return y;
}

static int g_conv_bn_silu(builder *b, const char *name, int x, int64_t cout, int k, int stride,
			  int dw, int act)
{
	char sv[160];
	push(b, name, sv);
	int y = g_conv(b, "conv", x, cout, k, stride, dw, 0, RML_GROUP_THETA);
	y = g_bn(b, "bn", y, act);
	pop(b, sv);
	return y;
}

static int g_linear(builder *b, const char *name, int x, int64_t out, rml_group g, int init)
{
	if (b->st)
		return 0;
	tensor *tx = &b->m->t[x];
	int64_t in = tx->c;
	char sv[160];
	push(b, name, sv);
	int64_t rows = tx->h * tx->w;  /* tx moves when the tensor list grows */
	int y = new_tensor(b, tx->h, tx->w, out);
	op *o = new_op(b, OP_LINEAR, x, y);
	if (o) {
		o->cin = in;
		o->cout = out;
		int64_t dw[2] = { in, out }, db[1] = { out };
		o->p[0] = add_param(b, "w", g, 2, dw, init, in);
		o->p[1] = add_param(b, "b", g, 1, db, init == INIT_LINEAR ? INIT_ZERO : INIT_BIAS_FANIN, in);
		b->m->flops += (double)rows * in * out;
	}
	pop(b, sv);
	return y;
}

static int g_ln(builder *b, const char *name, int x)
{
	if (b->st)
		return 0;
	tensor *tx = &b->m->t[x];
	char sv[160];
	push(b, name, sv);
	int64_t rows = tx->h * tx->w;  /* before the tensor list grows */
	int y = new_tensor(b, tx->h, tx->w, tx->c);
	int sm = new_fixed(b, rows, 0), sr = new_fixed(b, rows, 0);
	op *o = new_op(b, OP_LN, x, y);
	if (o) {
		int64_t d[1] = { b->m->t[x].c };
		o->cin = o->cout = b->m->t[x].c;
		o->p[0] = add_param(b, "gamma", RML_GROUP_THETA, 1, d, INIT_ONE, 0);
		o->p[1] = add_param(b, "beta", RML_GROUP_THETA, 1, d, INIT_ZERO, 0);
		o->save[0] = sm;
		o->save[1] = sr;
	}
	pop(b, sv);
	return y;
}

/* Tokens are tensors of geometry (4*P, 1, d): rows = n*4*P. */
static int g_transformer_layer(builder *b, int x, int heads, int64_t P)
{
	int64_t d = b->m->t[x].c;
	int h1 = g_ln(b, "ln1", x);
	int qkv = g_linear(b, "attn.qkv", h1, 3 * d, RML_GROUP_THETA, INIT_LINEAR);
	int att_out = 0;
	if (!b->st) {
		char sv[160];
		push(b, "attn", sv);
		att_out = new_tensor(b, 4 * P, 1, d);
		int probs = new_fixed(b, 4 * (int64_t)heads * P * P, 0);
		op *o = new_op(b, OP_ATTN, qkv, att_out);
		if (o) {
			o->heads = heads;
			o->cin = 3 * d;
			o->cout = d;
			o->save[0] = probs;
			o->k = (int)P;
			b->m->flops += 2.0 * 4 * P * P * d;
		}
		pop(b, sv);
	}
	int proj = g_linear(b, "attn.proj", att_out, d, RML_GROUP_THETA, INIT_LINEAR);
	int r1 = g_binary(b, OP_ADD, x, proj);
	int h2 = g_ln(b, "ln2", r1);
	int f1 = g_linear(b, "mlp.fc1", h2, 2 * d, RML_GROUP_THETA, INIT_LINEAR);
	int a1 = g_unary(b, OP_SILU, f1);
	int f2 = g_linear(b, "mlp.fc2", a1, d, RML_GROUP_THETA, INIT_LINEAR);
	return g_binary(b, OP_ADD, r1, f2);
}

static int g_mvit(builder *b, int x, const rml_arch_block *blk)
{
	tensor *tx = &b->m->t[x];
	int64_t C = tx->c, H = tx->h, W = tx->w, P = (H / 2) * (W / 2), d = blk->dim;
	char sv[160];
	int y = g_conv_bn_silu(b, "local", x, C, 3, 1, 0, 1);
	y = g_conv(b, "proj_in", y, d, 1, 1, 0, 0, RML_GROUP_THETA);
	int tok = 0;
	if (!b->st) {
		tok = new_tensor(b, 4 * P, 1, d);
		new_op(b, OP_UNFOLD, y, tok);
		b->m->t[tok].h = 4 * P;  /* rows per image */
	}
	for (int l = 0; l < blk->depth && !b->st; l++) {
		char name[32];
		snprintf(name, sizeof name, "transformer.%d", l);
		push(b, name, sv);
		tok = g_transformer_layer(b, tok, blk->heads, P);
		pop(b, sv);
	}
	tok = g_ln(b, "ln", tok);
	int fm = 0;
	if (!b->st) {
		fm = new_tensor(b, H, W, d);
		op *o = new_op(b, OP_FOLD, tok, fm);
		(void)o;
	}
	y = g_conv_bn_silu(b, "proj_out", fm, C, 1, 1, 0, 1);
	int cat = g_binary(b, OP_CONCAT, x, y);
	return g_conv_bn_silu(b, "fuse", cat, C, 3, 1, 0, 1);
}

/* One adapter unit: 1x1 C->C/g, SiLU, 3x3 depthwise, SiLU, 1x1 C/g->C. */
static int g_adapter_unit(builder *b, const char *name, int x, int64_t C, int gamma, rml_group g)
{
	char sv[160];
	push(b, name, sv);
	int64_t r = C / gamma > 0 ? C / gamma : 1;
	int y = g_conv(b, "pw1", x, r, 1, 1, 0, 1, g);
	y = g_unary(b, OP_SILU, y);
	y = g_conv(b, "dw", y, 0, 3, 1, 1, 1, g);
	y = g_unary(b, OP_SILU, y);
	y = g_conv(b, "pw2", y, C, 1, 1, 0, 1, g);
	pop(b, sv);
	return y;
}

static int g_adapter(builder *b, int x, int op_out, int gamma)
{
	int64_t C = b->m->t[x].c;
	char sv[160];
	push(b, "adapter", sv);
	int a = g_adapter_unit(b, "u1", x, C, gamma, RML_GROUP_OMEGA);
	a = g_adapter_unit(b, "u2", a, C, gamma, RML_GROUP_OMEGA);
	a = g_adapter_unit(b, "u3", a, C, gamma, RML_GROUP_PHI);
	int s = 0;
	if (!b->st) {
		s = new_tensor(b, b->m->t[a].h, b->m->t[a].w, C);
		op *o = new_op(b, OP_CHSCALE, a, s);
		if (o) {
			int64_t d[1] = { C };
			o->cin = o->cout = C;
			o->p[0] = add_param(b, "scale", RML_GROUP_PHI, 1, d, INIT_ZERO, 0);
		}
	}
	pop(b, sv);
	return g_binary(b, OP_ADD, op_out, s);
}

static void free_graph(rml_model *m)
{
	for (int i = 0; i < m->n_p; i++)
		free(m->pd[i].name);
	for (int i = 0; i < m->n_b; i++)
		free(m->bd[i].name);
	free(m->pd);
	free(m->bd);
	free(m->t);
	free(m->ops);
	free(m->params);
	free(m->buffers);
	free(m->pblock);
	free(m->gblock);
	free(m->bblock);
	free(m->arena);
	free(m->garena);
	free(m->ws);
	m->pd = m->bd = NULL;
	m->t = NULL;
	m->ops = NULL;
	m->params = m->buffers = NULL;
	m->pblock = m->gblock = m->bblock = m->arena = m->garena = m->ws = NULL;
	m->n_p = m->n_b = m->n_t = m->n_ops = 0;
	m->max_batch = 0;
	m->flops = 0;
}

static rml_status build_graph(rml_model *m, rml_error *err)
{
	builder b = { .m = m, .err = err };
	rml_arch *a = &m->a;
	int x = new_tensor(&b, a->h, a->w, a->c);
	int y = new_tensor(&b, a->h, a->w, a->c);
	new_op(&b, OP_NORM, x, y);
	char sv[160];
	y = g_conv_bn_silu(&b, "stem", y, a->stem_out, 3, a->stem_stride, 0, 1);
	for (int i = 0; i < a->n_blocks && !b.st; i++) {
		char name[32];
		snprintf(name, sizeof name, "blocks.%d", i);
		push(&b, name, sv);
		const rml_arch_block *blk = &a->blocks[i];
		if (blk->type == RML_ARCH_MV2) {
			int64_t cin = m->t[y].c, hid = cin * blk->expand;
			int z = g_conv_bn_silu(&b, "expand", y, hid, 1, 1, 0, 1);
			z = g_conv_bn_silu(&b, "dw", z, 0, 3, blk->stride, 1, 1);
			z = g_conv_bn_silu(&b, "project", z, blk->out, 1, 1, 0, 0);
			if (!b.st && blk->stride == 1 && cin == blk->out)
				z = g_binary(&b, OP_ADD, y, z);
			y = z;
		} else {
			int z = g_mvit(&b, y, blk);
			if (m->gamma)
				z = g_adapter(&b, y, z, m->gamma);
			y = z;
		}
		pop(&b, sv);
	}
	y = g_conv_bn_silu(&b, "final", y, a->head_conv, 1, 1, 0, 1);
	if (!b.st) {
		int pooled = new_tensor(&b, 1, 1, m->t[y].c);
		new_op(&b, OP_GAP, y, pooled);
		y = pooled;
	}
	y = g_linear(&b, "head", y, m->n_classes, RML_GROUP_W, INIT_LINEAR);
	m->logits_t = y;
	if (b.st)
		return rml_errorf(err, b.st, "cannot build the network: %s", rml_strerror(b.st));
	/* Lay the parameters out group by group. */
	m->params = calloc((size_t)m->n_p + 1, sizeof *m->params);
	m->buffers = calloc((size_t)m->n_b + 1, sizeof *m->buffers);
	if (!m->params || !m->buffers)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	int64_t off = 0;
	int k = 0;
	int *order = malloc((size_t)(m->n_p + 1) * sizeof *order);
	if (!order)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int g = 0; g < RML_GROUP_COUNT; g++) {
		m->group_off[g] = off;
		for (int i = 0; i < m->n_p; i++)
			if ((int)m->pd[i].group == g) {
				order[i] = k;
				rml_param *p = &m->params[k++];
				p->name = m->pd[i].name;
				p->group = m->pd[i].group;
				p->ndim = m->pd[i].ndim;
				memcpy(p->dims, m->pd[i].dims, sizeof p->dims);
				p->numel = m->pd[i].numel;
				p->offset = off;
				off += p->numel;
			}
	}
	m->group_off[RML_GROUP_COUNT] = off;
	int64_t per_img = 0;
	for (int i = 0; i < m->n_t; i++)
		per_img += m->t[i].per_img + m->t[i].fixed;
	if (off > MAX_PARAMS || per_img > MAX_ACT_PER_IMAGE) {
		free(order);
		return rml_errorf(err, RML_ERR_LIMIT,
				  "architecture too large: %lld parameters and %lld activations per image "
				  "(limits %lld and %lld)", (long long)off, (long long)per_img,
				  (long long)MAX_PARAMS, (long long)MAX_ACT_PER_IMAGE);
	}
	/* Ops refer to parameters by descriptor index: map to layout index. */
	for (int i = 0; i < m->n_ops; i++)
		for (int j = 0; j < 2; j++)
			if (m->ops[i].p[j] >= 0)
				m->ops[i].p[j] = order[m->ops[i].p[j]];
	pdesc *sorted = malloc((size_t)(m->n_p + 1) * sizeof *sorted);
	if (!sorted) {
		free(order);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < m->n_p; i++)
		sorted[order[i]] = m->pd[i];
	free(m->pd);
	m->pd = sorted;
	free(order);
	m->pblock = calloc((size_t)off + 1, sizeof *m->pblock);
	m->gblock = calloc((size_t)off + 1, sizeof *m->gblock);
	int64_t boff = 0;
	for (int i = 0; i < m->n_b; i++)
		boff += m->bd[i].numel;
	m->bblock = calloc((size_t)boff + 1, sizeof *m->bblock);
	if (!m->pblock || !m->gblock || !m->bblock)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int i = 0; i < m->n_p; i++) {
		m->params[i].data = m->pblock + m->params[i].offset;
		m->params[i].grad = m->gblock + m->params[i].offset;
	}
	boff = 0;
	for (int i = 0; i < m->n_b; i++) {
		rml_param *p = &m->buffers[i];
		p->name = m->bd[i].name;
		p->group = RML_GROUP_THETA;
		p->ndim = m->bd[i].ndim;
		memcpy(p->dims, m->bd[i].dims, sizeof p->dims);
		p->numel = m->bd[i].numel;
		p->offset = boff;
		p->data = m->bblock + boff;
		p->grad = NULL;
		boff += p->numel;
	}
	return RML_OK;
}

static void init_params(rml_model *m, uint64_t seed, unsigned groups)
{
	rml_rng r;
	for (int i = 0; i < m->n_p; i++) {
		rml_param *p = &m->params[i];
		if (!(groups & RML_GROUP_BIT(p->group)))
			continue;
		/* A stream per parameter name position: adding adapters leaves the
		 * base initialisation unchanged. */
		uint64_t h = 1469598103934665603ULL;
		for (const char *c = p->name; *c; c++)
			h = (h ^ (uint8_t)*c) * 1099511628211ULL;
		rml_rng_seed_stream(&r, seed, h);
		const pdesc *d = &m->pd[i];
		for (int64_t j = 0; j < p->numel; j++) {
			double v = 0;
			switch (d->init) {
			case INIT_ONE: v = 1; break;
			case INIT_ZERO: v = 0; break;
			case INIT_CONV: v = rml_rng_normal(&r) * sqrt(2.0 / (double)d->fan); break;
			case INIT_LINEAR: v = rml_rng_normal(&r) * 0.02; break;
			case INIT_UNIFORM_FANIN:
			case INIT_BIAS_FANIN:
				v = (2 * rml_rng_uniform(&r) - 1) / sqrt((double)d->fan);
				break;
			}
			p->data[j] = (float)v;
		}
	}
	/* Batch-norm statistics belong to the whole network: only a full
	 * initialisation resets them. A new head (rml_model_reset_head) keeps
	 * the features the trained statistics give. */
	if (groups != RML_GROUPS_ALL)
		return;
	for (int i = 0; i < m->n_b; i++)
		for (int64_t j = 0; j < m->buffers[i].numel; j++)
			m->buffers[i].data[j] = m->bd[i].init == INIT_ONE ? 1.0f : 0.0f;
}

/* ---- public: creation -------------------------------------------------------- */

const char *const *rml_model_presets(void)
{
	return rml_arch_presets();
}

const char *rml_model_preset_yaml(const char *name)
{
	return rml_arch_preset_yaml(name);
}

const char *rml_group_name(rml_group g)
{
	static const char *const n[] = { "theta", "omega", "phi", "W" };
	return (unsigned)g < RML_GROUP_COUNT ? n[g] : "?";
}

rml_status rml_group_mask_parse(const char *s, unsigned *mask, rml_error *err)
{
	unsigned m = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", s);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "theta") == 0 || strcmp(t, "base") == 0)
			m |= RML_GROUP_BIT(RML_GROUP_THETA);
		else if (strcmp(t, "omega") == 0)
			m |= RML_GROUP_BIT(RML_GROUP_OMEGA);
		else if (strcmp(t, "phi") == 0)
			m |= RML_GROUP_BIT(RML_GROUP_PHI);
		else if (strcmp(t, "W") == 0 || strcmp(t, "w") == 0 || strcmp(t, "head") == 0)
			m |= RML_GROUP_BIT(RML_GROUP_W);
		else if (strcmp(t, "adapters") == 0)
			m |= RML_GROUP_BIT(RML_GROUP_OMEGA) | RML_GROUP_BIT(RML_GROUP_PHI);
		else if (strcmp(t, "all") == 0)
			m |= RML_GROUPS_ALL;
		else
			return rml_errorf(err, RML_ERR_ARG,
					  "unknown parameter group '%s' (theta, omega, phi, W, adapters, all)", t);
	}
	if (!m)
		return rml_errorf(err, RML_ERR_ARG, "no parameter group in '%s'", s);
	*mask = m;
	return RML_OK;
}

static rml_status model_build(rml_model *m, rml_error *err)
{
	free_graph(m);
	return build_graph(m, err);
}

rml_status rml_model_create(rml_model **out, const rml_model_config *cfg, rml_error *err)
{
	*out = NULL;
	if (cfg->n_classes < 1 || cfg->n_classes > 100000)
		return rml_errorf(err, RML_ERR_ARG, "class count %d is outside 1..100000", cfg->n_classes);
	if (cfg->adapter_gamma && cfg->adapter_gamma != 1 && cfg->adapter_gamma != 2 &&
	    cfg->adapter_gamma != 4 && cfg->adapter_gamma != 8)
		return rml_errorf(err, RML_ERR_ARG, "adapter compression must be 1, 2, 4 or 8, not %d",
				  cfg->adapter_gamma);
	rml_model *m = calloc(1, sizeof *m);
	if (!m)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	if (!cfg->arch) {
		free(m);
		return rml_errorf(err, RML_ERR_ARG, "no architecture given");
	}
	const char *text = rml_model_preset_yaml(cfg->arch);
	if (!text && !strchr(cfg->arch, '\n') && !strchr(cfg->arch, ':')) {
		free(m);
		return rml_errorf(err, RML_ERR_ARG,
				  "unknown architecture '%s' (presets: mvit-xxs, mvit-tiny; or YAML text)",
				  cfg->arch);
	}
	rml_status st = rml_arch_parse(&m->a, text ? text : cfg->arch, err);
	if (!st) {
		m->n_classes = cfg->n_classes;
		m->gamma = cfg->adapter_gamma;
		m->seed = cfg->seed;
		m->profile = getenv("RML_PROFILE") != NULL;
		st = model_build(m, err);
	}
	if (st) {
		rml_model_free(m);
		return st;
	}
	init_params(m, cfg->seed, RML_GROUPS_ALL);
	*out = m;
	return RML_OK;
}

void rml_model_free(rml_model *m)
{
	if (!m)
		return;
	free_graph(m);
	rml_arch_free(&m->a);
	if (m->class_names)
		for (int i = 0; i < m->n_classes; i++)
			free(m->class_names[i]);
	free(m->class_names);
	rml_file_free(&m->carried);
	free(m);
}

/* Rebuild with a new shape, carrying over every parameter and buffer whose
 * name and size still match. */
static rml_status rebuild_keep(rml_model *m, rml_error *err)
{
	int64_t np = m->n_p, nb = m->n_b;
	char **names = malloc((size_t)(np + nb + 1) * sizeof *names);
	float **vals = malloc((size_t)(np + nb + 1) * sizeof *vals);
	int64_t *sizes = malloc((size_t)(np + nb + 1) * sizeof *sizes);
	if (!names || !vals || !sizes) {
		free(names);
		free(vals);
		free(sizes);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	int k = 0, short_of_memory = 0;
	for (int i = 0; i < np + nb; i++) {
		rml_param *p = i < np ? &m->params[i] : &m->buffers[i - np];
		names[k] = strdup(p->name);
		vals[k] = malloc((size_t)p->numel * sizeof(float) + 1);
		sizes[k] = p->numel;
		if (names[k] && vals[k])
			memcpy(vals[k], p->data, (size_t)p->numel * sizeof(float));
		else
			short_of_memory = 1;
		k++;
	}
	int64_t mb = m->max_batch;
	int wg = m->with_grad;
	/* Without a full copy the rebuild would silently re-initialise weights. */
	rml_status st = short_of_memory ? rml_errorf(err, RML_ERR_NOMEM, "out of memory")
					: model_build(m, err);
	if (!st) {
		init_params(m, m->seed, RML_GROUPS_ALL);
		for (int i = 0; i < k; i++) {
			if (!names[i] || !vals[i])
				continue;
			for (int j = 0; j < m->n_p + m->n_b; j++) {
				rml_param *p = j < m->n_p ? &m->params[j] : &m->buffers[j - m->n_p];
				if (strcmp(p->name, names[i]) == 0 && p->numel == sizes[i])
					memcpy(p->data, vals[i], (size_t)p->numel * sizeof(float));
			}
		}
		if (mb)
			st = rml_model_reserve(m, mb, wg, err);
	}
	for (int i = 0; i < k; i++) {
		free(names[i]);
		free(vals[i]);
	}
	free(names);
	free(vals);
	free(sizes);
	return st;
}

rml_status rml_model_add_adapters(rml_model *m, int gamma, uint64_t seed, rml_error *err)
{
	if (m->gamma)
		return rml_errorf(err, RML_ERR_ARG, "the model already has adapters");
	if (gamma != 1 && gamma != 2 && gamma != 4 && gamma != 8)
		return rml_errorf(err, RML_ERR_ARG, "adapter compression must be 1, 2, 4 or 8, not %d", gamma);
	int has_mvit = 0;
	for (int i = 0; i < m->a.n_blocks; i++)
		has_mvit |= m->a.blocks[i].type == RML_ARCH_MVIT;
	if (!has_mvit)
		return rml_errorf(err, RML_ERR_ARG, "the architecture has no MobileViT block to adapt");
	m->gamma = gamma;
	uint64_t old = m->seed;
	m->seed = seed;
	rml_status st = rebuild_keep(m, err);
	m->seed = old;
	return st;
}

rml_status rml_model_reset_head(rml_model *m, int n_classes, uint64_t seed, rml_error *err)
{
	if (n_classes < 1 || n_classes > 100000)
		return rml_errorf(err, RML_ERR_ARG, "class count %d is outside 1..100000", n_classes);
	if (m->class_names)
		for (int i = 0; i < m->n_classes; i++)
			free(m->class_names[i]);
	free(m->class_names);
	m->class_names = NULL;
	int same = n_classes == m->n_classes;
	m->n_classes = n_classes;
	rml_status st = same ? RML_OK : rebuild_keep(m, err);
	if (!st) {
		uint64_t old = m->seed;
		m->seed = seed;
		init_params(m, seed, RML_GROUP_BIT(RML_GROUP_W));
		m->seed = old;
	}
	return st;
}

/* ---- introspection ------------------------------------------------------------------ */

int rml_model_n_classes(const rml_model *m) { return m->n_classes; }
int rml_model_has_adapters(const rml_model *m) { return m->gamma != 0; }
const char *const *rml_model_class_names(const rml_model *m)
{
	return (const char *const *)m->class_names;
}

rml_status rml_model_set_class_names(rml_model *m, const char *const *names, int n,
				     rml_error *err)
{
	if (n != m->n_classes)
		return rml_errorf(err, RML_ERR_MISMATCH, "%d class names for a model of %d classes", n,
				  m->n_classes);
	char **v = calloc((size_t)n, sizeof *v);
	if (!v)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	for (int i = 0; i < n; i++)
		if (!(v[i] = strdup(names[i] ? names[i] : ""))) {
			for (int j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		}
	if (m->class_names)
		for (int i = 0; i < m->n_classes; i++)
			free(m->class_names[i]);
	free(m->class_names);
	m->class_names = v;
	return RML_OK;
}

void rml_model_input_shape(const rml_model *m, int *h, int *w, int *c)
{
	*h = m->a.h;
	*w = m->a.w;
	*c = m->a.c;
}

int64_t rml_model_n_params(const rml_model *m, unsigned mask)
{
	int64_t n = 0;
	for (int g = 0; g < RML_GROUP_COUNT; g++)
		if (mask & RML_GROUP_BIT(g))
			n += m->group_off[g + 1] - m->group_off[g];
	return n;
}

rml_param *rml_model_params(rml_model *m, int64_t *n)
{
	*n = m->n_p;
	return m->params;
}

rml_param *rml_model_buffers(rml_model *m, int64_t *n)
{
	*n = m->n_b;
	return m->buffers;
}

void rml_model_group_range(const rml_model *m, rml_group g, int64_t *offset, int64_t *count)
{
	*offset = m->group_off[g];
	*count = m->group_off[g + 1] - m->group_off[g];
}

float *rml_model_param_block(rml_model *m) { return m->pblock; }
float *rml_model_grad_block(rml_model *m) { return m->gblock; }
double rml_model_flops(const rml_model *m) { return m->flops; }

const char *rml_model_arch_yaml(const rml_model *m) { return m->a.yaml; }
int rml_model_adapter_gamma(const rml_model *m) { return m->gamma; }

/* ---- running ------------------------------------------------------------------------- */

static int64_t t_floats(const tensor *t, int64_t n)
{
	return t->per_img ? t->per_img * n : t->fixed;
}

/* The 1x1 convolution op i's backward can take over when op i is a batch
 * norm, or NULL: the operation just before it, without bias, whose
 * output only op i reads. The pair then runs backward as one kernel
 * (rml_conv1x1_bn_backward_train), which reads the norm's output
 * gradient while it writes the convolution's input gradient: the two
 * must not share memory (pack_tensors). */
static const op *conv_before_bn(const rml_model *m, int i)
{
	const op *o = &m->ops[i];
	if ((o->kind != OP_BN && o->kind != OP_BN_SILU) || i == 0 || o->cout > 4096)
		return NULL;
	const op *c = &m->ops[i - 1];
	if (c->kind != OP_CONV || c->out != o->in || c->k != 1 || c->stride != 1 || c->pad != 0 ||
	    c->p[1] >= 0)
		return NULL;
	for (int j = 0; j < m->n_ops; j++)
		if (j != i && (m->ops[j].in == o->in || m->ops[j].in2 == o->in))
			return NULL;
	return c;
}

/* Lay tensors out in an arena so that two tensors share memory only when
 * no operation needs both: tensor i is needed from the operation that
 * writes it to the last one that reads it (the input from before the
 * first operation, the logits until the next forward). Greedy placement,
 * largest first, at the lowest offset free over the tensor's lifetime.
 * A smaller arena keeps the working set of a large batch in cache. With
 * `grads`, the gradient buffers are laid out instead: the gradient of a
 * tensor lives over the same span of operations, walked backwards, and
 * tensors that never receive one (saved statistics) take no room.
 * Offsets (in floats, multiples of 16) go to off[]; returns the size. */
static int64_t pack_tensors(const rml_model *m, int64_t batch, int grads, int64_t *off)
{
	int nt = m->n_t;
	int *birth = malloc((size_t)(nt + 1) * sizeof *birth);
	int *death = malloc((size_t)(nt + 1) * sizeof *death);
	int *order = malloc((size_t)(nt + 1) * sizeof *order);
	int64_t *size = malloc((size_t)(nt + 1) * sizeof *size);
	int *placed = malloc((size_t)(nt + 1) * sizeof *placed);
	if (!birth || !death || !order || !size || !placed) {
		free(birth);
		free(death);
		free(order);
		free(size);
		free(placed);
		return -1;
	}
	for (int i = 0; i < nt; i++) {
		birth[i] = m->n_ops;
		death[i] = -1;
		size[i] = (t_floats(&m->t[i], batch) + 15) / 16 * 16;
	}
	birth[0] = -1;
	for (int i = 0; i < m->n_ops; i++) {
		const op *o = &m->ops[i];
		int w[3] = { o->out, o->save[0], o->save[1] };
		for (int j = 0; j < 3; j++)
			if (w[j] >= 0) {
				if (i < birth[w[j]])
					birth[w[j]] = i;
				if (i > death[w[j]])
					death[w[j]] = i;
			}
		if (i > death[o->in])
			death[o->in] = i;
		if (o->in2 >= 0 && i > death[o->in2])
			death[o->in2] = i;
		/* A 1x1 convolution and its batch norm backward in one kernel:
		 * the convolution's input gradient lives while the norm's
		 * output gradient is read. */
		const op *c = grads ? conv_before_bn(m, i) : NULL;
		if (c && i > death[c->in])
			death[c->in] = i;
		if (grads)
			for (int j = 0; j < 2; j++)
				if (o->save[j] >= 0)
					size[o->save[j]] = 0;
	}
	death[m->logits_t] = m->n_ops;
	for (int i = 0; i < nt; i++) {
		if (death[i] < birth[i])  /* never used: give it room of its own */
			death[i] = birth[i];
		order[i] = i;
	}
	/* Largest first (ties by index, so the layout is reproducible). */
	for (int i = 1; i < nt; i++) {
		int v = order[i], j = i;
		while (j > 0 && (size[order[j - 1]] < size[v] ||
				 (size[order[j - 1]] == size[v] && order[j - 1] > v))) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	int64_t total = 0;
	int n_placed = 0;
	for (int k = 0; k < nt; k++) {
		int t = order[k];
		int64_t at = 0;
		/* Move past every placed tensor that is alive at the same time
		 * and overlaps [at, at + size); repeat until nothing does. */
		for (int moved = 1; moved && size[t] > 0;) {
			moved = 0;
			for (int q = 0; q < n_placed; q++) {
				int u = placed[q];
				if (birth[u] > death[t] || birth[t] > death[u] || size[u] == 0)
					continue;
				if (off[u] < at + size[t] && at < off[u] + size[u]) {
					at = off[u] + size[u];
					moved = 1;
				}
			}
		}
		off[t] = at;
		placed[n_placed++] = t;
		if (at + size[t] > total)
			total = at + size[t];
	}
	free(birth);
	free(death);
	free(order);
	free(size);
	free(placed);
	return total;
}

/* Every tensor starts on a 64-byte boundary whatever the allocator gives,
 * so vector loops split the same way in any layout and the results never
 * depend on where memory happened to be (a multiple of 16 floats). */
static float *arena_alloc(int64_t floats)
{
	size_t bytes = ((size_t)floats * sizeof(float) + 63) / 64 * 64;
	return aligned_alloc(64, bytes);
}

rml_status rml_model_reserve(rml_model *m, int64_t max_batch, int with_grad, rml_error *err)
{
	if (max_batch < 1)
		return rml_errorf(err, RML_ERR_ARG, "batch size must be at least 1");
	if (max_batch <= m->max_batch && (!with_grad || m->with_grad))
		return RML_OK;
	if (max_batch < m->max_batch)
		max_batch = m->max_batch;
	with_grad |= m->with_grad;
	int64_t per_img = 0, total = 0;
	for (int i = 0; i < m->n_t; i++)
		per_img += m->t[i].per_img + 16;
	if (max_batch > INT64_C(1) << 40 || rml_mul_overflow(per_img, max_batch, &total) ||
	    total > (INT64_C(1) << 40))
		return rml_errorf(err, RML_ERR_LIMIT, "batch of %lld images is too large for this network",
				  (long long)max_batch);
	/* Backward reads nearly every activation, so with gradients each
	 * tensor keeps its own memory; without, tensors share it. */
	int64_t *aoff = malloc((size_t)(m->n_t + 1) * sizeof *aoff);
	int64_t *goff = malloc((size_t)(m->n_t + 1) * sizeof *goff);
	int64_t gtotal = 0;
	total = 0;
	if (aoff && goff) {
		if (with_grad) {
			for (int i = 0; i < m->n_t; i++) {
				aoff[i] = total;
				total += (t_floats(&m->t[i], max_batch) + 15) / 16 * 16;
			}
			gtotal = pack_tensors(m, max_batch, 1, goff);
		} else {
			total = pack_tensors(m, max_batch, 0, aoff);
		}
	}
	float *arena = total > 0 ? arena_alloc(total) : NULL;
	float *garena = with_grad && gtotal > 0 ? arena_alloc(gtotal) : NULL;
	/* One workspace, shared by every convolution (im2col) and attention
	 * backward, sized for the largest at the largest batch. */
	int64_t ws = 0;
	for (int i = 0; i < m->n_ops; i++) {
		const op *o = &m->ops[i];
		const tensor *ti = &m->t[o->in];
		int64_t need = 0;
		if (o->kind == OP_CONV)
			need = rml_conv2d_workspace(max_batch, ti->h, ti->w, ti->c, o->k, o->stride, o->pad);
		else if (o->kind == OP_ATTN)
			need = rml_attention_workspace(max_batch * 4, o->k, m->t[o->out].c, o->heads);
		if (need > ws)
			ws = need;
	}
	float *wsb = arena_alloc(ws + 16);
	if (!arena || (with_grad && !garena) || !wsb) {
		free(arena);
		free(garena);
		free(wsb);
		free(aoff);
		free(goff);
		return rml_errorf(err, RML_ERR_NOMEM,
				  "out of memory for activations of batch %lld (%.0f MB)",
				  (long long)max_batch, (double)(total + gtotal) * 4 / 1e6);
	}
	free(m->arena);
	free(m->garena);
	free(m->ws);
	m->arena = arena;
	m->garena = garena;
	m->ws = wsb;
	for (int i = 0; i < m->n_t; i++) {
		m->t[i].data = arena + aoff[i];
		m->t[i].grad = garena ? garena + goff[i] : NULL;
	}
	free(aoff);
	free(goff);
	m->arena_floats = total;
	m->garena_floats = gtotal;
	m->max_batch = max_batch;
	m->with_grad = with_grad;
	m->last_n = 0;  /* what a forward saved for backward is gone */
	return RML_OK;
}

void rml_model_set_trainable(rml_model *m, unsigned mask)
{
	m->trainable = mask & RML_GROUPS_ALL;
}

void rml_model_zero_grad(rml_model *m)
{
	for (int g = 0; g < RML_GROUP_COUNT; g++)
		if (m->trainable & RML_GROUP_BIT(g))
			memset(m->gblock + m->group_off[g], 0,
			       (size_t)(m->group_off[g + 1] - m->group_off[g]) * sizeof(float));
}

static float *P(rml_model *m, int i) { return i >= 0 ? m->params[i].data : NULL; }
static float *B(rml_model *m, int i) { return i >= 0 ? m->buffers[i].data : NULL; }

rml_status rml_model_forward(rml_model *m, const float *x, int64_t n, rml_mode mode,
			     float **logits, rml_error *err)
{
	rml_threads_adapt();
	if (mode != RML_MODE_EVAL && mode != RML_MODE_TRAIN)
		return rml_errorf(err, RML_ERR_ARG, "unknown mode %d", (int)mode);
	if (n < 1 || n > m->max_batch)
		return rml_errorf(err, RML_ERR_ARG, "batch of %lld images, reserved for %lld",
				  (long long)n, (long long)m->max_batch);
	m->last_mode = mode;
	m->last_n = n;
	for (int i = 0; i < m->n_ops; i++) {
		/* Before every op, not once a pass: a pass at batch 128 takes
		 * tens of milliseconds, which two threads beside a busy core
		 * would spend at half the speed of one. */
		rml_threads_adapt();
		op *o = &m->ops[i];
		tensor *ti = &m->t[o->in], *to = &m->t[o->out];
		int64_t rows = n * ti->h * ti->w;
		double t0 = m->profile ? rml_now() : 0;
		switch (o->kind) {
		case OP_NORM: {
			const rml_arch *a = &m->a;
			float sc[4], sh[4];
			for (int c = 0; c < a->c; c++) {
				sc[c] = (float)(1.0 / a->std[c]);
				sh[c] = (float)(-a->mean[c] / a->std[c]);
			}
			int64_t cnt = n * a->h * a->w;
			for (int64_t r = 0; r < cnt; r++)
				for (int c = 0; c < a->c; c++)
					to->data[r * a->c + c] = x[r * a->c + c] * sc[c] + sh[c];
			break;
		}
		case OP_CONV:
			if (mode == RML_MODE_TRAIN && i + 1 < m->n_ops && conv_before_bn(m, i + 1) == o) {
				/* With its batch norm (the next op, whose time this is). */
				op *bn = &m->ops[i + 1];
				rml_conv1x1_bn_forward_train(
					m->t[bn->out].data, to->data, m->t[bn->save[0]].data,
					m->t[bn->save[1]].data, B(m, bn->buf[0]), B(m, bn->buf[1]), ti->data,
					P(m, o->p[0]), P(m, bn->p[0]), P(m, bn->p[1]), rows, ti->c, o->cout,
					BN_MOMENTUM, BN_EPS, bn->kind == OP_BN_SILU);
				o = bn;
				i++;
				break;
			}
			rml_conv2d_forward(to->data, m->ws, ti->data, P(m, o->p[0]), P(m, o->p[1]), n,
					   ti->h, ti->w, ti->c, o->cout, o->k, o->stride, o->pad);
			break;
		case OP_DW:
			rml_dwconv2d_forward(to->data, ti->data, P(m, o->p[0]), P(m, o->p[1]), n, ti->h,
					     ti->w, ti->c, o->k, o->stride, o->pad);
			break;
		case OP_BN:
			if (mode == RML_MODE_TRAIN)
				rml_bn_forward_train(to->data, m->t[o->save[0]].data, m->t[o->save[1]].data,
						     B(m, o->buf[0]), B(m, o->buf[1]), ti->data,
						     P(m, o->p[0]), P(m, o->p[1]), rows, ti->c,
						     BN_MOMENTUM, BN_EPS);
			else
				rml_bn_forward_eval(to->data, ti->data, P(m, o->p[0]), P(m, o->p[1]),
						    B(m, o->buf[0]), B(m, o->buf[1]), rows, ti->c, BN_EPS);
			break;
		case OP_BN_SILU:
			if (mode == RML_MODE_TRAIN)
				rml_bn_silu_forward_train(to->data, m->t[o->save[0]].data,
							  m->t[o->save[1]].data, B(m, o->buf[0]),
							  B(m, o->buf[1]), ti->data, P(m, o->p[0]),
							  P(m, o->p[1]), rows, ti->c, BN_MOMENTUM, BN_EPS);
			else
				rml_bn_silu_forward_eval(to->data, ti->data, P(m, o->p[0]), P(m, o->p[1]),
							 B(m, o->buf[0]), B(m, o->buf[1]), rows, ti->c,
							 BN_EPS);
			break;
		case OP_SILU:
			rml_silu_forward(to->data, ti->data, rows * ti->c);
			break;
		case OP_ADD:
			rml_add_forward(to->data, ti->data, m->t[o->in2].data, rows * ti->c);
			break;
		case OP_CONCAT:
			rml_concat_forward(to->data, ti->data, m->t[o->in2].data, rows, ti->c,
					   m->t[o->in2].c);
			break;
		case OP_UNFOLD:
			rml_unfold_forward(to->data, ti->data, n, ti->h, ti->w, ti->c);
			break;
		case OP_FOLD:
			rml_fold_forward(to->data, ti->data, n, to->h, to->w, to->c);
			break;
		case OP_LN:
			rml_layernorm_forward(to->data, m->t[o->save[0]].data, m->t[o->save[1]].data,
					      ti->data, P(m, o->p[0]), P(m, o->p[1]), rows, ti->c, LN_EPS);
			break;
		case OP_LINEAR:
			rml_linear_forward(to->data, ti->data, P(m, o->p[0]), P(m, o->p[1]), rows, ti->c,
					   o->cout);
			break;
		case OP_ATTN:
			/* Rows of one image are 4 sequences of P tokens each. */
			rml_attention_forward(to->data, m->t[o->save[0]].data, ti->data, n * 4, o->k,
					      to->c, o->heads);
			break;
		case OP_GAP:
			rml_gap_forward(to->data, ti->data, n, ti->h * ti->w, ti->c);
			break;
		case OP_CHSCALE:
			rml_chscale_forward(to->data, ti->data, P(m, o->p[0]), rows, ti->c);
			break;
		default:
			break;
		}
		if (m->profile)
		{
			m->prof_time[o->kind][0] += rml_now() - t0;
			m->prof_calls[o->kind][0]++;
		}
	}
	*logits = m->t[m->logits_t].data;
	return RML_OK;
}

rml_status rml_model_forward_u8(rml_model *m, const uint8_t *x, int64_t n, rml_mode mode,
				float **logits, rml_error *err)
{
	if (n < 1 || n > m->max_batch)
		return rml_errorf(err, RML_ERR_ARG, "batch of %lld images, reserved for %lld",
				  (long long)n, (long long)m->max_batch);
	/* The normalisation op reads floats: convert into the first tensor. */
	float *in = m->t[0].data;
	int64_t cnt = n * m->a.h * m->a.w * m->a.c;
	for (int64_t i = 0; i < cnt; i++)
		in[i] = x[i];
	return rml_model_forward(m, in, n, mode, logits, err);
}

rml_status rml_model_predict(rml_model *m, const rml_dataset *d, int64_t batch, float *probs,
			     rml_error *err)
{
	int h, w, c;
	rml_model_input_shape(m, &h, &w, &c);
	if (d->h != h || d->w != w || d->c != c)
		return rml_errorf(err, RML_ERR_MISMATCH,
				  "the model takes %dx%dx%d images, the dataset holds %lldx%lldx%lld",
				  h, w, c, (long long)d->h, (long long)d->w, (long long)d->c);
	int64_t k = rml_model_n_classes(m);
	/* A batch beyond the data would only reserve memory for nothing. */
	if (batch > d->n && d->n > 0)
		batch = d->n;
	rml_status st = rml_model_reserve(m, batch, 0, err);
	if (st)
		return st;
	int64_t img = d->h * d->w * d->c;
	for (int64_t i = 0; i < d->n; i += batch) {
		int64_t b = d->n - i < batch ? d->n - i : batch;
		float *logits;
		st = rml_model_forward_u8(m, d->images + i * img, b, RML_MODE_EVAL, &logits, err);
		if (st)
			return st;
		rml_softmax(probs + i * k, logits, b, k);
	}
	return RML_OK;
}

/* Which tensors need a gradient: the input when asked, and everything
 * downstream of it or of a trainable parameter. */
static void mark_needs(rml_model *m, int want_dx)
{
	for (int i = 0; i < m->n_t; i++)
		m->t[i].needs_grad = 0;
	m->t[0].needs_grad = want_dx;
	for (int i = 0; i < m->n_ops; i++) {
		op *o = &m->ops[i];
		int need = m->t[o->in].needs_grad || (o->in2 >= 0 && m->t[o->in2].needs_grad);
		for (int j = 0; j < 2; j++)
			if (o->p[j] >= 0 && (m->trainable & RML_GROUP_BIT(m->params[o->p[j]].group)))
				need = 1;
		m->t[o->out].needs_grad = need;
	}
}

/* The gradient buffer of tensor t, or NULL when it needs none. The first
 * backward to reach it (the last reader of t forward) either writes it
 * whole with a first-writer kernel (kernels.h, *_set), when `fresh` is
 * given: *fresh is then 1 for that first call; or gets it zeroed here.
 * Skipping the zeroing saves a pass over every feature map per step. */
static float *grad_of(rml_model *m, int t, int64_t n, int *fresh)
{
	tensor *tt = &m->t[t];
	if (!tt->needs_grad)
		return NULL;
	if (!tt->touched) {
		tt->touched = 1;
		if (fresh) {
			*fresh = 1;
			return tt->grad;
		}
		memset(tt->grad, 0, (size_t)t_floats(tt, n) * sizeof(float));
	}
	return tt->grad;
}

/* Whether the backward of kind k has first-writer forms for its input
 * gradients (batch norms only with batch statistics). */
static int writes_first(op_kind k, int eval)
{
	return k == OP_CONV || k == OP_DW || k == OP_LINEAR || k == OP_SILU || k == OP_ADD ||
	       k == OP_CONCAT || k == OP_UNFOLD || k == OP_FOLD || k == OP_LN || k == OP_ATTN ||
	       ((k == OP_BN || k == OP_BN_SILU) && !eval);
}

static float *PG(rml_model *m, int i)
{
	if (i < 0 || !(m->trainable & RML_GROUP_BIT(m->params[i].group)))
		return NULL;
	return m->params[i].grad;
}

/* The convolution op i takes over in this backward pass (batch
 * statistics, a gradient wanted), or NULL. */
static op *fused_conv(rml_model *m, int i, int eval)
{
	const op *c = eval ? NULL : conv_before_bn(m, i);
	const tensor *t = &m->t[m->ops[i].in];
	return c && t->needs_grad && !t->touched ? &m->ops[i - 1] : NULL;
}

rml_status rml_model_backward(rml_model *m, const float *dlogits, float *dx, rml_error *err)
{
	rml_threads_adapt();
	if (!m->with_grad)
		return rml_errorf(err, RML_ERR_ARG, "the model was not reserved for gradients");
	int64_t n = m->last_n;
	if (n < 1)
		return rml_errorf(err, RML_ERR_ARG, "backward without a forward pass before it");
	for (int i = 0; i < m->n_ops; i++)
		m->ops[i].run = 0;
	mark_needs(m, dx != NULL);
	for (int i = 0; i < m->n_t; i++)
		m->t[i].touched = 0;
	tensor *tl = &m->t[m->logits_t];
	if (!tl->needs_grad)
		return RML_OK;  /* nothing trainable and no input gradient asked */
	memcpy(tl->grad, dlogits, (size_t)(n * tl->c) * sizeof(float));
	tl->touched = 1;
	int eval = m->last_mode == RML_MODE_EVAL;
	for (int i = m->n_ops - 1; i >= 0; i--) {
		op *o = &m->ops[i];
		tensor *ti = &m->t[o->in], *to = &m->t[o->out];
		if (!to->needs_grad || !to->touched)
			continue;
		rml_threads_adapt();  /* as in the forward pass */
		float *dy = to->grad;
		op *co = fused_conv(m, i, eval);
		if (co) {
			/* The convolution's gradients too: its output's gradient
			 * (this op's input) stays untouched, so the convolution's
			 * own step is skipped below. */
			double t0 = m->profile ? rml_now() : 0;
			int cset = 0;
			float *cgin = grad_of(m, co->in, n, &cset);
			tensor *tc = &m->t[co->in];
			rml_conv1x1_bn_backward_train(
				cgin, cset, PG(m, co->p[0]), PG(m, o->p[0]), PG(m, o->p[1]), ti->grad, dy,
				ti->data, tc->data, P(m, co->p[0]), m->t[o->save[0]].data,
				m->t[o->save[1]].data, P(m, o->p[0]), P(m, o->p[1]),
				n * ti->h * ti->w, co->cin, co->cout, o->kind == OP_BN_SILU);
			o->run = co->run = 1;
			if (m->profile) {
				m->prof_time[o->kind][1] += rml_now() - t0;
				m->prof_calls[o->kind][1]++;
			}
			continue;
		}
		int first = writes_first(o->kind, eval), set = 0, set2 = 0;
		float *gin = o->kind == OP_NORM ? NULL : grad_of(m, o->in, n, first ? &set : NULL);
		float *gin2 = o->in2 >= 0 ? grad_of(m, o->in2, n, first ? &set2 : NULL) : NULL;
		float *pg0 = PG(m, o->p[0]), *pg1 = PG(m, o->p[1]);
		if (!gin && !gin2 && !pg0 && !pg1 && o->kind != OP_NORM)
			continue;
		o->run = 1;
		int64_t rows = n * ti->h * ti->w;
		double t0 = m->profile ? rml_now() : 0;
		switch (o->kind) {
		case OP_NORM:
			if (dx) {
				const rml_arch *a = &m->a;
				int64_t cnt = n * a->h * a->w;
				for (int64_t r = 0; r < cnt; r++)
					for (int c = 0; c < a->c; c++)
						dx[r * a->c + c] += dy[r * a->c + c] / (float)a->std[c];
			}
			break;
		case OP_CONV:
			(set ? rml_conv2d_backward_set : rml_conv2d_backward)(
				gin, pg0, pg1, m->ws, dy, ti->data, P(m, o->p[0]), n, ti->h, ti->w, ti->c,
				o->cout, o->k, o->stride, o->pad);
			break;
		case OP_DW:
			(set ? rml_dwconv2d_backward_set : rml_dwconv2d_backward)(
				gin, pg0, pg1, dy, ti->data, P(m, o->p[0]), n, ti->h, ti->w, ti->c, o->k,
				o->stride, o->pad);
			break;
		case OP_BN:
			if (eval)
				rml_bn_backward_eval(gin, pg0, pg1, dy, ti->data, P(m, o->p[0]),
						     B(m, o->buf[0]), B(m, o->buf[1]), rows, ti->c, BN_EPS);
			else
				(set ? rml_bn_backward_train_set : rml_bn_backward_train)(
					gin, pg0, pg1, dy, ti->data, m->t[o->save[0]].data,
					m->t[o->save[1]].data, P(m, o->p[0]), rows, ti->c);
			break;
		case OP_BN_SILU:
			if (eval)
				rml_bn_silu_backward_eval(gin, pg0, pg1, dy, ti->data, P(m, o->p[0]),
							  P(m, o->p[1]), B(m, o->buf[0]), B(m, o->buf[1]),
							  rows, ti->c, BN_EPS);
			else
				(set ? rml_bn_silu_backward_train_set : rml_bn_silu_backward_train)(
					gin, pg0, pg1, dy, ti->data, m->t[o->save[0]].data,
					m->t[o->save[1]].data, P(m, o->p[0]), P(m, o->p[1]), rows, ti->c);
			break;
		case OP_SILU:
			if (gin)
				(set ? rml_silu_backward_set : rml_silu_backward)(gin, dy, ti->data,
										  rows * ti->c);
			break;
		case OP_ADD:
			rml_add_backward_set(gin, set, gin2, set2, dy, rows * ti->c);
			break;
		case OP_CONCAT:
			rml_concat_backward_set(gin, set, gin2, set2, dy, rows, ti->c, m->t[o->in2].c);
			break;
		case OP_UNFOLD:
			if (gin)
				(set ? rml_unfold_backward_set : rml_unfold_backward)(gin, dy, n, ti->h,
										      ti->w, ti->c);
			break;
		case OP_FOLD:
			if (gin)
				(set ? rml_fold_backward_set : rml_fold_backward)(gin, dy, n, to->h,
										  to->w, to->c);
			break;
		case OP_LN:
			(set ? rml_layernorm_backward_set : rml_layernorm_backward)(
				gin, pg0, pg1, dy, ti->data, m->t[o->save[0]].data,
				m->t[o->save[1]].data, P(m, o->p[0]), rows, ti->c);
			break;
		case OP_LINEAR:
			(set ? rml_linear_backward_set : rml_linear_backward)(
				gin, pg0, pg1, dy, ti->data, P(m, o->p[0]), rows, ti->c, o->cout);
			break;
		case OP_ATTN:
			if (gin)
				(set ? rml_attention_backward_set : rml_attention_backward)(
					gin, m->ws, dy, ti->data, m->t[o->save[0]].data, n * 4, o->k,
					to->c, o->heads);
			break;
		case OP_GAP:
			if (gin)
				rml_gap_backward(gin, dy, n, ti->h * ti->w, ti->c);
			break;
		case OP_CHSCALE:
			rml_chscale_backward(gin, pg0, dy, ti->data, P(m, o->p[0]), rows, ti->c);
			break;
		default:
			break;
		}
		if (m->profile)
		{
			m->prof_time[o->kind][1] += rml_now() - t0;
			m->prof_calls[o->kind][1]++;
		}
	}
	return RML_OK;
}

int rml_model_backward_ops_run(const rml_model *m)
{
	int k = 0;
	for (int i = 0; i < m->n_ops; i++)
		k += m->ops[i].run;
	return k;
}

int rml_model_n_ops(const rml_model *m)
{
	return m->n_ops;
}

void rml_model_arena_bytes(const rml_model *m, int64_t *activations, int64_t *gradients)
{
	*activations = m->arena_floats * (int64_t)sizeof(float);
	*gradients = m->garena_floats * (int64_t)sizeof(float);
}

void rml_model_profile_report(const rml_model *m, char *buf, size_t size)
{
	if (!size)
		return;
	buf[0] = 0;
	double total = 0, tf = 0, tb = 0;
	for (int k = 0; k < OP_COUNT; k++) {
		tf += m->prof_time[k][0];
		tb += m->prof_time[k][1];
	}
	total = tf + tb;
	size_t at = 0;
	int w;
	if (!m->profile) {
		snprintf(buf, size, "no profile: set RML_PROFILE=1 before the model is made\n");
		return;
	}
	w = snprintf(buf, size, "%-11s %9s %10s %9s %10s %6s\n", "operation", "fwd calls", "forward s",
		     "bwd calls", "backward s", "share");
	at = w > 0 ? (size_t)w : 0;
	for (int k = 0; k < OP_COUNT && at < size; k++) {
		double t = m->prof_time[k][0] + m->prof_time[k][1];
		if (!m->prof_calls[k][0] && !m->prof_calls[k][1])
			continue;
		w = snprintf(buf + at, size - at, "%-11s %9lld %10.4f %9lld %10.4f %5.1f%%\n", op_names[k],
			     (long long)m->prof_calls[k][0], m->prof_time[k][0],
			     (long long)m->prof_calls[k][1], m->prof_time[k][1],
			     total > 0 ? 100 * t / total : 0.0);
		at += w > 0 ? (size_t)w : 0;
	}
	if (at < size)
		snprintf(buf + at, size - at, "%-11s %9s %10.4f %9s %10.4f\n", "total", "", tf, "", tb);
}
