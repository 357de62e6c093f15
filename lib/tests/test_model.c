/*
 * test_model.c — the whole network (model.h, model.c): mvit-tiny with
 * adapters against an independent PyTorch implementation
 * (testdata/ref/model.rml, made by scripts/ref_model.py) in both
 * batch-norm modes; finite differences of the whole model; the size of
 * mvit-xxs; adapters that start as the identity; parameter groups, frozen
 * gradients and the early end of backward; faulty models against
 * PyTorch in float32 (testdata/ref/faults.rml, scripts/ref_faults.py:
 * non-finite rows and top-1 image by image, both batch-norm modes); files
 * and adapter binding; and
 * one test per architecture error.
 *
 * Tolerances, stated once:
 *   against PyTorch  |a - b| <= 1e-4 * max|b| + f * G per tensor
 *                    (max|b| over the reference tensor; for parameter
 *                    gradients G is the largest gradient of the model and
 *                    f = 1e-7 in evaluation mode, 1e-6 with batch
 *                    statistics: the float32 rounding floor, see
 *                    compare(); G = 0 otherwise); PyTorch ran in float64;
 *   finite differences (float32, central, step 1e-2 * max(0.1, |w|) for a
 *                    weight, 2 pixel units for an input)
 *                    |fd - g| / max(floor, |fd| + |g|) <= 5e-2 with floor
 *                    2e-2 for weights and 2e-3 for pixels.
 * Not here: the kernels one by one (test_kernels.c).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fixtures.h"
#include "format.h"
#include "kernels.h"
#include "model.h"
#include "model_internal.h"

static rml_file ref;

static int setup(void **state)
{
	(void)state;
	return rml_fx_load_file(&ref, "ref/model.rml", NULL);
}

static int teardown(void **state)
{
	(void)state;
	rml_file_free(&ref);
	return 0;
}

/* Two threads where the work is large enough to be split; one thread for
 * the hundreds of tiny passes of the finite differences, which on a busy
 * machine would otherwise spend their time in OpenMP barriers. */
static int threads2(void **state)
{
	(void)state;
	rml_set_threads(2);
	return 0;
}

static int threads1(void **state)
{
	(void)state;
	rml_set_threads(1);
	return 0;
}

/* ---- against PyTorch ---------------------------------------------------- */

/* Compare a with reference tensor `name`: fail unless every element obeys
 *     |a - b| <= 1e-4 * max|b| + floor,
 * max|b| over the tensor, floor = 1e-7 (evaluation mode) or 1e-6
 * (training mode) times the largest gradient anywhere in the model,
 * gscale, passed as 0 for logits, losses and statistics. The floor is
 * float32 rounding at the scale of the model's gradients: some gradients
 * are sums that cancel almost exactly (with batch statistics, a bias in
 * front of batch norm has a gradient of zero in theory: PyTorch in
 * float64 gets 1e-17, float32 about 1e-7 of gscale), and no float32
 * engine does better there, while a wrong gradient is off by the size of
 * the tensor itself. Returns the
 * relative difference (|a - b| / max|b|) when the tensor is well above
 * that floor (max|b| >= 1e-3 * gscale), else 0. */
static double compare(const char *what, const float *a, const char *name, double gscale)
{
	rml_tensor *t = rml_find_tensor(&ref, name);
	if (!t)
		fail_msg("reference %s missing", name);
	const float *b = t->data;
	int64_t n = rml_tensor_numel(t);
	double scale = 0, worst = 0;
	for (int64_t i = 0; i < n; i++)
		scale = fmax(scale, fabs((double)b[i]));
	double tol = 1e-4 * scale + gscale;
	for (int64_t i = 0; i < n; i++)
		worst = fmax(worst, fabs((double)a[i] - b[i]));
	if (!(worst <= tol))
		fail_msg("%s: differs from PyTorch by %.3g, tolerance %.3g (largest |ref| %.3g)", what,
			 worst, tol, scale);
	return scale >= 1e3 * gscale && scale > 0 ? worst / scale : 0;
}

static void load_ref_weights(rml_model *m)
{
	int64_t n;
	rml_param *p = rml_model_params(m, &n);
	char name[300];
	for (int64_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "param.%s", p[i].name);
		rml_tensor *t = rml_find_tensor(&ref, name);
		if (!t || rml_tensor_numel(t) != p[i].numel)
			fail_msg("reference weight %s missing or of another size", name);
		memcpy(p[i].data, t->data, (size_t)p[i].numel * sizeof(float));
	}
	p = rml_model_buffers(m, &n);
	for (int64_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "param.%s", p[i].name);
		rml_tensor *t = rml_find_tensor(&ref, name);
		if (!t || rml_tensor_numel(t) != p[i].numel)
			fail_msg("reference buffer %s missing or of another size", name);
		memcpy(p[i].data, t->data, (size_t)p[i].numel * sizeof(float));
	}
}

