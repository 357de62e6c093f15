/*
 * cli.c — shared program plumbing (see cli.h). The option table is a
 * thin layer over getopt_long: it builds getopt's tables, stores and
 * checks values, and leaves anything else to the program's callback; it
 * is not a framework for help texts, which stay in each program as it
 * writes them.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calib_model.h"
#include "classes.h"
#include "outtext.h"

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

/* Escaped copies handed out by cli_safe: a few at a time may be alive in
 * one printf, so they rotate through slots that grow as needed. */
#define CLI_SAFE_SLOTS 8
static rml_outbuf safe_buf[CLI_SAFE_SLOTS];
static int safe_next;

const char *cli_safe(const char *s)
{
	if (!s)
		return "(null)";
	int plain = 1;
	for (const unsigned char *p = (const unsigned char *)s; *p && plain; p++)
		plain = *p >= 0x20 && *p != 0x7f && *p != '\\' && !(*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
	if (plain)
		return s;
	/* The escaping is the reports' own (rml_out_safe), ended by a NUL. */
	rml_outbuf *b = &safe_buf[safe_next];
	safe_next = (safe_next + 1) % CLI_SAFE_SLOTS;
	b->len = 0;
	b->failed = 0;
	rml_out_safe(b, s);
	rml_outbuf_add(b, NULL, 1);
	return b->failed ? "(out of memory)" : (const char *)b->data;
}

/* Messages may quote class names, dataset names and paths from files: the
 * whole line is escaped, so no file can move the cursor or retitle the
 * terminal through a message. */
static void vmsg(const char *fmt, va_list ap)
{
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	fprintf(stderr, "%s: %s\n", cli_prog, text ? cli_safe(text) : fmt);
	free(text);
}

void cli_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void cli_info(const char *fmt, ...)
{
	if (cli_verbosity < 2)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
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
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help'.\n", cli_prog);
	return CLI_EXIT_USAGE;
}

int cli_version(void)
{
	printf("%s (rmlops) %s\n", cli_prog, RML_VERSION);
	return CLI_EXIT_OK;
}

/* What common_opt returns besides CLI_OPT_STOP and CLI_EXIT_USAGE. */
enum { OPT_DONE = 0, OPT_OTHER = -2 };

static int common_opt(int o, const char *arg, cli_common *c)
{
	switch (o) {
	case 's':
		if (cli_parse_i64("--seed", arg, 0, INT64_MAX, &c->seed))
			return CLI_EXIT_USAGE;
		c->seed_given = 1;
		return OPT_DONE;
	case 'j':
		if (cli_parse_i64("--threads", arg, 1, c->threads_max ? c->threads_max : 256, &c->threads))
			return CLI_EXIT_USAGE;
		return OPT_DONE;
	case CLI_O_JSON: c->json = 1; return OPT_DONE;
	case 'q': cli_verbosity = 0; return OPT_DONE;
	case 'v': cli_verbosity = 2; return OPT_DONE;
	case 'h':
		if (!c->help) {
			c->want_help = 1;
			return OPT_DONE;
		}
		fputs(c->help, stdout);
		return CLI_OPT_STOP;
	case 'V': cli_version(); return CLI_OPT_STOP;
	default: return OPT_OTHER;
	}
}

/* "--by is entropy, confidence or margin, not 'x'" from "entropy|confidence|margin". */
static int word_error(const char *opt, const char *words, const char *arg)
{
	char list[512];
	size_t n = 0;
	const char *w = words;
	while (*w && n + 1 < sizeof list) {
		size_t len = strcspn(w, "|");
		const char *sep = w[len] == 0 ? "" : strchr(w + len + 1, '|') ? ", " : " or ";
		n += (size_t)snprintf(list + n, sizeof list - n, "%.*s%s", (int)len, w, sep);
		w += len + (w[len] != 0);
	}
	return cli_usage_error("%s is %s, not '%s'", opt, list, arg);
}

static int is_word(const char *words, const char *arg)
{
	size_t n = strlen(arg);
	for (const char *w = words; *w;) {
		size_t len = strcspn(w, "|");
		if (len == n && strncmp(w, arg, n) == 0)
			return 1;
		w += len + (w[len] != 0);
	}
	return 0;
}

/* As cli_parse_i64, for a CLI_F64 entry: a finite number within [lo, hi]. */
static int parse_f64(const char *opt, const char *s, double lo, double hi, double *out)
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

/* Check arg as kind and store it at dst; opt is the option as messages
 * name it ("--count"). 0, or CLI_EXIT_USAGE after the message. */
static int store_value(const char *opt, cli_kind kind, double lo, double hi, const char *words,
		       const char *arg, void *dst)
{
	int64_t v;
	switch (kind) {
	case CLI_KIND_STR: *(const char **)dst = arg; return 0;
	case CLI_KIND_FLAG: *(int *)dst = 1; return 0;
	case CLI_KIND_WORD:
		if (!is_word(words, arg))
			return word_error(opt, words, arg);
		*(const char **)dst = arg;
		return 0;
	case CLI_KIND_F64:
		return parse_f64(opt, arg, lo, hi, (double *)dst) ? CLI_EXIT_USAGE : 0;
	case CLI_KIND_I64:
	case CLI_KIND_INT:
		/* 2^63 does not fit an int64_t: it stands for INT64_MAX. */
		if (cli_parse_i64(opt, arg, (int64_t)lo, hi >= 0x1p63 ? INT64_MAX : (int64_t)hi, &v))
			return CLI_EXIT_USAGE;
		if (kind == CLI_KIND_INT)
			*(int *)dst = (int)v;
		else
			*(int64_t *)dst = v;
		return 0;
	default: return 0;
	}
}

/* The getopt value of entry i: its letter, or one above the letters of
 * its own, so that a prefix two entries share is ambiguous. */
static int opt_value(const cli_opt *t, int i)
{
	if (t[i].kind == CLI_KIND_SHARED)
		return t[i].id;
	return t[i].letter ? t[i].letter : 0x10000 + i;
}

/* What follows getopt_long's own message about word, an option it
 * refused. optopt is the value of an option it knows whose argument is
 * missing or not wanted, the letter of an unknown short option, or 0
 * for a long option it could not pick: none of the table's, or a prefix
 * of several (an exact name is never ambiguous). */
static const char *bad_option(const struct option *lo, const char *word)
{
	for (const struct option *e = lo; optopt && e->name; e++)
		if (e->val == optopt)
			return e->has_arg ? "missing argument" : "option takes no argument";
	if (optopt || strncmp(word, "--", 2) != 0)
		return "unknown option";
	word += 2;
	size_t len = strcspn(word, "=");
	int matches = 0;
	for (; lo->name; lo++)
		matches += strncmp(lo->name, word, len) == 0;
	return matches > 1 ? "ambiguous option" : "unknown option";
}

int cli_parse_args(const cli_parser *p, int argc, char **argv)
{
	struct option lo[CLI_MAX_OPTS + 1];
	char shorts[3 * CLI_MAX_OPTS + 1];
	int n = 0, ns = 0;
	for (; p->opts[n].name && n < CLI_MAX_OPTS; n++) {
		const cli_opt *e = &p->opts[n];
		int arg = e->kind == CLI_KIND_FLAG ||
			  (e->kind == CLI_KIND_SHARED && e->id != 's' && e->id != 'j') ? no_argument
										 : required_argument;
		lo[n] = (struct option){ e->name, arg, NULL, opt_value(p->opts, n) };
		if (e->letter) {
			shorts[ns++] = (char)e->letter;
			if (arg == required_argument)
				shorts[ns++] = ':';
		}
	}
	lo[n] = (struct option){ 0, 0, 0, 0 };
	shorts[ns] = 0;
	optind = 0;   /* afresh, also for a second table in one process */
	for (;;) {
		int idx = -1, o = getopt_long(argc, argv, shorts, lo, &idx);
		if (o == -1)
			return 0;
		if (o == '?')
			return cli_usage_error("%s", bad_option(lo, argv[optind - 1]));
		const cli_opt *e = NULL;
		if (idx >= 0)
			e = &p->opts[idx];
		for (int i = 0; !e && i < n; i++)
			if (p->opts[i].letter == o)
				e = &p->opts[i];
		if (!e)
			return cli_usage_error("unknown option");
		int r;
		if (e->kind == CLI_KIND_SHARED) {
			r = common_opt(e->id, optarg, p->com);
		} else {
			char opt[80];
			snprintf(opt, sizeof opt, "--%s", e->name);
			r = e->kind == CLI_KIND_CALL ? 0
						: store_value(opt, e->kind, e->lo, e->hi, e->words, optarg,
							      (char *)p->base + e->offset);
		}
		if (r)
			return r;
		if (p->given)
			*p->given |= e->bit;
		if (e->kind != CLI_KIND_SHARED && (e->id || e->kind == CLI_KIND_CALL) && p->call &&
		    (r = p->call(p->base, e, optarg)) != 0)
			return r;
	}
}

int cli_no_operands(int argc, char **argv)
{
	return optind < argc ? cli_usage_error("unexpected argument '%s'", argv[optind]) : 0;
}

const cli_opt *cli_opt_find(const cli_opt *t, unsigned bit)
{
	for (; t->name; t++)
		if (t->bit == bit)
			return t;
	return NULL;
}

double cli_opt_get(const cli_opt *e, const void *base)
{
	const char *src = (const char *)base + e->offset;
	return e->kind == CLI_KIND_F64 ? *(const double *)src
	       : e->kind == CLI_KIND_INT ? (double)*(const int *)src : (double)*(const int64_t *)src;
}

static volatile sig_atomic_t *stop_flag;

static void on_stop_signal(int sig)
{
	if (*stop_flag) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	*stop_flag = sig;
}

void cli_catch_stop(volatile sig_atomic_t *flag)
{
	stop_flag = flag;
	signal(SIGINT, on_stop_signal);
	signal(SIGTERM, on_stop_signal);
}

void cli_common_threads(const cli_common *c)
{
	rml_set_threads((int)c->threads);
}

const cli_subcommand *cli_subcommand_find(const cli_subcommand *t, const char *name)
{
	for (; name && t->name; t++)
		if (strcmp(t->name, name) == 0)
			return t;
	return NULL;
}

void cli_subcommand_list(FILE *fp, const cli_subcommand *t, int width)
{
	for (; t->name; t++) {
		char head[256];
		snprintf(head, sizeof head, "%s%s%s", t->name, t->args[0] ? " " : "", t->args);
		fprintf(fp, "  %-*s ", width, head);
		for (const char *h = t->help; *h; h++) {
			fputc(*h, fp);
			if (*h == '\n' && h[1])
				fprintf(fp, "  %-*s ", width, "");
		}
		fputc('\n', fp);
	}
}

int cli_subcommand_pick(const cli_subcommand *t, const char *name, const cli_subcommand **out)
{
	if (!name)
		return cli_usage_error("no command given");
	if (!(*out = cli_subcommand_find(t, name)))
		return cli_usage_error("unknown command '%s'", name);
	return 0;
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

rml_status cli_load(rml_file *f, const char *path, const char *role, rml_error *err)
{
	char hex[65];
	struct stat sb;
	rml_file_init(f);
	if (path && strcmp(path, "-") != 0 && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
		return rml_errorf(err, RML_ERR_IO, "%s is a directory, not a .rml file", path);
	rml_status st = rml_file_load_hashed(f, path, hex, err);
	if (st != RML_OK) {
		/* Name the file when the reader's message does not. */
		const char *p = path && strcmp(path, "-") ? path : "standard input";
		if (err && strstr(err->msg, p) == NULL) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg[0] ? err->msg : rml_strerror(st));
			rml_errorf(err, st, "%s: %s", p, msg);
		}
		return st;
	}
	memcpy(last_hash, hex, sizeof hex);
	if (n_inputs < CLI_MAX_INPUTS) {
		snprintf(inputs[n_inputs].role, sizeof inputs[n_inputs].role, "%s", role);
		memcpy(inputs[n_inputs].hash, hex, sizeof hex);
		/* Lineage is copied into what this program writes. */
		rml_file_init(&inputs[n_inputs].lineage);
		if ((st = rml_provenance_lineage(&inputs[n_inputs].lineage, f, err)) != RML_OK) {
			rml_file_free(&inputs[n_inputs].lineage);
			rml_file_free(f);
			return st;
		}
		n_inputs++;
	}
	return RML_OK;
}

rml_status cli_load_kind(rml_file *f, const char *path, const char *role, const char *kind,
			 rml_error *err)
{
	rml_status st = cli_load(f, path, role, err);
	if (!st)
		st = rml_expect_kind(f, kind, path && strcmp(path, "-") ? path : "standard input", err);
	return st;
}

rml_status cli_load_model(rml_model **m, const char *path, const char *adapters, rml_error *err)
{
	rml_file f;
	*m = NULL;
	rml_status st = cli_load_kind(&f, path, "model", "model", err);
	if (!st)
		st = rml_model_from_file(m, &f, err);
	if (!st)
		st = rml_model_calib_check(*m, err);
	rml_file_free(&f);
	if (!st && adapters) {
		st = cli_load_kind(&f, adapters, "adapters", "adapters", err);
		if (!st && (st = rml_model_load_adapters(*m, &f, err)) != RML_OK) {
			char msg[sizeof err->msg];
			snprintf(msg, sizeof msg, "%s", err->msg);
			rml_errorf(err, st, "%s: %s", adapters, msg);
		}
		rml_file_free(&f);
	}
	if (st) {
		rml_model_free(*m);
		*m = NULL;
	}
	return st;
}

/* cli_load_dataset and cli_load_dataset_named: the file's kind checked
 * by cli_load_kind, or the reader's messages prefixed with the path. */
static rml_status load_dataset(rml_dataset *d, const char *path, const char *role, int named,
			       rml_error *err)
{
	rml_file f;
	rml_dataset_init(d);
	rml_status st = named ? cli_load(&f, path, role, err) : cli_load_kind(&f, path, role, "dataset", err);
	if (!st && (st = rml_dataset_from_file(d, &f, err)) != RML_OK && named && err) {
		char m[sizeof err->msg + 64];
		snprintf(m, sizeof m, "%s: %s", path && strcmp(path, "-") ? path : "standard input", err->msg);
		snprintf(err->msg, sizeof err->msg, "%.*s", (int)sizeof err->msg - 1, m);
	}
	rml_file_free(&f);
	return st;
}

rml_status cli_load_dataset(rml_dataset *d, const char *path, const char *role, rml_error *err)
{
	return load_dataset(d, path, role, 0, err);
}

rml_status cli_load_dataset_named(rml_dataset *d, const char *path, const char *role, rml_error *err)
{
	return load_dataset(d, path, role, 1, err);
}

rml_status cli_load_dataset_fit(rml_dataset *d, const char *path, const char *role, const rml_model *m,
				int need_labels, rml_error *err)
{
	rml_status st = cli_load_dataset(d, path, role, err);
	return st ? st : rml_dataset_fit_model(d, m, need_labels, path, err);
}

/* Same file: the same name, or the same inode when both exist. A
 * character device (/dev/null) may take several outputs. */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	int a_ok = strcmp(a, "-") != 0 && stat(a, &sa) == 0;
	if (a_ok && S_ISCHR(sa.st_mode))
		return 0;
	if (strcmp(a, b) == 0)
		return 1;
	if (!a_ok || strcmp(b, "-") == 0)
		return 0;
	return stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int cli_check_outputs(const char *const *outs, const char *const *out_opts, int n_out,
		      const char *const *ins, int n_in)
{
	for (int i = 0; i < n_out; i++) {
		const char *o = outs[i];
		if (!o)
			continue;
		for (int j = 0; j < n_in; j++)
			if (ins[j] && strcmp(o, "-") != 0 && same_file(o, ins[j])) {
				cli_usage_error("%s %s is also an input; write to another file", out_opts[i],
						o);
				return CLI_EXIT_USAGE;
			}
		for (int j = 0; j < i; j++)
			if (outs[j] && same_file(o, outs[j])) {
				if (strcmp(o, "-") == 0)
					cli_usage_error("%s and %s both write to standard output", out_opts[j],
							out_opts[i]);
				else
					cli_usage_error("%s and %s name the same file %s", out_opts[j],
							out_opts[i], o);
				return CLI_EXIT_USAGE;
			}
		if (strcmp(o, "-") == 0)
			continue;
		struct stat sb;
		if (stat(o, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			cli_msg("%s %s is a directory", out_opts[i], o);
			return CLI_EXIT_FAIL;
		}
		/* A device or FIFO is written in place, not renamed over. */
		if (stat(o, &sb) == 0 && !S_ISREG(sb.st_mode))
			continue;
		/* The directory must exist and take new files now, not after the
		 * work is done (output is written to a temporary file there and
		 * renamed). */
		char *copy = strdup(o);
		errno = 0;
		const char *dir = copy ? dirname(copy) : ".";
		int bad = stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(dir, W_OK) != 0;
		if (bad)
			cli_msg("cannot write %s %s: %s", out_opts[i], o,
				errno ? strerror(errno) : "not a directory");
		free(copy);
		if (bad)
			return CLI_EXIT_FAIL;
	}
	return 0;
}

int cli_check_stdin(const char *const *ins, const char *const *in_opts, int n_in)
{
	for (int i = 0; i < n_in; i++)
		for (int j = 0; ins[i] && !strcmp(ins[i], "-") && j < i; j++)
			if (ins[j] && !strcmp(ins[j], "-"))
				return cli_usage_error("%s and %s cannot both read standard input", in_opts[j],
						       in_opts[i]);
	return 0;
}

int cli_check_all_outputs(const char *const *outs, const char *const *out_opts, int n_out,
			  unsigned binary, const char *const *ins, int n_in)
{
	for (int i = 0; i < n_out; i++)
		if ((binary >> i & 1u) && cli_check_output(outs[i]))
			return CLI_EXIT_USAGE;
	return cli_check_outputs(outs, out_opts, n_out, ins, n_in);
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

rml_status cli_save_made(rml_file *f, rml_status made, const char *path, int64_t seed, rml_error *err)
{
	rml_status st = made ? made : cli_save(f, path, seed, err);
	rml_file_free(f);
	return st;
}

rml_status cli_save_model(const rml_model *m, const char *path, int64_t seed, rml_error *err)
{
	rml_file f;
	rml_file_init(&f);
	return cli_save_made(&f, rml_model_to_file(m, &f, err), path, seed, err);
}

void cli_report(const char *text, int json)
{
	size_t n = strlen(text);
	if (json)
		fprintf(stderr, "%s%s", text, n && text[n - 1] != '\n' ? "\n" : "");
	else if (cli_verbosity > 0)
		cli_msg("%s", text);
}

int cli_finish(int status)
{
	for (int i = 0; i < n_inputs; i++)
		rml_file_free(&inputs[i].lineage);
	n_inputs = 0;
	for (int i = 0; i < CLI_SAFE_SLOTS; i++)
		rml_outbuf_free(&safe_buf[i]);
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
