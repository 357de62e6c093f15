/*
 * info.c — rmlops-info's summaries of a file (info.h). The formats are
 * the program's documented output: a change here changes what users
 * parse.
 */
#include "info.h"

#include <stdio.h>
#include <string.h>

#include "calib.h"
#include "outtext.h"

void rml_info_json(rml_outbuf *o, const rml_file *f, const char *name)
{
	rml_outbuf_printf(o, "{\"file\":");
	rml_outbuf_json_str(o, name);
	rml_outbuf_printf(o, ",\"format_version\":%d,\"metadata\":{", RML_FORMAT_VERSION);
	for (int64_t i = 0; i < f->n_kv; i++) {
		const rml_kv *kv = &f->kv[i];
		if (i)
			rml_outbuf_printf(o, ",");
		rml_outbuf_json_str(o, kv->key);
		rml_outbuf_printf(o, ":");
		switch (kv->type) {
		case RML_KV_I64: rml_outbuf_printf(o, "%lld", (long long)kv->i); break;
		case RML_KV_F64: rml_out_json_num(o, "%.17g", kv->f); break;
		case RML_KV_STR: rml_outbuf_json_str(o, kv->s); break;
		case RML_KV_I64_ARRAY:
			rml_outbuf_printf(o, "[");
			for (int64_t j = 0; j < kv->n; j++)
				rml_outbuf_printf(o, "%s%lld", j ? "," : "", (long long)kv->ia[j]);
			rml_outbuf_printf(o, "]");
			break;
		case RML_KV_F64_ARRAY:
			rml_outbuf_printf(o, "[");
			for (int64_t j = 0; j < kv->n; j++) {
				if (j)
					rml_outbuf_printf(o, ",");
				rml_out_json_num(o, "%.17g", kv->fa[j]);
			}
			rml_outbuf_printf(o, "]");
			break;
		case RML_KV_STR_ARRAY:
			rml_outbuf_printf(o, "[");
			for (int64_t j = 0; j < kv->n; j++) {
				if (j)
					rml_outbuf_printf(o, ",");
				rml_outbuf_json_str(o, kv->sa[j]);
			}
			rml_outbuf_printf(o, "]");
			break;
		default: rml_outbuf_printf(o, "null");
		}
	}
	rml_outbuf_printf(o, "},\"tensors\":[");
	size_t total = 0;
	for (int64_t i = 0; i < f->n_tensors; i++) {
		const rml_tensor *t = &f->tensors[i];
		rml_outbuf_printf(o, "%s{\"name\":", i ? "," : "");
		rml_outbuf_json_str(o, t->name);
		rml_outbuf_printf(o, ",\"dtype\":\"%s\",\"shape\":[", rml_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++)
			rml_outbuf_printf(o, "%s%lld", d ? "," : "", (long long)t->dims[d]);
		rml_outbuf_printf(o, "],\"bytes\":%zu}", t->nbytes);
		total += t->nbytes;
	}
	rml_outbuf_printf(o, "],\"tensor_bytes\":%zu,\"checksums\":\"ok\"}\n", total);
}

/* A model's calibrator in one line (rmlops-calibrate(1)). */
static void calibrator_line(rml_outbuf *o, const rml_file *f)
{
	rml_calib c;
	rml_calib_init(&c);
	rml_error err = { 0 };
	if (!rml_get(f, "calib.method"))
		return;
	if (rml_calib_from_file(&c, f, "calib.", &err)) {
		rml_outbuf_printf(o, "  calibrator: unreadable (%s)\n", err.msg);
		return;
	}
	rml_outbuf_printf(o, "  calibrator: %s", rml_calib_method_name(c.method));
	if (c.method == RML_CALIB_TEMPERATURE)
		rml_outbuf_printf(o, ", T = %g", c.scalars[0]);
	else if (c.method == RML_CALIB_BETA)
		rml_outbuf_printf(o, ", a = %g, b = %g, c = %g", c.scalars[0], c.scalars[1], c.scalars[2]);
	else
		rml_outbuf_printf(o, ", %lld model%s, %lld knots", (long long)c.n_models,
			       c.n_models == 1 ? "" : "s", (long long)c.n_knots);
	const rml_kv *rule = rml_get(f, "calib.reject_rule");
	const rml_kv *thr = rml_get(f, "calib.reject_threshold");
	if (rule && rule->type == RML_KV_STR && thr && thr->type == RML_KV_F64) {
		rml_outbuf_printf(o, "; rejects when ");
		rml_out_safe(o, rule->s);
		rml_outbuf_printf(o, " %s %g", strcmp(rule->s, "entropy") ? "<" : ">", thr->f);
	}
	rml_outbuf_printf(o, "\n");
	rml_calib_free(&c);
}