static void run_vs_torch(rml_mode mode, const char *tag)
{
	rml_model *m = rml_fx_tiny(10, 2, 1);
	load_ref_weights(m);
	rml_error err = { 0 };
	assert_int_equal(rml_model_reserve(m, 3, 1, &err), RML_OK);
	rml_model_set_trainable(m, RML_GROUPS_ALL);
	rml_model_zero_grad(m);
	const float *x = rml_find_tensor(&ref, "input")->data;
	const int32_t *labels = rml_find_tensor(&ref, "labels")->data;
	float *logits, probs[30], dl[30] = { 0 }, dx[3 * 32 * 32 * 3] = { 0 };
	assert_int_equal(rml_model_forward(m, x, 3, mode, &logits, &err), RML_OK);
	char name[300];
	double worst_logit, worst_grad = 0, worst_dx, worst_buf = 0;
	snprintf(name, sizeof name, "%s.logits", tag);
	worst_logit = compare("logits", logits, name, 0);
	float loss = rml_xent_forward(probs, logits, labels, 3, 10, 0.1f);
	snprintf(name, sizeof name, "%s.loss", tag);
	compare("loss", &loss, name, 0);
	rml_xent_backward(dl, probs, labels, 3, 10, 0.1f, 1.0f);
	assert_int_equal(rml_model_backward(m, dl, dx, &err), RML_OK);
	snprintf(name, sizeof name, "%s.dx", tag);
	worst_dx = compare("input gradient", dx, name, 0);
	int64_t n;
	rml_param *p = rml_model_params(m, &n);
	double gscale = 0;
	for (int64_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s.grad.%s", tag, p[i].name);
		rml_tensor *t = rml_find_tensor(&ref, name);
		assert_non_null(t);
		for (int64_t j = 0; j < rml_tensor_numel(t); j++)
			gscale = fmax(gscale, fabs((double)((const float *)t->data)[j]));
	}
	int adapter_grads = 0;
	for (int64_t i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s.grad.%s", tag, p[i].name);
		worst_grad = fmax(worst_grad, compare(p[i].name, p[i].grad, name,
						      gscale * (mode == RML_MODE_TRAIN ? 1e-6 : 1e-7)));
		adapter_grads += p[i].group == RML_GROUP_OMEGA || p[i].group == RML_GROUP_PHI;
	}
	assert_int_equal(adapter_grads, 3 * 6 + 1);  /* three units and the scale */
	if (mode == RML_MODE_TRAIN) {
		p = rml_model_buffers(m, &n);
		for (int64_t i = 0; i < n; i++) {
			snprintf(name, sizeof name, "train.after.%s", p[i].name);
			worst_buf = fmax(worst_buf, compare(p[i].name, p[i].data, name, 0));
		}
	}
	print_message("%s vs PyTorch: logits %.2g, input gradient %.2g, parameter gradients %.2g, "
		      "running statistics %.2g (relative)\n", tag, worst_logit, worst_dx, worst_grad,
		      worst_buf);
	rml_model_free(m);
}

static void test_vs_torch_eval(void **state)
{
	(void)state;
	run_vs_torch(RML_MODE_EVAL, "eval");
}

static void test_vs_torch_train(void **state)
{
	(void)state;
	run_vs_torch(RML_MODE_TRAIN, "train");
}

/* ---- faulty models against PyTorch in float32 --------------------------------
 * testdata/ref/faults.rml (scripts/ref_faults.py): fault cases on the
 * mvit-tiny weights, PyTorch's float32 logits of 8 images in both
 * batch-norm modes. The float32 rule of kernels.h holds when every image
 * is non-finite exactly where PyTorch's is and has the same top-1
 * elsewhere (an image whose two best PyTorch logits are within 1e-4 of
 * the largest |logit| is a tie, and its top-1 is not compared). */

static int row_is_finite(const float *l, int64_t k)
{
	for (int64_t j = 0; j < k; j++)
		if (!isfinite(l[j]))
			return 0;
	return 1;
}

