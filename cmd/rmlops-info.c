/*
 * rmlops-info — what an rmlops file holds: kind, metadata, tensor table,
 * sizes, checksum status (reading verifies every checksum), and with
 * --lineage the steps that made it. Text for people, --json for machines.
 * The summaries are lib/info.c; this file reads the inputs container by
 * container and writes what they say.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "info.h"
#include "outbuf.h"

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
			rml_outbuf o;
			rml_outbuf_init(&o);
			if (digest)
				rml_info_digest(&o, &f);
			else if (lineage)
				rml_info_lineage(&o, &f, name, json);
			else if (json)
				rml_info_json(&o, &f, name);
			else
				rml_info_text(&o, &f, name);
			if (o.failed) {
				cli_msg("out of memory");
				rc = -1;
			} else if (o.len)
				fwrite(o.data, 1, o.len, stdout);
			rml_outbuf_free(&o);
		}
		rml_file_free(&f);
		if (rml_file_at_end(fp))
			break;
	}
	if (!is_stdin)
		fclose(fp);
	return rc;
}

struct cmdline {
	cli_common com;
	int lineage, digest;
};

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_SHARED_JSON,
	CLI_FLAG("lineage", 0, F(lineage)),
	CLI_FLAG("digest", 0, F(digest)),
	CLI_SHARED_QUIET,
	CLI_SHARED_HELP,
	CLI_SHARED_VERSION,
	CLI_END,
};
#undef F

int main(int argc, char **argv)
{
	cli_init("rmlops-info", argc, argv);
	struct cmdline c = { .com = { .help = usage_text } };
	const cli_parser p = { options, &c, &c.com, NULL, NULL };
	int st = cli_parse_args(&p, argc, argv);
	if (st)
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	char *dash[] = { "-" };
	char **files = optind < argc ? argv + optind : dash;
	int n = optind < argc ? argc - optind : 1;
	int status = CLI_EXIT_OK;
	for (int i = 0; i < n; i++)
		if (show_input(files[i], c.com.json, c.lineage, c.digest, cli_verbosity == 0))
			status = CLI_EXIT_FAIL;
	return cli_finish(status);
}
