/*
 * rmlops-convert — the hand-over between rmlops and Python: a PyTorch
 * model's weights (safetensors) and an architecture become an rmlops
 * model, an rmlops model (with its adapters) goes back to safetensors, and
 * any rmlops file's arrays go to NumPy (.npy, .npz). One program with
 * subcommands, because the three share the one job of crossing that
 * border and none of them computes anything about a model. The formats are
 * lib/safetensors.c and lib/npy.c, names and layouts lib/torchmap.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "calib_model.h"
#include "cli.h"
#include "model.h"
#include "npy.h"
#include "outbuf.h"
#include "safetensors.h"
#include "torchmap.h"

struct cmdline {
	const char *cmd, *output, *arch, *map, *prefix, *tensor;
	int64_t classes, gamma;
	char **args, **typed;   /* typed: the command line as given, for provenance */
	int n_args, argc;
	cli_common com;
};

static int cmd_import(void *ctx);
static int cmd_export(void *ctx);
static int cmd_numpy(void *ctx);
static int cmd_names(void *ctx);

static const cli_subcommand commands[] = {
	{ "import", "[IN.safetensors]", cmd_import, "a PyTorch state dict to an rmlops model (.rml)" },
	{ "export", "[MODEL]", cmd_export, "an rmlops model to a PyTorch state dict (.safetensors)" },
	{ "numpy", "[IN]", cmd_numpy, "the arrays of any rmlops file to .npz (or one to .npy)" },
	{ "names", "", cmd_names,
	  "the name map of an architecture: rmlops name,\nPyTorch name(s), PyTorch shape; a start for --map" },
	{ NULL, NULL, NULL, NULL },
};

static void usage(void)
{
	printf("Usage: rmlops-convert COMMAND [OPTIONS] [IN]\n"
	       "Move models and arrays between rmlops and PyTorch / NumPy.\n"
	       "\n"
	       "Commands:\n");
	cli_subcommand_list(stdout, commands, 24);
	printf("\n"
	       "Options:\n"
	       "  -o, --output FILE    output (default standard output)\n"
	       "      --arch NAME|FILE import, names: architecture, a preset (mvit-xxs, mvit-tiny)\n"
	       "                       or a YAML file (rmlops-arch(5)); import takes it from the\n"
	       "                       file's metadata when it came from export\n"
	       "      --map FILE       lines 'RMLOPS_NAME TORCH_NAME...' replacing default names\n"
	       "      --prefix P       put P before every PyTorch name (e.g. 'model.')\n"
	       "      --classes N      import: class count (default: the head's bias length)\n"
	       "      --adapters G     import: adapter compression 0,1,2,4,8 (default: from the\n"
	       "                       tensors)\n"
	       "      --tensor NAME    numpy: write only this tensor, as .npy\n"
	       "  -q, --quiet / -v, --verbose;  -h, --help;  -V, --version\n"
	       "\n"
	       "Example: rmlops-convert import --arch mvit-xxs torch.safetensors -o base.rml\n"
	       "         rmlops-convert export hardened.rml -o hardened.safetensors\n"
	       "         rmlops-eval -m base.rml -d test.rml -P p.rml && rmlops-convert numpy p.rml -o p.npz\n");
}

#define F(f) offsetof(struct cmdline, f)
static const cli_opt options[] = {
	CLI_STR("output", 'o', F(output)),
	CLI_STR("arch", 0, F(arch)),
	CLI_STR("map", 0, F(map)),
	CLI_STR("prefix", 0, F(prefix)),
	CLI_I64("classes", 0, F(classes), 1, 1000000),
	CLI_I64("adapters", 0, F(gamma), 0, 8, .id = 1),
	CLI_STR("tensor", 0, F(tensor)),
	CLI_SHARED_BASE,
	CLI_END,
};
#undef F

/* --adapters: the compressions an adapter can have. */
static int option(void *base, const cli_opt *e, const char *arg)
{
	const struct cmdline *c = base;
	if (c->gamma == 3 || (c->gamma > 4 && c->gamma < 8))
		return cli_usage_error("--adapters is 0, 1, 2, 4 or 8, not %s", arg);
	return 0;
}