static void test_faults_vs_torch(void **state)
{
	(void)state;
	char path[512];
	rml_fx_path(path, sizeof path, "ref/faults.rml");
	rml_file fr;
	rml_file_init(&fr);
	rml_error err = { 0 };
	if (rml_file_load(&fr, path, &err))
		fail_msg("%s", err.msg);
	int64_t n_cases = 0;
	assert_int_equal(rml_get_i64(&fr, "cases", &n_cases, &err), RML_OK);
	const rml_tensor *xt = rml_find_tensor(&fr, "input");
	assert_non_null(xt);
	const int64_t n_img = xt->dims[0], k = 10;
	int64_t compared = 0, nonfinite = 0, ties = 0;
	for (int64_t c = 0; c < n_cases; c++) {
		for (int mode = 0; mode < 2; mode++) {
			rml_model *m = rml_fx_tiny(10, 2, 1);
			int64_t np;
			rml_param *p = rml_model_params(m, &np);
			char name[300];
			for (int pass = 0; pass < 2; pass++) {
				if (pass)
					p = rml_model_buffers(m, &np);
				for (int64_t i = 0; i < np; i++) {
					snprintf(name, sizeof name, "param.%s", p[i].name);
					rml_tensor *t = rml_find_tensor(&fr, name);
					if (!t || rml_tensor_numel(t) != p[i].numel)
						fail_msg("reference weight %s missing or of another size", name);
					memcpy(p[i].data, t->data, (size_t)p[i].numel * sizeof(float));
				}
			}
			/* The faults: tensor names, flat indices, new values. */
			snprintf(name, sizeof name, "case.%lld.tensors", (long long)c);
			const rml_kv *kv = rml_get(&fr, name);
			assert_true(kv && kv->type == RML_KV_STR_ARRAY);
			char **names = kv->sa;
			int64_t nf = kv->n;
			snprintf(name, sizeof name, "case.%lld.index", (long long)c);
			const int32_t *idx = rml_find_tensor(&fr, name)->data;
			snprintf(name, sizeof name, "case.%lld.value", (long long)c);
			const float *val = rml_find_tensor(&fr, name)->data;
			p = rml_model_params(m, &np);
			for (int64_t f = 0; f < nf; f++) {
				int64_t i = 0;
				while (i < np && strcmp(p[i].name, names[f]) != 0)
					i++;
				if (i == np || idx[f] >= p[i].numel)
					fail_msg("case %lld: no weight %s[%d]", (long long)c, names[f], idx[f]);
				p[i].data[idx[f]] = val[f];
			}
			assert_int_equal(rml_model_reserve(m, n_img, 1, &err), RML_OK);
			float *logits;
			assert_int_equal(rml_model_forward(m, xt->data, n_img,
							   mode ? RML_MODE_TRAIN : RML_MODE_EVAL, &logits, &err),
					 RML_OK);
			snprintf(name, sizeof name, "case.%lld.%s.logits", (long long)c,
				 mode ? "train" : "eval");
			const float *ref_l = rml_find_tensor(&fr, name)->data;
			for (int64_t r = 0; r < n_img; r++) {
				const float *a = logits + r * k, *b = ref_l + r * k;
				int fa = row_is_finite(a, k), fb = row_is_finite(b, k);
				if (fa != fb)
					fail_msg("case %lld, %s mode, image %lld: PyTorch's logits are %s, "
						 "the engine's %s", (long long)c, mode ? "train" : "eval",
						 (long long)r, fb ? "finite" : "not finite",
						 fa ? "finite" : "not finite");
				if (!fb) {
					nonfinite++;
					continue;
				}
				int64_t ta = 0, tb = 0, second = -1;
				double big = 0;
				for (int64_t j = 1; j < k; j++) {
					if (a[j] > a[ta])
						ta = j;
					if (b[j] > b[tb])
						tb = j;
				}
				for (int64_t j = 0; j < k; j++) {
					big = fmax(big, fabs((double)b[j]));
					if (j != tb && (second < 0 || b[j] > b[second]))
						second = j;
				}
				if ((double)b[tb] - b[second] <= 1e-4 * big) {
					ties++;
					continue;
				}
				if (ta != tb)
					fail_msg("case %lld, %s mode, image %lld: top-1 %lld, PyTorch %lld",
						 (long long)c, mode ? "train" : "eval", (long long)r,
						 (long long)ta, (long long)tb);
				compared++;
			}
			rml_model_free(m);
		}
	}
	print_message("faulty models vs PyTorch float32: %lld cases x 2 modes x %lld images: "
		      "%lld non-finite in both, %lld same top-1, %lld ties not compared\n",
		      (long long)n_cases, (long long)n_img, (long long)nonfinite, (long long)compared,
		      (long long)ties);
	assert_true(nonfinite > 0 && compared > 0);
	rml_file_free(&fr);
}

/* ---- finite differences ---------------------------------------------------- */

/* Sum of logits weighted by fixed numbers: a smooth test loss. */
static double weighted(const float *logits, int64_t n)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += (double)logits[i] * ((double)(i % 7) - 3) / 3;
	return s;
}

