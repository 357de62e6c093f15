/*
 * test_yamlwalk.c — the YAML reader shared by architectures and attack
 * lists (yamlwalk.h): messages start with what was read and the line of
 * the node at fault (or of the mapping being read, for a missing key);
 * mappings refuse unknown and repeated keys and, when asked, values that
 * are not single; numbers are whole and bounded, lists have their length
 * and hold finite numbers; the nouns a reader gives appear in its
 * messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <time.h>

#include "attack_model.h"
#include "model.h"
#include "yamlwalk.h"

static const char *const keys[] = { "a", "b", "list", NULL };

/* Load text, read its root mapping into p; returns the pair count. */
static int load_map(rml_yamlwalk *y, const char *text, rml_error *err, rml_yamlwalk_pair *p)
{
	assert_int_equal(rml_yamlwalk_load(y, text, "doc.yaml", err), RML_OK);
	y->ctx = rml_yamlwalk_root(y);
	return rml_yamlwalk_map(y, y->ctx, "the top", keys, p, 4);
}

static void test_good(void **state)
{
	(void)state;
	rml_yamlwalk y;
	rml_error err = { 0 };
	rml_yamlwalk_pair p[4];
	int n = load_map(&y, "a: 3\nlist: [1.5, -2, 1e3]\n", &err, p);
	assert_int_equal(n, 2);
	assert_string_equal(p[0].key, "a");
	assert_string_equal(p[1].key, "list");
	int v;
	assert_int_equal(rml_yamlwalk_int(&y, rml_yamlwalk_get(p, n, "a"), "a", 1, 5, &v), 0);
	assert_int_equal(v, 3);
	double d[3];
	assert_int_equal(rml_yamlwalk_doubles(&y, rml_yamlwalk_get(p, n, "list"), "list", d, 3), 0);
	assert_true(d[0] == 1.5 && d[1] == -2 && d[2] == 1000);
	assert_null(rml_yamlwalk_get(p, n, "b"));
	assert_int_equal(y.bad, 0);
	rml_yamlwalk_free(&y);
}

/* Each bad document gives its message with its line. */
static void refused(const char *text, int scalars, const char *says)
{
	rml_yamlwalk y;
	rml_error err = { 0 };
	rml_yamlwalk_pair p[4];
	if (rml_yamlwalk_load(&y, text, "doc.yaml", &err) == RML_OK) {
		y.scalars = scalars;
		y.ctx = rml_yamlwalk_root(&y);
		int n = rml_yamlwalk_map(&y, y.ctx, "the top", keys, p, 4);
		int v;
		double d[2];
		if (n >= 0)
			rml_yamlwalk_int(&y, rml_yamlwalk_get(p, n, "a"), "a", 1, 5, &v);
		if (!y.bad && rml_yamlwalk_get(p, n, "list"))
			rml_yamlwalk_doubles(&y, rml_yamlwalk_get(p, n, "list"), "list", d, 2);
		assert_int_equal(y.bad, 1);
	}
	assert_int_equal(err.code, RML_ERR_FORMAT);
	if (!strstr(err.msg, says))
		fail_msg("message '%s' does not say '%s'", err.msg, says);
	rml_yamlwalk_free(&y);
}

static void test_refused(void **state)
{
	(void)state;
	refused("a: [1\n", 0, "doc.yaml, line ");
	refused("- 1\n", 0, "doc.yaml, line 1: expected a mapping for the top");
	refused("a: 1\nc: 2\n", 0, "doc.yaml, line 2: unknown key 'c' in the top");
	refused("a: 1\nb: 2\na: 3\n", 0, "doc.yaml, line 3: key 'a' appears twice in the top");
	refused("b: [1]\n", 1, "doc.yaml, line 1: key 'b' wants a single value");
	refused("b: 1\n", 0, "doc.yaml, line 1: missing a");
	refused("a: 6\n", 0, "doc.yaml, line 1: '6' for a must be a whole number from 1 to 5");
	refused("a: 2.5\n", 0, "must be a whole number");
	refused("a: [2]\n", 0, "expected a number for a");
	refused("a: 2\nlist: [1, 2, 3]\n", 0, "line 2: list must be a list of 2 numbers");
	refused("a: 2\nlist: [1, nan]\n", 0, "line 2: not a number in list");
	refused("a: 2\nlist: [1, x]\n", 0, "not a number in list");
	refused("a: 2\nlist: [1, [2]]\n", 0, "expected numbers in list");
	refused("? [1]\n: 2\n", 0, "keys must be words in the top");
}