static int parse_args(int argc, char **argv, struct cmdline *c)
{
	const cli_parser p = { options, c, &c->com, option, NULL };
	int r = cli_parse_args(&p, argc, argv);
	if (r)
		return r;
	if (c->com.want_help) {
		usage();
		return -1;
	}
	const cli_subcommand *sub;
	r = cli_subcommand_pick(commands, optind < argc ? argv[optind] : NULL, &sub);
	if (r)
		return r;
	c->cmd = argv[optind++];
	c->args = argv + optind;
	c->n_args = argc - optind;
	int names = strcmp(c->cmd, "names") == 0;
	if (c->n_args > (names ? 0 : 1))
		return cli_usage_error("%s takes %s", c->cmd, names ? "no file" : "one input file");
	if (names && !c->arch)
		return cli_usage_error("names needs --arch");
	if (c->arch && strcmp(c->cmd, "import") && !names)
		return cli_usage_error("--arch is for import and names");
	if ((c->classes || c->gamma >= 0) && strcmp(c->cmd, "import") && !names)
		return cli_usage_error("--classes and --adapters are for import and names");
	if (c->tensor && strcmp(c->cmd, "numpy"))
		return cli_usage_error("--tensor is for numpy");
	if ((c->map || c->prefix) && strcmp(c->cmd, "numpy") == 0)
		return cli_usage_error("--map and --prefix are for import, export and names");
	return 0;
}

static int cmd_import(void *ctx)
{
	rml_error e = { 0 }, *err = &e;
	const struct cmdline *c = ctx;
	const char *in = c->n_args ? c->args[0] : "-";
	rml_st_file st;
	rml_torch_map map;
	rml_torch_map_init(&map);
	rml_model *m = NULL;
	rml_file out;
	rml_file_init(&out);
	char *owned = NULL;
	const char *arch = NULL;
	rml_status s = rml_st_load(&st, in, err);
	if (s)
		goto done;
	if ((s = rml_torch_map_load(&map, c->map, c->prefix, err)))
		goto done;
	if (c->arch) {
		if ((s = rml_arch_text(c->arch, &owned, &arch, err)))
			goto done;
	} else if (!(arch = rml_st_meta(&st, "rmlops.arch_yaml"))) {
		s = rml_errorf(err, RML_ERR_ARG, "%s carries no architecture: give --arch", in);
		goto done;
	}
	int n_classes = (int)c->classes, gamma = (int)c->gamma, guess_k, guess_g;
	if (!c->classes || c->gamma < 0) {
		if ((s = rml_torch_infer(&st, &map, arch, &guess_k, &guess_g, in, err)))
			goto done;
		if (!c->classes)
			n_classes = guess_k;
		if (c->gamma < 0)
			gamma = guess_g;
	}
	cli_info("%s: %lld tensors, %d classes, adapters %d", in, (long long)st.n, n_classes, gamma);
	rml_model_config cfg = { .arch = arch, .n_classes = n_classes, .adapter_gamma = gamma, .seed = 1 };
	if ((s = rml_model_create(&m, &cfg, err)) || (s = rml_torch_import(m, &st, &map, in, err)) ||
	    (s = rml_torch_import_meta(m, &st, in, err)) || (s = rml_model_to_file(m, &out, err)))
		goto done;
	/* Provenance: the weights file's hash, as for an .rml input. */
	uint8_t d[32];
	char hex[65];
	rml_sha256 h;
	rml_sha256_init(&h);
	rml_sha256_update(&h, st.bytes, st.len);
	rml_sha256_final(&h, d);
	rml_hex32(d, hex);
	const char *roles[] = { "weights" }, *hashes[] = { hex };
	if ((s = rml_provenance_stamp(&out, cli_prog, c->argc, c->typed, -1, roles, hashes, 1, NULL, 0, err)))
		goto done;
	if (cli_check_output(c->output)) {
		s = rml_errorf(err, RML_ERR_ARG, "no output written");
		goto done;
	}
	s = rml_file_save(&out, c->output ? c->output : "-", err);
done:
	rml_file_free(&out);
	rml_model_free(m);
	free(owned);
	rml_torch_map_free(&map);
	rml_st_free(&st);
	return s ? cli_fail(err) : CLI_EXIT_OK;
}

static rml_status save_buf(const struct cmdline *c, const rml_outbuf *b, rml_error *err)
{
	if (cli_check_output(c->output))
		return rml_errorf(err, RML_ERR_ARG, "no output written");
	return rml_outbuf_save(b, c->output ? c->output : "-", err);
}

