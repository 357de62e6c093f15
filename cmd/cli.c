/*
 * cli.c — shared program plumbing (see cli.h). Kept small: no option
 * parsing framework, each program owns its getopt_long table.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLI_MAX_INPUTS 32

const char *cli_prog = "rmlops";
int cli_verbosity = 1;

static int saved_argc;
static char **saved_argv;

static struct {
	char role[64];
	char hash[65];
	rml_file lineage;   /* just the input's lineage keys */
} inputs[CLI_MAX_INPUTS];
static int n_inputs;
static char last_hash[65];

void cli_init(const char *prog, int argc, char **argv)
{
	cli_prog = prog;
	/* getopt_long reorders argv; provenance wants the command as typed. */
	static char *copy[256];
	saved_argc = argc < 255 ? argc : 255;
	for (int i = 0; i < saved_argc; i++)
		copy[i] = argv[i];
	copy[saved_argc] = NULL;
	saved_argv = copy;
}

void cli_msg(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_info(const char *fmt, ...)
{
	if (cli_verbosity < 2)
		return;
	va_list ap;
	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_fail(const rml_error *err)
{
	if (err && err->msg[0])
		cli_msg("%s", err->msg);
	else
		cli_msg("%s", rml_strerror(err ? err->code : RML_ERR_ARG));
	return CLI_EXIT_FAIL;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", cli_prog);
	return CLI_EXIT_USAGE;
}

int cli_version(void)
{
	printf("%s (rmlops) %s\n", cli_prog, RML_VERSION);
	return CLI_EXIT_OK;
}

int cli_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		cli_usage_error("%s wants a whole number from %lld to %lld, not '%s'", opt,
				(long long)lo, (long long)hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_f64(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
		cli_usage_error("%s wants a number from %g to %g, not '%s'", opt, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

rml_status cli_load(rml_file *f, const char *path, const char *role, rml_error *err)
{
	char hex[65];
	rml_status st = rml_file_load_hashed(f, path, hex, err);
	if (st != RML_OK)
		return st;
	memcpy(last_hash, hex, sizeof hex);
	if (n_inputs < CLI_MAX_INPUTS) {
		snprintf(inputs[n_inputs].role, sizeof inputs[n_inputs].role, "%s", role);
		memcpy(inputs[n_inputs].hash, hex, sizeof hex);
		rml_file_init(&inputs[n_inputs].lineage);
		const rml_kv *kv = rml_get(f, "lineage.history");
		if (kv && kv->type == RML_KV_STR_ARRAY)
			rml_set_str_array(&inputs[n_inputs].lineage, "lineage.history",
					  (const char *const *)kv->sa, kv->n);
		n_inputs++;
	}
	return RML_OK;
}

const char *cli_last_hash(void)
{
	return last_hash;
}

int cli_check_output(const char *path)
{
	if ((!path || strcmp(path, "-") == 0) && isatty(STDOUT_FILENO)) {
		cli_msg("refusing to write a binary file to a terminal; use -o FILE or a pipe");
		return -1;
	}
	return 0;
}

rml_status cli_save(rml_file *out, const char *path, int64_t seed, rml_error *err)
{
	const char *roles[CLI_MAX_INPUTS], *hashes[CLI_MAX_INPUTS];
	const rml_file *parents[CLI_MAX_INPUTS];
	for (int i = 0; i < n_inputs; i++) {
		roles[i] = inputs[i].role;
		hashes[i] = inputs[i].hash;
		parents[i] = &inputs[i].lineage;
	}
	rml_status st = rml_provenance_stamp(out, cli_prog, saved_argc, saved_argv, seed,
					     roles, hashes, n_inputs, parents, n_inputs, err);
	if (st != RML_OK)
		return st;
	if (cli_check_output(path))
		return rml_errorf(err, RML_ERR_ARG, "no output written");
	return rml_file_save(out, path ? path : "-", err);
}

int cli_finish(int status)
{
	for (int i = 0; i < n_inputs; i++)
		rml_file_free(&inputs[i].lineage);
	n_inputs = 0;
	if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
		if (status == CLI_EXIT_OK)
			cli_msg("error writing to standard output: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return status;
}

void cli_progress(const char *label, int64_t done, int64_t total)
{
	static double last;
	static int tty = -1;
	if (tty < 0)
		tty = isatty(STDERR_FILENO);
	if (!tty || cli_verbosity < 1 || total <= 0)
		return;
	double now = rml_now();
	if (done < total && now - last < 0.1)
		return;
	last = now;
	int width = 30;
	int fill = (int)(width * done / total);
	fprintf(stderr, "\r%s: %s [", cli_prog, label);
	for (int i = 0; i < width; i++)
		fputc(i < fill ? '#' : ' ', stderr);
	fprintf(stderr, "] %lld/%lld", (long long)done, (long long)total);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}