static void run_finite_differences(rml_mode mode)
{
	rml_model *m = rml_fx_tiny(10, 2, 5);
	rml_error err = { 0 };
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	/* Move the adapter scale off zero so adapter gradients are real. */
	for (int64_t i = 0; i < np; i++)
		if (strstr(p[i].name, "adapter.scale"))
			for (int64_t j = 0; j < p[i].numel; j++)
				p[i].data[j] = 0.5f;
	assert_int_equal(rml_model_reserve(m, 2, 1, &err), RML_OK);
	rml_model_set_trainable(m, RML_GROUPS_ALL);
	rml_model_zero_grad(m);
	rml_rng r;
	rml_rng_seed(&r, 9);
	float x[2 * 3072], dx[2 * 3072] = { 0 }, dl[20], *logits;
	rml_fx_pixels(x, 2 * 3072, 9);
	for (int i = 0; i < 20; i++)
		dl[i] = (float)(((double)(i % 7) - 3) / 3);
	assert_int_equal(rml_model_forward(m, x, 2, mode, &logits, &err), RML_OK);
	assert_int_equal(rml_model_backward(m, dl, dx, &err), RML_OK);
	/* Training mode updates the running statistics at every pass, which
	 * must not move the loss: batch statistics are what it uses. */
	double worst_w = 0, worst_x = 0;
	/* Two entries of every parameter tensor. */
	for (int64_t i = 0; i < np; i++)
		for (int t = 0; t < 2; t++) {
			int64_t j = (int64_t)rml_rng_below(&r, (uint64_t)p[i].numel);
			float old = p[i].data[j];
			double h = 1e-2 * fmax(0.1, fabs(old));
			p[i].data[j] = (float)(old + h);
			rml_model_forward(m, x, 2, mode, &logits, &err);
			double lp = weighted(logits, 20);
			p[i].data[j] = (float)(old - h);
			rml_model_forward(m, x, 2, mode, &logits, &err);
			double lm = weighted(logits, 20);
			p[i].data[j] = old;
			/* The step actually taken, as float rounding left it. */
			double fd = (lp - lm) / ((double)(float)(old + h) - (double)(float)(old - h));
			double e = fabs(fd - p[i].grad[j]) / fmax(2e-2, fabs(fd) + fabs(p[i].grad[j]));
			if (e > 5e-2)
				print_message("%s[%lld]: fd %.6g analytic %.6g\n", p[i].name, (long long)j,
					      fd, (double)p[i].grad[j]);
			worst_w = fmax(worst_w, e);
		}
	/* And input pixels (in pixel units). */
	for (int t = 0; t < 24; t++) {
		int j = (int)rml_rng_below(&r, 2 * 3072);
		float old = x[j];
		x[j] = old + 2;
		rml_model_forward(m, x, 2, mode, &logits, &err);
		double lp = weighted(logits, 20);
		x[j] = old - 2;
		rml_model_forward(m, x, 2, mode, &logits, &err);
		double lm = weighted(logits, 20);
		x[j] = old;
		double fd = (lp - lm) / 4;
		worst_x = fmax(worst_x, fabs(fd - dx[j]) / fmax(2e-3, fabs(fd) + fabs(dx[j])));
	}
	print_message("%s mode: finite differences, worst relative error %.3g (weights, 2 per "
		      "tensor of %lld), %.3g (24 pixels)\n", mode == RML_MODE_TRAIN ? "train" : "eval",
		      worst_w, (long long)np, worst_x);
	assert_true(worst_w <= 5e-2);
	assert_true(worst_x <= 5e-2);
	rml_model_free(m);
}

static void test_fd_eval(void **state)
{
	(void)state;
	run_finite_differences(RML_MODE_EVAL);
}

static void test_fd_train(void **state)
{
	(void)state;
	run_finite_differences(RML_MODE_TRAIN);
}

/* ---- sizes ------------------------------------------------------------------ */

static void test_mvit_xxs_size(void **state)
{
	(void)state;
	rml_model *m;
	rml_model_config c = { "mvit-xxs", 10, 0, 1 };
	assert_int_equal(rml_model_create(&m, &c, NULL), RML_OK);
	/* The same counts come from scripts/torch_mvit.py (parameters of the
	 * torch module; multiply-adds of its convolutions, linear layers and
	 * the two attention products). DESIGN's "49 MFLOP" counts a
	 * multiply-add as two operations. */
	int64_t n = rml_model_n_params(m, RML_GROUPS_ALL);
	double macs = rml_model_flops(m);
	print_message("mvit-xxs, 10 classes: %lld parameters, %.0f multiply-adds (%.2f MFLOP) "
		      "per image\n", (long long)n, macs, 2 * macs / 1e6);
	assert_int_equal(n, 954234);
	assert_true(macs == 24520320.0);
	assert_int_equal(rml_model_n_params(m, RML_GROUP_BIT(RML_GROUP_W)), 320 * 10 + 10);
	int h, w, ch;
	rml_model_input_shape(m, &h, &w, &ch);
	assert_true(h == 32 && w == 32 && ch == 3);
	float x[2 * 3072], *logits;
	rml_fx_pixels(x, 2 * 3072, 3);
	assert_int_equal(rml_model_reserve(m, 2, 0, NULL), RML_OK);
	assert_int_equal(rml_model_forward(m, x, 2, RML_MODE_EVAL, &logits, NULL), RML_OK);
	for (int i = 0; i < 20; i++)
		assert_true(isfinite(logits[i]));
	/* With adapters of compression 4: the adapter groups are small. */
	assert_int_equal(rml_model_add_adapters(m, 4, 1, NULL), RML_OK);
	int64_t omega = rml_model_n_params(m, RML_GROUP_BIT(RML_GROUP_OMEGA));
	int64_t phi = rml_model_n_params(m, RML_GROUP_BIT(RML_GROUP_PHI));
	print_message("mvit-xxs adapters (compression 4): omega %lld, phi %lld parameters\n",
		      (long long)omega, (long long)phi);
	/* Per block of C channels and r = C/4: a unit has C*r + r + 9r + r +
	 * r*C + C parameters; phi adds the scale (C). */
	int64_t want_o = 0, want_p = 0;
	const int cs[3] = { 48, 64, 80 };
	for (int i = 0; i < 3; i++) {
		int64_t C = cs[i], r = C / 4, unit = 2 * C * r + 11 * r + C;
		want_o += 2 * unit;
		want_p += unit + C;
	}
	assert_int_equal(omega, want_o);
	assert_int_equal(phi, want_p);
	rml_model_free(m);
}

