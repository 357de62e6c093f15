/*
 * outbuf.c — growing byte buffer and atomic save (outbuf.h).
 */
#include "outbuf.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void rml_outbuf_init(rml_outbuf *b)
{
	memset(b, 0, sizeof *b);
}

void rml_outbuf_free(rml_outbuf *b)
{
	free(b->data);
	rml_outbuf_init(b);
}

void rml_outbuf_add(rml_outbuf *b, const void *data, size_t n)
{
	if (b->failed || n == 0)
		return;
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = 1;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->failed = 1;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	if (data)
		memcpy(b->data + b->len, data, n);
	else
		memset(b->data + b->len, 0, n);
	b->len += n;
}

void rml_outbuf_u16(rml_outbuf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	rml_outbuf_add(b, x, 2);
}

void rml_outbuf_u32(rml_outbuf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	rml_outbuf_add(b, x, 4);
}

void rml_outbuf_u64(rml_outbuf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	rml_outbuf_add(b, x, 8);
}

void rml_outbuf_printf(rml_outbuf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (len < 0) {
		b->failed = 1;
		return;
	}
	if ((size_t)len < sizeof small) {
		rml_outbuf_add(b, small, (size_t)len);
		return;
	}
	char *big = malloc((size_t)len + 1);
	if (!big) {
		b->failed = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)len + 1, fmt, ap);
	va_end(ap);
	rml_outbuf_add(b, big, (size_t)len);
	free(big);
}

void rml_outbuf_json_str(rml_outbuf *b, const char *s)
{
	rml_outbuf_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			rml_outbuf_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			rml_outbuf_printf(b, "\\u%04x", ch);
		else
			rml_outbuf_add(b, &ch, 1);
	}
	rml_outbuf_add(b, "\"", 1);
}

void rml_outbuf_json_num(rml_outbuf *b, double v)
{
	if (isfinite(v))
		rml_outbuf_printf(b, "%.6f", v);
	else
		rml_outbuf_add(b, "null", 4);
}

static rml_status write_all(const rml_outbuf *b, FILE *fp, const char *what, rml_error *err)
{
	if (b->len && fwrite(b->data, 1, b->len, fp) != b->len)
		return rml_errorf(err, RML_ERR_IO, "%s: write failed: %s", what, strerror(errno));
	if (fflush(fp) != 0)
		return rml_errorf(err, RML_ERR_IO, "%s: write failed: %s", what, strerror(errno));
	return RML_OK;
}

rml_status rml_outbuf_save(const rml_outbuf *b, const char *path, rml_error *err)
{
	if (b->failed)
		return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", path);
	if (strcmp(path, "-") == 0)
		return write_all(b, stdout, "standard output", err);
	struct stat sb;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		FILE *fp = fopen(path, "wb");
		if (!fp)
			return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
		rml_status st = write_all(b, fp, path, err);
		if (fclose(fp) != 0 && st == RML_OK)
			st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
		return st;
	}
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	if (!tmp)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	snprintf(tmp, n + 16, "%s.XXXXXX", path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rml_status st = rml_errorf(err, RML_ERR_IO, "%s: cannot create: %s", path,
					   strerror(errno));
		free(tmp);
		return st;
	}
	mode_t um = umask(0);
	umask(um);
	if (fchmod(fd, 0666 & ~um) != 0) {
		/* The file keeps mkstemp's 0600: still correct, only private. */
	}
	FILE *fp = fdopen(fd, "wb");
	rml_status st = fp ? write_all(b, fp, path, err)
			   : rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (st == RML_OK && fsync(fileno(fp)) != 0)
		st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (fp && fclose(fp) != 0 && st == RML_OK)
		st = rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	if (!fp)
		close(fd);
	if (st == RML_OK && rename(tmp, path) != 0)
		st = rml_errorf(err, RML_ERR_IO, "%s: cannot rename into place: %s", path,
				strerror(errno));
	if (st != RML_OK)
		unlink(tmp);
	free(tmp);
	return st;
}