static int cmd_export(void *ctx)
{
	rml_error e = { 0 }, *err = &e;
	const struct cmdline *c = ctx;
	rml_file f;
	rml_file_init(&f);
	rml_torch_map map;
	rml_torch_map_init(&map);
	rml_model *m = NULL;
	rml_outbuf b;
	rml_outbuf_init(&b);
	rml_status s;
	if (!(s = cli_load(&f, c->n_args ? c->args[0] : "-", "model", err)) &&
	    !(s = rml_model_from_file(&m, &f, err)) && !(s = rml_model_calib_check(m, err)) &&
	    !(s = rml_torch_map_load(&map, c->map, c->prefix, err)) &&
	    !(s = rml_torch_export(m, &map, &b, err))) {
		s = save_buf(c, &b, err);
	}
	rml_outbuf_free(&b);
	rml_model_free(m);
	rml_torch_map_free(&map);
	rml_file_free(&f);
	return s ? cli_fail(err) : CLI_EXIT_OK;
}

static int cmd_numpy(void *ctx)
{
	rml_error e = { 0 }, *err = &e;
	const struct cmdline *c = ctx;
	rml_file f;
	rml_file_init(&f);
	rml_outbuf b;
	rml_outbuf_init(&b);
	rml_status s = cli_load(&f, c->n_args ? c->args[0] : "-", "input", err);
	if (!s && c->tensor) {
		const rml_tensor *t = rml_find_tensor(&f, c->tensor);
		s = t ? rml_npy_tensor(&b, t, err)
		      : rml_errorf(err, RML_ERR_ARG, "%s has no tensor %s", c->n_args ? c->args[0] : "stdin",
				   c->tensor);
	} else if (!s)
		s = rml_npz_from_file(&f, &b, err);
	if (!s)
		s = save_buf(c, &b, err);
	rml_outbuf_free(&b);
	rml_file_free(&f);
	return s ? cli_fail(err) : CLI_EXIT_OK;
}

static int cmd_names(void *ctx)
{
	rml_error e = { 0 }, *err = &e;
	const struct cmdline *c = ctx;
	char *owned = NULL;
	const char *arch;
	rml_torch_map map;
	rml_torch_map_init(&map);
	rml_model *m = NULL;
	rml_status s = rml_arch_text(c->arch, &owned, &arch, err);
	rml_model_config cfg = { .arch = arch, .n_classes = c->classes ? (int)c->classes : 10,
				 .adapter_gamma = c->gamma > 0 ? (int)c->gamma : 0, .seed = 1 };
	if (!s && !(s = rml_torch_map_load(&map, c->map, c->prefix, err)) &&
	    !(s = rml_model_create(&m, &cfg, err))) {
		int64_t n, nb;
		rml_param *p = rml_model_params(m, &n), *b = rml_model_buffers(m, &nb);
		rml_outbuf o;
		rml_outbuf_init(&o);
		rml_torch_names_text(&o, p, n, &map);
		rml_torch_names_text(&o, b, nb, &map);
		s = o.failed ? rml_errorf(err, RML_ERR_NOMEM, "out of memory") : RML_OK;
		if (o.len && !o.failed)
			fwrite(o.data, 1, o.len, stdout);
		rml_outbuf_free(&o);
	}
	rml_model_free(m);
	rml_torch_map_free(&map);
	free(owned);
	return s ? cli_fail(err) : CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	cli_init("rmlops-convert", argc, argv);
	/* getopt reorders argv; provenance keeps the command as typed. */
	char **typed = malloc((size_t)(argc + 1) * sizeof *typed);
	if (!typed)
		return CLI_EXIT_FAIL;
	memcpy(typed, argv, (size_t)(argc + 1) * sizeof *typed);
	struct cmdline c = { .gamma = -1, .typed = typed, .argc = argc };
	int st = parse_args(argc, argv, &c);
	if (!st && strcmp(c.cmd, "names") != 0 && cli_check_output(c.output))
		st = CLI_EXIT_USAGE;
	if (st) {
		free(typed);
		return st < 0 ? cli_finish(CLI_EXIT_OK) : st;
	}
	int r = cli_subcommand_find(commands, c.cmd)->run(&c);
	free(typed);
	return cli_finish(r);
}