/* ---- adapters ------------------------------------------------------------------- */

static void test_adapters_start_as_identity(void **state)
{
	(void)state;
	rml_model *a = rml_fx_tiny(10, 0, 4), *b = rml_fx_tiny(10, 4, 4);
	rml_error err = { 0 };
	assert_int_equal(rml_model_reserve(a, 4, 0, &err), RML_OK);
	assert_int_equal(rml_model_reserve(b, 4, 0, &err), RML_OK);
	float x[4 * 3072], *la, *lb, keep[40];
	rml_fx_pixels(x, 4 * 3072, 2);
	for (int mode = 0; mode < 2; mode++) {
		rml_model_forward(a, x, 4, (rml_mode)mode, &la, &err);
		memcpy(keep, la, sizeof keep);
		rml_model_forward(b, x, 4, (rml_mode)mode, &lb, &err);
		assert_memory_equal(keep, lb, sizeof keep);
	}
	/* Adding adapters later keeps the function too, and the base hash. */
	char h1[65], h2[65];
	rml_model_base_hash(a, h1);
	assert_int_equal(rml_model_add_adapters(a, 2, 9, &err), RML_OK);
	assert_true(rml_model_has_adapters(a));
	rml_model_base_hash(a, h2);
	assert_string_equal(h1, h2);
	rml_model_forward(a, x, 4, RML_MODE_EVAL, &la, &err);
	rml_model_forward(b, x, 4, RML_MODE_EVAL, &lb, &err);
	assert_memory_equal(la, lb, sizeof keep);
	assert_int_equal(rml_model_add_adapters(a, 2, 9, &err), RML_ERR_ARG);
	/* Once the scale moves, the adapters change the function. */
	int64_t np;
	rml_param *p = rml_model_params(b, &np);
	for (int64_t i = 0; i < np; i++)
		if (strstr(p[i].name, "adapter.scale"))
			p[i].data[0] = 0.5f;
	memcpy(keep, lb, sizeof keep);
	rml_model_forward(b, x, 4, RML_MODE_EVAL, &lb, &err);
	assert_memory_not_equal(keep, lb, sizeof keep);
	rml_model_free(a);
	rml_model_free(b);
}

/* ---- groups, freezing, early end of backward ------------------------------------ */

static int run_backward(rml_model *m, unsigned groups, float *dx)
{
	rml_error err = { 0 };
	float x[2 * 3072], dl[20], *logits;
	rml_fx_pixels(x, 2 * 3072, 11);
	for (int i = 0; i < 20; i++)
		dl[i] = 0.1f * (float)(i % 3) - 0.1f;
	rml_model_set_trainable(m, groups);
	assert_int_equal(rml_model_forward(m, x, 2, RML_MODE_EVAL, &logits, &err), RML_OK);
	assert_int_equal(rml_model_backward(m, dl, dx, &err), RML_OK);
	return rml_model_backward_ops_run(m);
}

static void test_groups_and_early_stop(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 2, 6);
	rml_error err = { 0 };
	assert_int_equal(rml_model_reserve(m, 2, 1, &err), RML_OK);
	int64_t off, cnt, total = rml_model_n_params(m, RML_GROUPS_ALL);
	/* Groups are contiguous and in order, and names say where they are. */
	int64_t expect = 0;
	for (int g = 0; g < RML_GROUP_COUNT; g++) {
		rml_model_group_range(m, (rml_group)g, &off, &cnt);
		assert_int_equal(off, expect);
		assert_true(cnt > 0);
		expect += cnt;
	}
	assert_int_equal(expect, total);
	int64_t np;
	rml_param *p = rml_model_params(m, &np);
	for (int64_t i = 0; i < np; i++) {
		if (i)
			assert_true(p[i].offset == p[i - 1].offset + p[i - 1].numel);
		if (p[i].group == RML_GROUP_OMEGA)
			assert_true(strstr(p[i].name, ".adapter.u1.") || strstr(p[i].name, ".adapter.u2."));
		if (p[i].group == RML_GROUP_PHI)
			assert_true(strstr(p[i].name, ".adapter.u3.") || strstr(p[i].name, ".adapter.scale"));
	}
	float *grad = rml_model_grad_block(m);
	for (int64_t i = 0; i < total; i++)
		grad[i] = 7;  /* marker: frozen groups must keep it */
	unsigned phi_w = RML_GROUP_BIT(RML_GROUP_PHI) | RML_GROUP_BIT(RML_GROUP_W);
	rml_model_set_trainable(m, phi_w);
	rml_model_zero_grad(m);
	int ops_phi = run_backward(m, phi_w, NULL);
	for (int g = 0; g < RML_GROUP_COUNT; g++) {
		rml_model_group_range(m, (rml_group)g, &off, &cnt);
		int frozen = !(phi_w & RML_GROUP_BIT(g)), changed = 0;
		for (int64_t i = off; i < off + cnt; i++)
			changed += grad[i] != 7;
		if (frozen)
			assert_int_equal(changed, 0);
		else
			assert_true(changed > cnt / 2);
	}
	/* How deep backward goes: the head alone is one operation; phi
	 * stops at the adapter's last unit, omega at its first, theta (or
	 * an input gradient) runs everything but the input normalisation
	 * (which runs only for dx). */
	int n_ops = rml_model_n_ops(m);
	int ops_w = run_backward(m, RML_GROUP_BIT(RML_GROUP_W), NULL);
	int ops_omega = run_backward(m, RML_GROUP_BIT(RML_GROUP_OMEGA), NULL);
	int ops_theta = run_backward(m, RML_GROUP_BIT(RML_GROUP_THETA), NULL);
	float dx[2 * 3072] = { 0 };
	int ops_dx = run_backward(m, 0, dx);
	int ops_none = run_backward(m, 0, NULL);
	print_message("backward operations run (of %d): W %d, phi+W %d, omega %d, theta %d, "
		      "input gradient %d, nothing %d\n", n_ops, ops_w, ops_phi, ops_omega, ops_theta,
		      ops_dx, ops_none);
	assert_int_equal(ops_w, 1);
	assert_true(ops_w < ops_phi && ops_phi < ops_omega && ops_omega < ops_theta);
	assert_true(ops_phi < n_ops / 2);
	/* phi ends at the adapter: from its third unit (5 ops) and the scale,
	 * and everything after the block; omega adds the two first units. */
	assert_int_equal(ops_omega - ops_phi, 10);
	assert_int_equal(ops_theta, n_ops - 1);
	assert_int_equal(ops_dx, n_ops);
	assert_int_equal(ops_none, 0);
	rml_model_free(m);
}

