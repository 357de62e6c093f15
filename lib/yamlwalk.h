/*
 * yamlwalk.h — the one reader of YAML documents in librmlops, shared by
 * the architecture language (arch.c) and attack lists (attack_model.c):
 * load a text into a libyaml document, read mappings whose keys must come
 * from a list and appear once, whole numbers within bounds and lists of
 * numbers, and report the first problem as "<what>, line N: message".
 * Not here: what the keys mean (each reader checks its own values).
 */
#ifndef RML_YAMLWALK_H
#define RML_YAMLWALK_H

#include <yaml.h>

#include "rml.h"

/* Deepest nesting of lists and mappings a text may have. */
#define RML_YAML_MAX_DEPTH 64

typedef struct {
	yaml_parser_t parser;
	yaml_document_t doc;
	int loaded;
	const char *what;    /* starts every message: "architecture", a file name */
	const char *noun;    /* what a key is called: "key" ("unknown key 'x' in stem") */
	const char *nouns;   /* and several: "keys" ("keys must be words in stem") */
	int scalars;         /* 1: every value of a mapping must be a single value */
	rml_error *err;
	int bad;             /* a problem was reported */
	yaml_node_t *ctx;    /* the mapping being read: its line stands for a missing key */
} rml_yamlwalk;

typedef struct {
	const char *key;
	yaml_node_t *val;
} rml_yamlwalk_pair;

/* Parse text (NUL-terminated) into y->doc; y->what names it in messages
 * ("<what>, line N: <libyaml's problem>"). A text nested deeper than
 * RML_YAML_MAX_DEPTH or holding an alias is refused in time linear in its
 * length. Keys are called "key"/"keys"
 * until the caller changes noun and nouns. rml_yamlwalk_free afterwards,
 * also after a failure. */
rml_status rml_yamlwalk_load(rml_yamlwalk *y, const char *text, const char *what, rml_error *err);
void rml_yamlwalk_free(rml_yamlwalk *y);
/* The root node (NULL for an empty document), and the node of an item id. */
yaml_node_t *rml_yamlwalk_root(rml_yamlwalk *y);
yaml_node_t *rml_yamlwalk_node(rml_yamlwalk *y, int id);

/* Report "<what>, line L: <msg><arg>" (arg may be NULL), L the line of n
 * or, when n is NULL, of y->ctx; sets y->bad. Returns RML_ERR_FORMAT. */
rml_status rml_yamlwalk_fail(rml_yamlwalk *y, yaml_node_t *n, const char *msg, const char *arg);

/* The pairs of mapping n into out[0..max) (more are checked but not
 * stored), in document order; every key a scalar found in allowed
 * (NULL-terminated), none twice, and with y->scalars every value a
 * scalar. in names the mapping in messages (" in <in>"; NULL: nothing).
 * Returns the number of pairs, or -1 after reporting. */
int rml_yamlwalk_map(rml_yamlwalk *y, yaml_node_t *n, const char *in, const char *const *allowed,
		     rml_yamlwalk_pair *out, int max);
/* The value of key among pairs, or NULL. */
yaml_node_t *rml_yamlwalk_get(const rml_yamlwalk_pair *p, int n, const char *key);

/* A whole number in [lo, hi] from scalar n (key names it in messages;
 * NULL n: the key is missing). 0, or -1 after reporting. */
int rml_yamlwalk_int(rml_yamlwalk *y, yaml_node_t *n, const char *key, int lo, int hi, int *out);
/* Exactly count finite numbers from sequence n. 0, or -1 after reporting. */
int rml_yamlwalk_doubles(rml_yamlwalk *y, yaml_node_t *n, const char *key, double *out, int count);

#endif