/* One metadata value of the summary for people. */
static void kv_text(rml_outbuf *o, const rml_kv *kv)
{
	switch (kv->type) {
	case RML_KV_I64: rml_outbuf_printf(o, "%lld", (long long)kv->i); break;
	case RML_KV_F64: rml_outbuf_printf(o, "%g", kv->f); break;
	case RML_KV_STR:
		if (strchr(kv->s, '\n'))
			rml_outbuf_printf(o, "(%zu bytes of text)", strlen(kv->s));
		else
			rml_out_safe(o, kv->s);
		break;
	case RML_KV_I64_ARRAY:
		for (int64_t j = 0; j < kv->n && j < 10; j++)
			rml_outbuf_printf(o, "%s%lld", j ? " " : "", (long long)kv->ia[j]);
		break;
	case RML_KV_F64_ARRAY:
		for (int64_t j = 0; j < kv->n && j < 10; j++)
			rml_outbuf_printf(o, "%s%g", j ? " " : "", kv->fa[j]);
		break;
	case RML_KV_STR_ARRAY:
		for (int64_t j = 0; j < kv->n && j < 10; j++) {
			rml_outbuf_printf(o, "%s", j ? ", " : "");
			rml_out_safe(o, kv->sa[j]);
		}
		break;
	default: break;
	}
	if (kv->type >= RML_KV_I64_ARRAY && kv->n > 10)
		rml_outbuf_printf(o, ", ... (%lld in all)", (long long)kv->n);
}

/* s escaped (rml_out_safe) and padded with spaces to width columns, as
 * printf's %-Ns pads the escaped text. */
static void safe_padded(rml_outbuf *o, const char *s, int width)
{
	size_t at = o->len;
	rml_out_safe(o, s);
	for (size_t w = o->failed ? (size_t)width : o->len - at; w < (size_t)width; w++)
		rml_outbuf_add(o, " ", 1);
}

void rml_info_text(rml_outbuf *o, const rml_file *f, const char *name)
{
	const char *kind = rml_file_kind(f);
	rml_out_safe(o, name);
	rml_outbuf_printf(o, ": ");
	rml_out_safe(o, kind ? kind : "no kind");
	rml_outbuf_printf(o, " (format version %d, checksums ok)\n", RML_FORMAT_VERSION);
	for (int64_t i = 0; i < f->n_kv; i++) {
		const rml_kv *kv = &f->kv[i];
		if (!strcmp(kv->key, "kind") || !strncmp(kv->key, "lineage.", 8))
			continue;
		rml_outbuf_printf(o, "  ");
		safe_padded(o, kv->key, 28);
		rml_outbuf_printf(o, " ");
		kv_text(o, kv);
		rml_outbuf_printf(o, "\n");
	}
	calibrator_line(o, f);
	size_t total = 0;
	rml_outbuf_printf(o, "  %lld tensors:\n", (long long)f->n_tensors);
	int64_t shown = 0;
	for (int64_t i = 0; i < f->n_tensors; i++) {
		const rml_tensor *t = &f->tensors[i];
		total += t->nbytes;
		if (f->n_tensors > 40 && i >= 30 && i < f->n_tensors - 5) {
			if (!shown++)
				rml_outbuf_printf(o, "    ... (%lld more)\n", (long long)(f->n_tensors - 35));
			continue;
		}
		char shape[128] = "";
		size_t at = 0;
		for (int d = 0; d < t->ndim && at < sizeof shape; d++)
			at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", d ? "x" : "",
					       (long long)t->dims[d]);
		rml_outbuf_printf(o, "    ");
		safe_padded(o, t->name, 48);
		rml_outbuf_printf(o, " %-4s %-18s %zu bytes\n", rml_dtype_name(t->dtype), shape, t->nbytes);
	}
	rml_outbuf_printf(o, "  total tensor data: %zu bytes\n", total);
}

void rml_info_digest(rml_outbuf *o, const rml_file *f)
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
		rml_outbuf_printf(o, "%s  ", hex);
		rml_out_safe(o, t->name);
		rml_outbuf_printf(o, "\n");
	}
}

/* A lineage entry is JSON already; a control character put in by hand
 * becomes an escape, so the output stays one valid line. */
static void json_entry(rml_outbuf *o, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			rml_outbuf_printf(o, "\\u%04x", *p);
		else
			rml_outbuf_add(o, p, 1);
}

void rml_info_lineage(rml_outbuf *o, const rml_file *f, const char *name, int json)
{
	const rml_kv *h = rml_get(f, "lineage.history");
	if (json) {
		rml_outbuf_printf(o, "{\"file\":");
		rml_outbuf_json_str(o, name);
		rml_outbuf_printf(o, ",\"history\":[");
		for (int64_t i = 0; h && h->type == RML_KV_STR_ARRAY && i < h->n; i++) {
			rml_outbuf_printf(o, "%s", i ? "," : "");
			json_entry(o, h->sa[i]);
		}
		rml_outbuf_printf(o, "]}\n");
		return;
	}
	rml_out_safe(o, name);
	rml_outbuf_printf(o, ": lineage, oldest first\n");
	if (!h || h->type != RML_KV_STR_ARRAY || h->n == 0) {
		rml_outbuf_printf(o, "  (no recorded history)\n");
		return;
	}
	for (int64_t i = 0; i < h->n; i++) {
		rml_outbuf_printf(o, "  %lld. ", (long long)i + 1);
		rml_out_safe(o, h->sa[i]);
		rml_outbuf_printf(o, "\n");
	}
}