static void test_backward_misuse(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 0, 6);
	rml_error err = { 0 };
	float dl[10] = { 0 }, x[3072] = { 0 }, *logits;
	/* Reserved without gradients. */
	assert_int_equal(rml_model_reserve(m, 1, 0, &err), RML_OK);
	rml_model_forward(m, x, 1, RML_MODE_EVAL, &logits, &err);
	assert_int_equal(rml_model_backward(m, dl, NULL, &err), RML_ERR_ARG);
	/* A new reservation forgets what the last forward saved. */
	assert_int_equal(rml_model_reserve(m, 2, 1, &err), RML_OK);
	assert_int_equal(rml_model_backward(m, dl, NULL, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "forward"));
	/* Batches beyond the reservation, and unknown modes. */
	assert_int_equal(rml_model_forward(m, x, 3, RML_MODE_EVAL, &logits, &err), RML_ERR_ARG);
	assert_int_equal(rml_model_forward(m, x, 0, RML_MODE_EVAL, &logits, &err), RML_ERR_ARG);
	assert_int_equal(rml_model_forward(m, x, 1, (rml_mode)7, &logits, &err), RML_ERR_ARG);
	assert_int_equal(rml_model_reserve(m, 0, 0, &err), RML_ERR_ARG);
	assert_int_equal(rml_model_reserve(m, INT64_C(1) << 50, 0, &err), RML_ERR_LIMIT);
	rml_model_free(m);
}

static void test_determinism(void **state)
{
	(void)state;
	rml_model *a = rml_fx_tiny(10, 2, 3), *b = rml_fx_tiny(10, 2, 3);
	int64_t n = rml_model_n_params(a, RML_GROUPS_ALL);
	assert_memory_equal(rml_model_param_block(a), rml_model_param_block(b), (size_t)n * 4);
	rml_model *c = rml_fx_tiny(10, 2, 4);
	assert_memory_not_equal(rml_model_param_block(a), rml_model_param_block(c), (size_t)n * 4);
	rml_model_free(c);
	/* Same inputs, same thread count: the same logits and gradients, bit
	 * for bit, in training mode with batch statistics. */
	float x[4 * 3072], dl[40], keep[40], *la, *lb;
	rml_fx_pixels(x, 4 * 3072, 5);
	for (int i = 0; i < 40; i++)
		dl[i] = (float)(i % 5) * 0.1f - 0.2f;
	rml_model *v[2] = { a, b };
	for (int k = 0; k < 2; k++) {
		assert_int_equal(rml_model_reserve(v[k], 4, 1, NULL), RML_OK);
		rml_model_set_trainable(v[k], RML_GROUPS_ALL);
		rml_model_zero_grad(v[k]);
	}
	rml_model_forward(a, x, 4, RML_MODE_TRAIN, &la, NULL);
	memcpy(keep, la, sizeof keep);
	rml_model_backward(a, dl, NULL, NULL);
	rml_model_forward(b, x, 4, RML_MODE_TRAIN, &lb, NULL);
	rml_model_backward(b, dl, NULL, NULL);
	assert_memory_equal(keep, lb, sizeof keep);
	assert_memory_equal(rml_model_grad_block(a), rml_model_grad_block(b), (size_t)n * 4);
	int64_t nb;
	rml_param *ba = rml_model_buffers(a, &nb), *bb = rml_model_buffers(b, &nb);
	for (int64_t i = 0; i < nb; i++)
		assert_memory_equal(ba[i].data, bb[i].data, (size_t)ba[i].numel * 4);
	rml_model_free(a);
	rml_model_free(b);
}

