/*
 * yamlwalk.c — reading YAML documents with line-numbered messages (see
 * yamlwalk.h).
 */
#include "yamlwalk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A first pass over the tokens bounds the nesting before libyaml builds
 * the document: its scanner looks at every open level for each token and
 * its loader recurses once per level, so 100,000 '[' cost minutes of CPU
 * (or the stack). Stopping at RML_YAML_MAX_DEPTH keeps both linear in the
 * text. Aliases are refused here too: a chain of lists of aliases names
 * exponentially many nodes in a few lines, and no rmlops text needs them. */
static rml_status check_shape(const char *text, const char *what, rml_error *err)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	rml_status st = RML_OK;
	int depth = 0;
	for (;;) {
		yaml_token_t t;
		if (!yaml_parser_scan(&p, &t))
			break;  /* the loader reports the problem with its line */
		yaml_token_type_t type = t.type;
		int line = (int)t.start_mark.line + 1;
		yaml_token_delete(&t);
		if (type == YAML_STREAM_END_TOKEN || type == YAML_NO_TOKEN)
			break;
		if (type == YAML_FLOW_SEQUENCE_START_TOKEN || type == YAML_FLOW_MAPPING_START_TOKEN ||
		    type == YAML_BLOCK_SEQUENCE_START_TOKEN || type == YAML_BLOCK_MAPPING_START_TOKEN) {
			if (++depth > RML_YAML_MAX_DEPTH) {
				st = rml_errorf(err, RML_ERR_FORMAT,
						"%s, line %d: nested more than %d levels deep", what,
						line, RML_YAML_MAX_DEPTH);
				break;
			}
		} else if (type == YAML_FLOW_SEQUENCE_END_TOKEN ||
			   type == YAML_FLOW_MAPPING_END_TOKEN || type == YAML_BLOCK_END_TOKEN) {
			depth--;
		} else if (type == YAML_ALIAS_TOKEN) {
			st = rml_errorf(err, RML_ERR_FORMAT,
					"%s, line %d: aliases (*name) are not supported", what, line);
			break;
		}
	}
	yaml_parser_delete(&p);
	return st;
}

rml_status rml_yamlwalk_load(rml_yamlwalk *y, const char *text, const char *what, rml_error *err)
{
	memset(y, 0, sizeof *y);
	y->what = what;
	y->noun = "key";
	y->nouns = "keys";
	y->err = err;
	if (!yaml_parser_initialize(&y->parser))
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	rml_status st = check_shape(text, what, err);
	if (st) {
		y->bad = 1;
		return st;
	}
	yaml_parser_set_input_string(&y->parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&y->parser, &y->doc)) {
		y->bad = 1;
		return rml_errorf(err, RML_ERR_FORMAT, "%s, line %d: %s", what,
				  (int)y->parser.problem_mark.line + 1,
				  y->parser.problem ? y->parser.problem : "invalid YAML");
	}
	y->loaded = 1;
	return RML_OK;
}

void rml_yamlwalk_free(rml_yamlwalk *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	yaml_parser_delete(&y->parser);
	y->loaded = 0;
}

yaml_node_t *rml_yamlwalk_root(rml_yamlwalk *y)
{
	return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *rml_yamlwalk_node(rml_yamlwalk *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

rml_status rml_yamlwalk_fail(rml_yamlwalk *y, yaml_node_t *n, const char *msg, const char *arg)
{
	y->bad = 1;
	if (!n)
		n = y->ctx;
	return rml_errorf(y->err, RML_ERR_FORMAT, "%s, line %d: %s%s", y->what,
			  n ? (int)n->start_mark.line + 1 : 1, msg, arg ? arg : "");
}

int rml_yamlwalk_int(rml_yamlwalk *y, yaml_node_t *n, const char *key, int lo, int hi, int *out)
{
	if (!n) {
		rml_yamlwalk_fail(y, NULL, "missing ", key);
		return -1;
	}
	if (n->type != YAML_SCALAR_NODE) {
		rml_yamlwalk_fail(y, n, "expected a number for ", key);
		return -1;
	}
	char *end;
	long v = strtol((const char *)n->data.scalar.value, &end, 10);
	if (*end || end == (char *)n->data.scalar.value || v < lo || v > hi) {
		char m[160];
		snprintf(m, sizeof m, "'%s' for %s must be a whole number from %d to %d",
			 (const char *)n->data.scalar.value, key, lo, hi);
		rml_yamlwalk_fail(y, n, m, NULL);
		return -1;
	}
	*out = (int)v;
	return 0;
}

int rml_yamlwalk_doubles(rml_yamlwalk *y, yaml_node_t *n, const char *key, double *out, int count)
{
	if (!n || n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top - n->data.sequence.items.start != count) {
		char m[96];
		snprintf(m, sizeof m, "%s must be a list of %d numbers", key, count);
		rml_yamlwalk_fail(y, n, m, NULL);
		return -1;
	}
	for (int i = 0; i < count; i++) {
		yaml_node_t *v = yaml_document_get_node(&y->doc, n->data.sequence.items.start[i]);
		char *end;
		if (!v || v->type != YAML_SCALAR_NODE) {
			rml_yamlwalk_fail(y, n, "expected numbers in ", key);
			return -1;
		}
		out[i] = strtod((const char *)v->data.scalar.value, &end);
		if (*end || !isfinite(out[i])) {
			rml_yamlwalk_fail(y, v, "not a number in ", key);
			return -1;
		}
	}
	return 0;
}

int rml_yamlwalk_map(rml_yamlwalk *y, yaml_node_t *n, const char *in, const char *const *allowed,
		     rml_yamlwalk_pair *out, int max)
{
	const char *sep = in ? " in " : "";
	in = in ? in : "";
	char m[400];
	if (!n || n->type != YAML_MAPPING_NODE) {
		rml_yamlwalk_fail(y, n, "expected a mapping for ", in);
		return -1;
	}
	int k = 0;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(&y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&y->doc, p->value);
		if (!kn || kn->type != YAML_SCALAR_NODE) {
			snprintf(m, sizeof m, "%s must be words%s%s", y->nouns, sep, in);
			rml_yamlwalk_fail(y, kn ? kn : n, m, NULL);
			return -1;
		}
		const char *key = (const char *)kn->data.scalar.value;
		int ok = 0;
		for (int i = 0; allowed[i]; i++)
			ok |= strcmp(allowed[i], key) == 0;
		if (!ok) {
			snprintf(m, sizeof m, "unknown %s '%s'%s%s", y->noun, key, sep, in);
			rml_yamlwalk_fail(y, kn, m, NULL);
			return -1;
		}
		for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = yaml_document_get_node(&y->doc, q->key);
			if (k2 && k2->type == YAML_SCALAR_NODE &&
			    strcmp((const char *)k2->data.scalar.value, key) == 0) {
				snprintf(m, sizeof m, "%s '%s' appears twice%s%s", y->noun, key, sep, in);
				rml_yamlwalk_fail(y, kn, m, NULL);
				return -1;
			}
		}
		if (y->scalars && (!v || v->type != YAML_SCALAR_NODE)) {
			snprintf(m, sizeof m, "%s '%s' wants a single value", y->noun, key);
			rml_yamlwalk_fail(y, v ? v : kn, m, NULL);
			return -1;
		}
		if (k < max)
			out[k++] = (rml_yamlwalk_pair){ key, v };
	}
	return k;
}

yaml_node_t *rml_yamlwalk_get(const rml_yamlwalk_pair *p, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(p[i].key, key) == 0)
			return p[i].val;
	return NULL;
}