static double cpu_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A text nested deeper than RML_YAML_MAX_DEPTH is refused, in time linear
 * in its length: 100,000 '[' took 36 s of CPU in libyaml before the bound
 * (2 s here is generous, also under the sanitizers). The same for the two
 * readers that hand user text to the walker, and for block nesting. An
 * alias is refused; the deepest text allowed still loads. */
static void test_deep(void **state)
{
	(void)state;
	size_t n = 100000;
	char *t = malloc(2 * n + 2);
	assert_non_null(t);
	memset(t, '[', n);
	memset(t + n, ']', n);
	t[2 * n] = '\n';
	t[2 * n + 1] = 0;
	rml_yamlwalk y;
	rml_error err = { 0 };
	double t0 = cpu_seconds();
	assert_int_equal(rml_yamlwalk_load(&y, t, "deep.yaml", &err), RML_ERR_FORMAT);
	rml_yamlwalk_free(&y);
	assert_non_null(strstr(err.msg, "deep.yaml, line 1: nested more than 64 levels"));
	rml_attack_spec *list = NULL;
	int na = 0;
	assert_int_equal(rml_attack_spec_parse_yaml(t, "attacks.yaml", &list, &na, &err), RML_ERR_FORMAT);
	assert_non_null(strstr(err.msg, "nested more than"));
	rml_model *m = NULL;
	rml_model_config cfg = { .arch = t, .n_classes = 3, .seed = 1 };
	assert_int_not_equal(rml_model_create(&m, &cfg, &err), RML_OK);
	assert_non_null(strstr(err.msg, "nested more than"));
	/* block sequences: "- - - ... x" */
	for (size_t i = 0; i < n; i++)
		t[2 * i] = '-', t[2 * i + 1] = ' ';
	t[2 * n - 1] = 'x';
	assert_int_equal(rml_yamlwalk_load(&y, t, "deep.yaml", &err), RML_ERR_FORMAT);
	rml_yamlwalk_free(&y);
	assert_non_null(strstr(err.msg, "nested more than"));
	double dt = cpu_seconds() - t0;
	print_message("deep texts refused in %.3f s of CPU\n", dt);
	assert_true(dt < 2.0);
	/* 64 levels load */
	memset(t, '[', 64);
	memset(t + 64, ']', 64);
	t[128] = 0;
	assert_int_equal(rml_yamlwalk_load(&y, t, "ok.yaml", &err), RML_OK);
	rml_yamlwalk_free(&y);
	free(t);
	assert_int_equal(rml_yamlwalk_load(&y, "a: &x [1, 2]\nb: *x\n", "alias.yaml", &err),
			 RML_ERR_FORMAT);
	rml_yamlwalk_free(&y);
	assert_non_null(strstr(err.msg, "alias.yaml, line 2: aliases"));
}

/* A reader's own nouns, and no context. */
static void test_nouns(void **state)
{
	(void)state;
	rml_yamlwalk y;
	rml_error err = { 0 };
	rml_yamlwalk_pair p[4];
	assert_int_equal(rml_yamlwalk_load(&y, "a: 1\nzz: 2\n", "attacks.yaml", &err), RML_OK);
	y.noun = "setting";
	y.nouns = "setting names";
	assert_int_equal(rml_yamlwalk_map(&y, rml_yamlwalk_root(&y), NULL, keys, p, 4), -1);
	assert_string_equal(err.msg, "attacks.yaml, line 2: unknown setting 'zz'");
	rml_yamlwalk_free(&y);
	/* An empty document has no root; failing without a node names line 1. */
	assert_int_equal(rml_yamlwalk_load(&y, "", "empty.yaml", &err), RML_OK);
	assert_null(rml_yamlwalk_root(&y));
	assert_int_equal(rml_yamlwalk_fail(&y, NULL, "nothing here", NULL), RML_ERR_FORMAT);
	assert_string_equal(err.msg, "empty.yaml, line 1: nothing here");
	rml_yamlwalk_free(&y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_nouns),
		cmocka_unit_test(test_deep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