/* A training step at 1 and at 2 threads: the same logits, parameter and
 * input gradients, bit for bit. At batch 12 the 16x16 maps have 3,072
 * rows, so the 1x1 convolutions there and their batch norms run backward
 * in one kernel over two segments of rows (the 8x8 ones, in one segment,
 * one after the other). */
static void test_threads_train(void **state)
{
	(void)state;
	enum { N = 12 };
	rml_model *a = rml_fx_tiny(10, 0, 8);
	int64_t np = rml_model_n_params(a, RML_GROUPS_ALL);
	assert_int_equal(rml_model_reserve(a, N, 1, NULL), RML_OK);
	rml_model_set_trainable(a, RML_GROUPS_ALL);
	static float x[N * 3072], dx[2][N * 3072];
	float dl[N * 10], logits[2][N * 10], *l;
	float *g[2];
	rml_fx_pixels(x, N * 3072, 9);
	for (int i = 0; i < N * 10; i++)
		dl[i] = (float)(i % 7) * 0.05f - 0.15f;
	for (int t = 0; t < 2; t++) {
		rml_set_threads(t + 1);
		rml_model_zero_grad(a);
		memset(dx[t], 0, sizeof dx[t]);
		assert_int_equal(rml_model_forward(a, x, N, RML_MODE_TRAIN, &l, NULL), RML_OK);
		memcpy(logits[t], l, sizeof logits[t]);
		assert_int_equal(rml_model_backward(a, dl, dx[t], NULL), RML_OK);
		assert_int_equal(rml_model_backward_ops_run(a), rml_model_n_ops(a));
		g[t] = malloc((size_t)np * sizeof(float));
		assert_non_null(g[t]);
		memcpy(g[t], rml_model_grad_block(a), (size_t)np * sizeof(float));
	}
	assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
	assert_memory_equal(g[0], g[1], (size_t)np * sizeof(float));
	assert_memory_equal(dx[0], dx[1], sizeof dx[0]);
	free(g[0]);
	free(g[1]);
	rml_model_free(a);
	rml_set_threads(2);
}

/* Without gradients, activations share memory where their lifetimes
 * allow; the results must not change by a bit, in either mode. */
static void test_shared_arena(void **state)
{
	(void)state;
	rml_model *a = rml_fx_tiny(10, 2, 14), *b = rml_fx_tiny(10, 2, 14);
	int64_t np;
	rml_param *p = rml_model_params(a, &np), *q = rml_model_params(b, &np);
	for (int64_t i = 0; i < np; i++)
		if (strstr(p[i].name, "adapter.scale"))
			for (int64_t j = 0; j < p[i].numel; j++)
				p[i].data[j] = q[i].data[j] = 0.3f;
	assert_int_equal(rml_model_reserve(a, 3, 0, NULL), RML_OK);
	assert_int_equal(rml_model_reserve(b, 3, 1, NULL), RML_OK);
	int64_t act_a, grad_a, act_b, grad_b;
	rml_model_arena_bytes(a, &act_a, &grad_a);
	rml_model_arena_bytes(b, &act_b, &grad_b);
	print_message("mvit-tiny at batch 3: activations %lld bytes shared, %lld with gradients "
		      "(gradients %lld)\n", (long long)act_a, (long long)act_b, (long long)grad_b);
	assert_int_equal(grad_a, 0);
	assert_true(act_a * 4 < act_b);
	assert_true(grad_b < act_b);
	float x[3 * 3072], keep[30], *la, *lb;
	rml_fx_pixels(x, 3 * 3072, 17);
	for (int mode = 0; mode < 2; mode++)
		for (int n = 1; n <= 3; n += 2) {
			rml_model_forward(a, x, n, (rml_mode)mode, &la, NULL);
			memcpy(keep, la, (size_t)n * 10 * sizeof(float));
			rml_model_forward(b, x, n, (rml_mode)mode, &lb, NULL);
			assert_memory_equal(keep, lb, (size_t)n * 10 * sizeof(float));
		}
	int64_t nb;
	rml_param *ba = rml_model_buffers(a, &nb), *bb = rml_model_buffers(b, &nb);
	for (int64_t i = 0; i < nb; i++)
		assert_memory_equal(ba[i].data, bb[i].data, (size_t)ba[i].numel * 4);
	/* Asking for gradients later gives each tensor its own memory again. */
	assert_int_equal(rml_model_reserve(a, 3, 1, NULL), RML_OK);
	rml_model_arena_bytes(a, &act_a, &grad_a);
	assert_int_equal(act_a, act_b);
	assert_int_equal(grad_a, grad_b);
	rml_model_free(a);
	rml_model_free(b);
}

static void test_nan_weight(void **state)
{
	(void)state;
	rml_model *a = rml_fx_tiny(10, 0, 3);
	/* A NaN weight gives non-finite logits, not a crash. */
	rml_model_param_block(a)[0] = NAN;
	rml_model_reserve(a, 1, 0, NULL);
	float x[3072] = { 0 }, *logits;
	assert_int_equal(rml_model_forward(a, x, 1, RML_MODE_EVAL, &logits, NULL), RML_OK);
	int finite = 1;
	for (int i = 0; i < 10; i++)
		finite &= isfinite(logits[i]);
	assert_false(finite);
	rml_model_free(a);
}

