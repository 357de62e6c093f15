/*
 * rmlops-info — what an rmlops file holds: kind, metadata, tensor table,
 * sizes, checksum status (reading verifies every checksum), and with
 * --lineage the steps that made it. Text for people, --json for machines.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "cli.h"
#include "format.h"

static const char usage_text[] =
	"Usage: rmlops-info [OPTIONS] [FILE...]\n"
	"Show what rmlops files hold (default: standard input).\n"
	"\n"
	"      --json        one JSON object per file (arrays in full)\n"
	"      --lineage     the provenance and the history of steps, oldest first\n"
	"      --digest      one line per tensor: SHA-256 of its data and its name\n"
	"                    (compares the content of files whose provenance differs)\n"
	"  -q, --quiet       only check the files (exit status)\n"
	"  -h, --help        this help;  -V, --version  the version\n"
	"\n"
	"Example: rmlops-info --lineage hardened.rml\n";

/* A lineage entry is JSON already; a control character put in by hand
 * becomes an escape, so the output stays one valid line. */
static const char *json_safe(const char *s)
{
	static char *buf;
	static size_t cap;
	size_t need = strlen(s) * 6 + 1;
	if (need > cap) {
		char *b = realloc(buf, need);
		if (!b)
			return "null";
		buf = b;
		cap = need;
	}
	char *o = buf;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			o += sprintf(o, "\\u%04x", *p);
		else
			*o++ = (char)*p;
	*o = 0;
	return buf;
}

static void json_num(double v)
{
	if (isfinite(v))
		printf("%.17g", v);
	else
		printf("null");
}

static void print_json(const rml_file *f, const char *name)
{
	printf("{\"file\":");
	cli_json_str(name);
	printf(",\"format_version\":%d,\"metadata\":{", RML_FORMAT_VERSION);
	for (int64_t i = 0; i < f->n_kv; i++) {
		const rml_kv *kv = &f->kv[i];
		if (i)
			putchar(',');
		cli_json_str(kv->key);
		putchar(':');
		switch (kv->type) {
		case RML_KV_I64: printf("%lld", (long long)kv->i); break;
		case RML_KV_F64: json_num(kv->f); break;
		case RML_KV_STR: cli_json_str(kv->s); break;
		case RML_KV_I64_ARRAY:
			putchar('[');
			for (int64_t j = 0; j < kv->n; j++)
				printf("%s%lld", j ? "," : "", (long long)kv->ia[j]);
			putchar(']');
			break;
		case RML_KV_F64_ARRAY:
			putchar('[');
			for (int64_t j = 0; j < kv->n; j++) {
				if (j)
					putchar(',');
				json_num(kv->fa[j]);
			}
			putchar(']');
			break;
		case RML_KV_STR_ARRAY:
			putchar('[');
			for (int64_t j = 0; j < kv->n; j++) {
				if (j)
					putchar(',');
				cli_json_str(kv->sa[j]);
			}
			putchar(']');
			break;
		default: printf("null");
		}
	}
	printf("},\"tensors\":[");
	size_t total = 0;
	for (int64_t i = 0; i < f->n_tensors; i++) {
		const rml_tensor *t = &f->tensors[i];
		printf("%s{\"name\":", i ? "," : "");
		cli_json_str(t->name);
		printf(",\"dtype\":\"%s\",\"shape\":[", rml_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++)
			printf("%s%lld", d ? "," : "", (long long)t->dims[d]);
		printf("],\"bytes\":%zu}", t->nbytes);
		total += t->nbytes;
	}
	printf("],\"tensor_bytes\":%zu,\"checksums\":\"ok\"}\n", total);
}

