/*
 * bench_recipe.c — what the training recipes cost: training steps of a
 * built-in architecture at a given batch, with batches assembled the
 * plain way (random crop and flip) and with the strong recipe
 * (crop, flip, the AutoAugment CIFAR-10 policy, Cutout, mixup or CutMix
 * with soft targets) and with crop, flip and random erasing alone, in
 * rotating rounds so that all see the same load of a shared machine.
 * Also the time of assembling a batch alone under each. Prints JSON
 * lines: per variant the median step time and images/s, then per recipe
 * the median of the rounds' ratios (recipe over plain).
 * Built and run by scripts/bench_recipe.sh (make bench).
 *
 * usage: bench_recipe ARCH DATA.rml BATCH THREADS PAIRS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "format.h"
#include "minibatch.h"
#include "model.h"
#include "optimizer.h"
#include "train.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const rml_error *err)
{
	fprintf(stderr, "bench_recipe: %s\n", err->msg);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: bench_recipe ARCH DATA.rml BATCH THREADS PAIRS\n");
		return 2;
	}
	const char *arch = argv[1];
	int64_t batch = atoll(argv[3]);
	int threads = atoi(argv[4]), pairs = atoi(argv[5]);
	if (batch < 1 || threads < 1 || pairs < 1 || pairs > 1000) {
		fprintf(stderr, "bench_recipe: bad batch, threads or pairs\n");
		return 2;
	}
	rml_set_threads(threads);
	rml_error err = { 0 };
	rml_file f;
	rml_dataset d;
	rml_dataset_init(&d);
	if (rml_file_load(&f, argv[2], &err) || rml_dataset_from_file(&d, &f, &err))
		die(&err);
	rml_file_free(&f);
	rml_model *m;
	rml_model_config cfg = { .arch = arch, .n_classes = 10, .adapter_gamma = 0, .seed = 1 };
	rml_optim o;
	if (rml_model_create(&m, &cfg, &err) || rml_model_reserve(m, batch, 1, &err) ||
	    rml_optim_init(&o, RML_OPT_ADAMW, rml_model_n_params(m, RML_GROUPS_ALL), &err))
		die(&err);
	int64_t img = d.h * d.w * d.c, k = 10;
	float *x = malloc((size_t)(batch * img) * sizeof *x);
	float *t = malloc((size_t)(batch * k) * sizeof *t);
	int32_t *y = malloc((size_t)batch * sizeof *y);
	int64_t *idx = malloc((size_t)batch * sizeof *idx), *perm = malloc((size_t)batch * sizeof *perm);
	uint8_t *scratch = malloc(rml_batch_recipe_scratch_size(batch, d.h, d.w, d.c));
	enum { NV = 3 };
	double *ts[NV], *fill[NV], *ratio = malloc((size_t)pairs * sizeof *ratio);
	for (int v = 0; v < NV; v++) {
		ts[v] = malloc((size_t)pairs * sizeof *ts[v]);
		fill[v] = malloc((size_t)pairs * sizeof *fill[v]);
	}
	rml_train_config tc = { .smoothing = 0.1, .wd = 0.05, .groups = RML_GROUPS_ALL };
	const rml_recipe recipes[NV] = {
		{ .crop_pad = 4, .flip = 1 },
		{ .crop_pad = 4, .flip = 1, .autoaugment = 1, .cutout = 16, .mixup = 1, .cutmix = 1 },
		{ .crop_pad = 4, .flip = 1, .erasing = 0.5 },
	};
	rml_rng r;
	rml_rng_seed(&r, 1);
	/* One untimed step of each first (arena, caches); then rounds, the
	 * order rotating so no variant always goes first. */
	for (int it = -1; it < pairs; it++)
		for (int j = 0; j < NV; j++) {
			int v = it < 0 ? j : (it + j) % NV;
			for (int64_t i = 0; i < batch; i++)
				idx[i] = (int64_t)rml_rng_below(&r, (uint64_t)d.n);
			double t0 = rml_now();
			if (v == 0)
				rml_batch_fill(x, y, &d, idx, batch, 4, 1, &r);
			else if (rml_batch_fill_recipe(x, y, t, k, &d, idx, batch, &recipes[v],
						       rml_rng_u64(&r), scratch, perm, NULL, &err))
				die(&err);
			double t1 = rml_now();
			if (rml_train_step_soft(m, &o, &tc, x, y, rml_recipe_mixes(&recipes[v]) ? t : NULL,
						batch, 1e-4, NULL, &err))
				die(&err);
			double t2 = rml_now();
			if (it >= 0) {
				ts[v][it] = t2 - t0;
				fill[v][it] = t1 - t0;
			}
		}
	static const char *const names[NV] = { "crop,flip", "crop,flip,autoaugment,cutout,mixup,cutmix",
					       "crop,flip,erasing" };
	for (int v = 0; v < NV; v++) {
		double step = median(ts[v], pairs), asm_ = median(fill[v], pairs);
		printf("{\"impl\":\"rmlops\",\"what\":\"train_recipe\",\"arch\":\"%s\",\"augment\":\"%s\","
		       "\"batch\":%lld,\"threads\":%d,\"pairs\":%d,\"median_s\":%.6f,"
		       "\"images_per_s\":%.1f,\"assembly_ms\":%.3f}\n",
		       arch, names[v], (long long)batch, threads, pairs, step, (double)batch / step,
		       1e3 * asm_);
	}
	for (int v = 1; v < NV; v++) {
		for (int i = 0; i < pairs; i++)
			ratio[i] = ts[v][i] / ts[0][i];
		printf("{\"impl\":\"rmlops\",\"what\":\"train_recipe_ratio\",\"arch\":\"%s\","
		       "\"augment\":\"%s\",\"batch\":%lld,\"threads\":%d,\"pairs\":%d,"
		       "\"median_time_ratio\":%.4f}\n",
		       arch, names[v], (long long)batch, threads, pairs, median(ratio, pairs));
	}
	return 0;
}