static void test_uint8_input_and_head_reset(void **state)
{
	(void)state;
	rml_model *m = rml_fx_tiny(10, 2, 12);
	assert_int_equal(rml_model_reserve(m, 2, 0, NULL), RML_OK);
	uint8_t u[2 * 3072];
	float x[2 * 3072], keep[20], *l;
	rml_fx_pixels(x, 2 * 3072, 8);
	for (int i = 0; i < 2 * 3072; i++)
		u[i] = (uint8_t)x[i];
	rml_model_forward(m, x, 2, RML_MODE_EVAL, &l, NULL);
	memcpy(keep, l, sizeof keep);
	assert_int_equal(rml_model_forward_u8(m, u, 2, RML_MODE_EVAL, &l, NULL), RML_OK);
	assert_memory_equal(keep, l, sizeof keep);
	/* A task change: a fresh 5-way head, the rest untouched, the trained
	 * batch-norm statistics too (resetting them to mean 0, variance 1
	 * gave every image nearly the same features, and a new head trained
	 * on them stayed at chance). Both paths: same class count, then a
	 * rebuild for another. */
	int64_t nb;
	rml_param *bufs = rml_model_buffers(m, &nb);
	assert_true(nb > 0);
	for (int64_t i = 0; i < nb; i++)
		for (int64_t j = 0; j < bufs[i].numel; j++)
			bufs[i].data[j] = 0.25f + (float)(j % 7);
	assert_int_equal(rml_model_reset_head(m, 10, 76, NULL), RML_OK);
	bufs = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < nb; i++)
		for (int64_t j = 0; j < bufs[i].numel; j++)
			assert_float_equal(bufs[i].data[j], 0.25f + (float)(j % 7), 0);
	char h1[65], h2[65];
	rml_model_base_hash(m, h1);
	assert_int_equal(rml_model_reset_head(m, 5, 77, NULL), RML_OK);
	bufs = rml_model_buffers(m, &nb);
	for (int64_t i = 0; i < nb; i++)
		for (int64_t j = 0; j < bufs[i].numel; j++)
			assert_float_equal(bufs[i].data[j], 0.25f + (float)(j % 7), 0);
	assert_int_equal(rml_model_n_classes(m), 5);
	rml_model_base_hash(m, h2);
	assert_string_equal(h1, h2);
	assert_int_equal(rml_model_n_params(m, RML_GROUP_BIT(RML_GROUP_W)), 24 * 5 + 5);
	assert_int_equal(rml_model_forward(m, x, 2, RML_MODE_EVAL, &l, NULL), RML_OK);
	for (int i = 0; i < 10; i++)
		assert_true(isfinite(l[i]));
	assert_int_equal(rml_model_reset_head(m, 0, 1, NULL), RML_ERR_ARG);
	rml_model_free(m);
}

static void test_bad_config(void **state)
{
	(void)state;
	rml_model *m = NULL;
	rml_model_config c = { "mvit-tiny", 10, 3, 1 };
	assert_int_equal(rml_model_create(&m, &c, NULL), RML_ERR_ARG);
	c.adapter_gamma = 0;
	c.n_classes = 0;
	assert_int_equal(rml_model_create(&m, &c, NULL), RML_ERR_ARG);
	assert_null(m);
	unsigned mask = 0;
	rml_error err = { 0 };
	assert_int_equal(rml_group_mask_parse("phi,W", &mask, &err), RML_OK);
	assert_int_equal(mask, RML_GROUP_BIT(RML_GROUP_PHI) | RML_GROUP_BIT(RML_GROUP_W));
	assert_int_equal(rml_group_mask_parse("adapters", &mask, &err), RML_OK);
	assert_int_equal(mask, RML_GROUP_BIT(RML_GROUP_OMEGA) | RML_GROUP_BIT(RML_GROUP_PHI));
	assert_int_equal(rml_group_mask_parse("phi,psi", &mask, &err), RML_ERR_ARG);
	assert_non_null(strstr(err.msg, "psi"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_vs_torch_eval, threads2),
		cmocka_unit_test_setup(test_vs_torch_train, threads2),
		cmocka_unit_test_setup(test_faults_vs_torch, threads2),
		cmocka_unit_test_setup(test_fd_eval, threads1),
		cmocka_unit_test_setup(test_fd_train, threads1),
		cmocka_unit_test_setup(test_mvit_xxs_size, threads2),
		cmocka_unit_test_setup(test_adapters_start_as_identity, threads2),
		cmocka_unit_test_setup(test_groups_and_early_stop, threads2),
		cmocka_unit_test_setup(test_backward_misuse, threads2),
		cmocka_unit_test_setup(test_determinism, threads2),
		cmocka_unit_test_setup(test_threads_train, threads2),
		cmocka_unit_test_setup(test_shared_arena, threads2),
		cmocka_unit_test_setup(test_nan_weight, threads2),
		cmocka_unit_test_setup(test_uint8_input_and_head_reset, threads2),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