/* A model's calibrator in one line (rmlops-calibrate(1)). */
static void print_calibrator(const rml_file *f)
{
	rml_calib c;
	rml_calib_init(&c);
	rml_error err = { 0 };
	if (!rml_get(f, "calib.method"))
		return;
	if (rml_calib_from_file(&c, f, "calib.", &err)) {
		printf("  calibrator: unreadable (%s)\n", err.msg);
		return;
	}
	printf("  calibrator: %s", rml_calib_method_name(c.method));
	if (c.method == RML_CALIB_TEMPERATURE)
		printf(", T = %g", c.scalars[0]);
	else if (c.method == RML_CALIB_BETA)
		printf(", a = %g, b = %g, c = %g", c.scalars[0], c.scalars[1], c.scalars[2]);
	else
		printf(", %lld model%s, %lld knots", (long long)c.n_models, c.n_models == 1 ? "" : "s",
		       (long long)c.n_knots);
	const rml_kv *rule = rml_get(f, "calib.reject_rule");
	const rml_kv *thr = rml_get(f, "calib.reject_threshold");
	if (rule && rule->type == RML_KV_STR && thr && thr->type == RML_KV_F64)
		printf("; rejects when %s %s %g", cli_safe(rule->s), strcmp(rule->s, "entropy") ? "<" : ">", thr->f);
	putchar('\n');
	rml_calib_free(&c);
}

static void print_text(const rml_file *f, const char *name)
{
	const char *kind = rml_file_kind(f);
	printf("%s: %s (format version %d, checksums ok)\n", cli_safe(name), kind ? cli_safe(kind) : "no kind",
	       RML_FORMAT_VERSION);
	for (int64_t i = 0; i < f->n_kv; i++) {
		const rml_kv *kv = &f->kv[i];
		if (!strcmp(kv->key, "kind") || !strncmp(kv->key, "lineage.", 8))
			continue;
		printf("  %-28s ", cli_safe(kv->key));
		switch (kv->type) {
		case RML_KV_I64: printf("%lld", (long long)kv->i); break;
		case RML_KV_F64: printf("%g", kv->f); break;
		case RML_KV_STR:
			if (strchr(kv->s, '\n'))
				printf("(%zu bytes of text)", strlen(kv->s));
			else
				printf("%s", cli_safe(kv->s));
			break;
		case RML_KV_I64_ARRAY:
			for (int64_t j = 0; j < kv->n && j < 10; j++)
				printf("%s%lld", j ? " " : "", (long long)kv->ia[j]);
			break;
		case RML_KV_F64_ARRAY:
			for (int64_t j = 0; j < kv->n && j < 10; j++)
				printf("%s%g", j ? " " : "", kv->fa[j]);
			break;
		case RML_KV_STR_ARRAY:
			for (int64_t j = 0; j < kv->n && j < 10; j++)
				printf("%s%s", j ? ", " : "", cli_safe(kv->sa[j]));
			break;
		default: break;
		}
		if ((kv->type >= RML_KV_I64_ARRAY) && kv->n > 10)
			printf(", ... (%lld in all)", (long long)kv->n);
		putchar('\n');
	}
	print_calibrator(f);
	size_t total = 0;
	printf("  %lld tensors:\n", (long long)f->n_tensors);
	int64_t shown = 0;
	for (int64_t i = 0; i < f->n_tensors; i++) {
		const rml_tensor *t = &f->tensors[i];
		total += t->nbytes;
		if (f->n_tensors > 40 && i >= 30 && i < f->n_tensors - 5) {
			if (!shown++)
				printf("    ... (%lld more)\n", (long long)(f->n_tensors - 35));
			continue;
		}
		char shape[128] = "";
		size_t at = 0;
		for (int d = 0; d < t->ndim && at < sizeof shape; d++)
			at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", d ? "x" : "",
					       (long long)t->dims[d]);
		printf("    %-48s %-4s %-18s %zu bytes\n", cli_safe(t->name), rml_dtype_name(t->dtype), shape, t->nbytes);
	}
	printf("  total tensor data: %zu bytes\n", total);
}

