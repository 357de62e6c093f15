/*
 * train_report.c — rmlops-train's messages and summary (train_report.h).
 * The wording is the program's: a change here changes what users read.
 */
#include "train_report.h"

#include <stddef.h>

#include "outtext.h"

void rml_train_differ_text(rml_outbuf *o, const rml_train_settings *now,
			   const rml_train_settings *was, unsigned differ)
{
	static const struct {
		unsigned bit;
		const char *name;
		size_t off;
	} whole[] = {
		{ RML_TS_EPOCHS, "--epochs", offsetof(rml_train_settings, epochs) },
		{ RML_TS_BATCH, "--batch", offsetof(rml_train_settings, batch) },
		{ RML_TS_SEED, "--seed", offsetof(rml_train_settings, seed) },
		{ RML_TS_WARMUP, "--warmup", offsetof(rml_train_settings, warmup) },
	}, real[] = {
		{ RML_TS_LR, "--lr", offsetof(rml_train_settings, lr) },
		{ RML_TS_MOMENTUM, "--momentum", offsetof(rml_train_settings, momentum) },
		{ RML_TS_WD, "--wd", offsetof(rml_train_settings, wd) },
		{ RML_TS_SMOOTHING, "--label-smoothing", offsetof(rml_train_settings, smoothing) },
	};
	for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
		if (differ & whole[i].bit)
			rml_outbuf_printf(o, "%s %lld differs from the checkpoint's %lld\n", whole[i].name,
				       (long long)*(const int64_t *)((const char *)now + whole[i].off),
				       (long long)*(const int64_t *)((const char *)was + whole[i].off));
	for (size_t i = 0; i < sizeof real / sizeof real[0]; i++)
		if (differ & real[i].bit)
			rml_outbuf_printf(o, "%s %g differs from the checkpoint's %g\n", real[i].name,
				       *(const double *)((const char *)now + real[i].off),
				       *(const double *)((const char *)was + real[i].off));
	if (differ & RML_TS_NESTEROV)
		rml_outbuf_printf(o, "--nesterov %lld differs from the checkpoint's %lld\n",
			       (long long)now->nesterov, (long long)was->nesterov);
	if (differ & RML_TS_AUGMENT) {
		char a[128], b[128];
		rml_train_recipe_name(now, a, sizeof a);
		rml_train_recipe_name(was, b, sizeof b);
		rml_outbuf_printf(o, "the recipe --augment %s (or its parameters) differs from the "
			       "checkpoint's %s\n", a, b);
	}
	if (differ & RML_TS_EMA)
		rml_outbuf_printf(o, "--ema %g differs from the checkpoint's %g\n", now->ema, was->ema);
	if (differ & RML_TS_TUNE)
		rml_outbuf_printf(o, "--tune %s differs from the checkpoint's %s\n", now->tune, was->tune);
}

void rml_train_epoch_text(rml_outbuf *o, int64_t epoch, double loss, double train_acc,
			  int have_val, double val_acc, double seconds, int64_t images)
{
	rml_outbuf_printf(o, "epoch %lld: loss %.4f, train acc %.4f", (long long)epoch, loss, train_acc);
	if (have_val)
		rml_outbuf_printf(o, ", val acc %.4f", val_acc);
	rml_outbuf_printf(o, ", %.0f images/s", seconds > 0 ? (double)images / seconds : 0.0);
}

void rml_train_report_json(rml_outbuf *o, int64_t epochs, double loss, double val_acc,
			   double val_nll)
{
	rml_outbuf_printf(o, "{\"epochs\":%lld,\"loss\":", (long long)epochs);
	rml_out_json_num(o, "%.5f", loss);
	rml_outbuf_printf(o, ",\"val_acc\":");
	rml_out_json_num(o, "%.5f", val_acc);
	rml_outbuf_printf(o, ",\"val_nll\":");
	rml_out_json_num(o, "%.5f", val_nll);
	rml_outbuf_printf(o, "}\n");
}
