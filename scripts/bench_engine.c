/*
 * bench_engine.c — throughput of the engine on a built-in architecture:
 * training steps (forward in training mode, cross-entropy, backward of
 * every parameter, SGD update) and inference, at a given batch size.
 * Prints one JSON line per measurement: the median over timed iterations
 * after warm-up. Built and run by scripts/bench.sh (make bench).
 *
 * usage: bench_engine ARCH train|infer BATCH THREADS SECONDS [WARM [MIN]]
 * WARM untimed iterations first (default 2), at least MIN timed ones
 * (default 3); scripts/bench_busy.sh asks for fewer on a crowded machine.
 * With RML_PROFILE=1 in the environment, the time per kind of operation
 * goes to standard error. With RML_GEMM=openblas the products run on
 * OpenBLAS instead of the own kernels (gemm.h); the line then names the
 * implementation "rmlops-openblas". The line also gives the calling
 * thread's processor time per iteration (cpu_min_s, cpu_median_s): at
 * one thread that is the whole step, and it leaves out the time spent
 * waiting for a core, so on a shared machine the least of it compares
 * two builds better than wall-clock time does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"
#include "kernels.h"
#include "model.h"
#include "model_internal.h"

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 6 || argc > 8) {
		fprintf(stderr, "usage: bench_engine ARCH train|infer BATCH THREADS SECONDS [WARM [MIN]]\n");
		return 2;
	}
	const char *arch = argv[1];
	int train = strcmp(argv[2], "train") == 0;
	int64_t batch = atoll(argv[3]);
	int threads = atoi(argv[4]);
	double seconds = atof(argv[5]);
	rml_set_threads(threads);
	rml_error err = { 0 };
	rml_model *m;
	rml_model_config cfg = { .arch = arch, .n_classes = 10, .adapter_gamma = 0, .seed = 1 };
	if (rml_model_create(&m, &cfg, &err) || rml_model_reserve(m, batch, train, &err)) {
		fprintf(stderr, "bench_engine: %s\n", err.msg);
		return 1;
	}
	int h, w, c;
	rml_model_input_shape(m, &h, &w, &c);
	int64_t k = rml_model_n_classes(m);
	float *x = malloc((size_t)(batch * h * w * c) * sizeof *x);
	float *probs = malloc((size_t)(batch * k) * sizeof *probs);
	float *dlogits = malloc((size_t)(batch * k) * sizeof *dlogits);
	int32_t *labels = malloc((size_t)batch * sizeof *labels);
	rml_rng r;
	rml_rng_seed(&r, 1);
	for (int64_t i = 0; i < batch * h * w * c; i++)
		x[i] = (float)rml_rng_below(&r, 256);
	for (int64_t i = 0; i < batch; i++)
		labels[i] = (int32_t)rml_rng_below(&r, (uint64_t)k);
	int64_t np_all = rml_model_n_params(m, RML_GROUPS_ALL);
	float *params = rml_model_param_block(m), *grads = rml_model_grad_block(m);
	if (train)
		rml_model_set_trainable(m, RML_GROUPS_ALL);

	enum { MAX_IT = 10000 };
	static double t[MAX_IT], cpu[MAX_IT];
	int n_it = 0, warm = argc > 6 ? atoi(argv[6]) : 2, min_it = argc > 7 ? atoi(argv[7]) : 3;
	if (min_it < 1)
		min_it = 1;
	double start = rml_now();
	for (int it = 0; it < MAX_IT; it++) {
		double t0 = rml_now(), c0 = thread_cpu();
		float *logits;
		if (rml_model_forward(m, x, batch, train ? RML_MODE_TRAIN : RML_MODE_EVAL, &logits,
				      &err)) {
			fprintf(stderr, "bench_engine: %s\n", err.msg);
			return 1;
		}
		if (train) {
			rml_model_zero_grad(m);
			rml_xent_forward(probs, logits, labels, batch, k, 0.1f);
			memset(dlogits, 0, (size_t)(batch * k) * sizeof *dlogits);
			rml_xent_backward(dlogits, probs, labels, batch, k, 0.1f, 1.0f);
			if (rml_model_backward(m, dlogits, NULL, &err)) {
				fprintf(stderr, "bench_engine: %s\n", err.msg);
				return 1;
			}
			for (int64_t i = 0; i < np_all; i++)
				params[i] -= 1e-4f * grads[i];
		}
		double dt = rml_now() - t0;
		if (it >= warm) {
			cpu[n_it] = thread_cpu() - c0;
			t[n_it++] = dt;
		}
		if (n_it >= min_it && rml_now() - start > seconds)
			break;
	}
	qsort(t, (size_t)n_it, sizeof *t, cmp_double);
	qsort(cpu, (size_t)n_it, sizeof *cpu, cmp_double);
	double med = t[n_it / 2];
	int own = rml_gemm_get_backend() == RML_GEMM_OWN;
	printf("{\"impl\":\"%s\",\"gemm\":\"%s\",\"arch\":\"%s\",\"what\":\"%s\","
	       "\"batch\":%lld,\"threads\":%d,\"iterations\":%d,\"median_s\":%.6f,"
	       "\"images_per_s\":%.1f,\"cpu_min_s\":%.6f,\"cpu_median_s\":%.6f}\n",
	       own ? "rmlops" : "rmlops-openblas", rml_gemm_backend_name(), arch,
	       train ? "train" : "infer", (long long)batch, threads, n_it, med,
	       (double)batch / med, cpu[0], cpu[n_it / 2]);
	if (getenv("RML_PROFILE")) {
		static char rep[4096];
		rml_model_profile_report(m, rep, sizeof rep);
		fputs(rep, stderr);
	}
	free(x);
	free(probs);
	free(dlogits);
	free(labels);
	rml_model_free(m);
	return 0;
}