static void print_digest(const rml_file *f)
{
	for (int64_t i = 0; i < f->n_tensors; i++) {
		const rml_tensor *t = &f->tensors[i];
		rml_sha256 c;
		uint8_t d[32];
		char hex[65];
		rml_sha256_init(&c);
		rml_sha256_update(&c, t->data, t->nbytes);
		rml_sha256_final(&c, d);
		rml_hex32(d, hex);
		printf("%s  %s\n", hex, cli_safe(t->name));
	}
}

static void print_lineage(const rml_file *f, const char *name, int json)
{
	const rml_kv *h = rml_get(f, "lineage.history");
	if (json) {
		printf("{\"file\":");
		cli_json_str(name);
		printf(",\"history\":[");
		for (int64_t i = 0; h && h->type == RML_KV_STR_ARRAY && i < h->n; i++)
			printf("%s%s", i ? "," : "", json_safe(h->sa[i]));
		printf("]}\n");
		return;
	}
	printf("%s: lineage, oldest first\n", cli_safe(name));
	if (!h || h->type != RML_KV_STR_ARRAY || h->n == 0) {
		printf("  (no recorded history)\n");
		return;
	}
	for (int64_t i = 0; i < h->n; i++)
		printf("  %lld. %s\n", (long long)i + 1, cli_safe(h->sa[i]));
}

/* Every container of one input, in order (rmlops-format(5): a stream may
 * carry several, one after another, as `cat a.rml b.rml` makes); the
 * second and later are named "<input>, container N". Stops at the first
 * that does not read: bytes after an end marker that do not make a whole
 * container are an error, as in every other program. 0, or -1 after a
 * message. */
static int show_input(const char *path, int json, int lineage, int digest, int quiet)
{
	int is_stdin = strcmp(path, "-") == 0;
	const char *base = is_stdin ? "standard input" : path;
	FILE *fp = is_stdin ? stdin : fopen(path, "rb");
	if (!fp) {
		cli_msg("%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = 0;
	for (long k = 1; rc == 0; k++) {
		char name[4200];
		if (k == 1)
			snprintf(name, sizeof name, "%s", base);
		else
			snprintf(name, sizeof name, "%s, container %ld", base, k);
		rml_file f;
		rml_error err = { 0 };
		if (rml_file_read(&f, fp, name, &err)) {
			cli_fail(&err);
			rc = -1;
			break;
		}
		if (!quiet) {
			if (digest)
				print_digest(&f);
			else if (lineage)
				print_lineage(&f, name, json);
			else if (json)
				print_json(&f, name);
			else
				print_text(&f, name);
		}
		rml_file_free(&f);
		if (rml_file_at_end(fp))
			break;
	}
	if (!is_stdin)
		fclose(fp);
	return rc;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-info", argc, argv);
	enum { O_LINEAGE = 256, O_DIGEST };
	static const struct option opts[] = {
		CLI_OPT_JSON, { "lineage", no_argument, 0, O_LINEAGE },
		{ "digest", no_argument, 0, O_DIGEST },
		CLI_OPT_QUIET, CLI_OPT_HELP, CLI_OPT_VERSION, { 0, 0, 0, 0 },
	};
	cli_common com = { .help = usage_text };
	int lineage = 0, digest = 0, o;
	while ((o = getopt_long(argc, argv, "qhV", opts, NULL)) != -1) {
		int r = cli_option(o, optarg, &com, NULL, NULL, NULL);
		if (r == CLI_OPT_STOP)
			return cli_finish(CLI_EXIT_OK);
		if (r == CLI_OPT_DONE)
			continue;
		switch (o) {
		case O_LINEAGE: lineage = 1; break;
		case O_DIGEST: digest = 1; break;
		default: return cli_usage_error("unknown option");
		}
	}
	char *dash[] = { "-" };
	char **files = optind < argc ? argv + optind : dash;
	int n = optind < argc ? argc - optind : 1;
	int status = CLI_EXIT_OK;
	for (int i = 0; i < n; i++)
		if (show_input(files[i], com.json, lineage, digest, cli_verbosity == 0))
			status = CLI_EXIT_FAIL;
	return cli_finish(status);
}
