/*
 * dataops.c — the importers and the operations that reshape datasets
 * (see dataops.h); the dataset itself is in dataset.c.
 */
#include "dataops.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "canvas.h"

#define STBI_NO_STDIO_UNUSED
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_ONLY_TGA
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#define MAX_IMAGES ((int64_t)1 << 28)
#define MAX_SIDE 65536

const char *const rml_fashion_mnist_classes[10] = {
	"t-shirt/top", "trouser", "pullover", "dress", "coat",
	"sandal", "shirt", "sneaker", "bag", "ankle boot",
};

static const char *const cifar10_classes[10] = {
	"airplane", "automobile", "bird", "cat", "deer",
	"dog", "frog", "horse", "ship", "truck",
};

static void free_names(char **names, int n)
{
	if (names)
		for (int i = 0; i < n; i++)
			free(names[i]);
	free(names);
}

/* ---- text helpers -------------------------------------------------------------- */

/* Read a file of names, one per non-empty line. */
static rml_status read_names(const char *path, char ***names, int *n, rml_error *err)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	char line[512];
	char **v = NULL;
	int k = 0;
	while (fgets(line, sizeof line, fp)) {
		size_t l = strlen(line);
		while (l && isspace((unsigned char)line[l - 1]))
			line[--l] = 0;
		if (!l)
			continue;
		if (k >= 100000) {
			free_names(v, k);
			fclose(fp);
			return rml_errorf(err, RML_ERR_LIMIT, "%s: more than 100000 names", path);
		}
		char **nv = realloc(v, (size_t)(k + 1) * sizeof *v);
		if (!nv || !(nv[k] = strdup(line))) {
			free_names(nv ? nv : v, k);
			fclose(fp);
			return rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", path);
		}
		v = nv;
		k++;
	}
	fclose(fp);
	*names = v;
	*n = k;
	return RML_OK;
}

/* ---- CIFAR binary ----------------------------------------------------------------- */

/* The largest official CIFAR file holds 50,000 records (CIFAR-100
 * train); a file with more is not a CIFAR batch, and a stream that never
 * ends (/dev/zero) is refused once past this many. */
#define CIFAR_MAX_RECORDS 60000

/* Records of `label_bytes` labels and a 32x32x3 planar image; `which`
 * selects the label byte kept. Appends to d, reading one record at a
 * time and growing the dataset as records arrive, so memory is bounded by
 * what the file holds and by CIFAR_MAX_RECORDS on a stream. */
static rml_status cifar_append(rml_dataset *d, const char *path, int label_bytes, int which,
			       int n_classes, rml_error *err)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", path, strerror(errno));
	size_t rec = (size_t)label_bytes + 3072;
	uint8_t r[2 + 3072];
	int64_t n0 = d->n, add = 0, cap = 0;
	rml_status st = RML_OK;
	for (;;) {
		size_t got = fread(r, 1, rec, fp);
		if (got == 0)
			break;
		if (got != rec) {
			st = rml_errorf(err, RML_ERR_FORMAT,
					"%s: %lld bytes is not a whole number of %zu-byte CIFAR "
					"records (truncated or not a CIFAR batch)",
					path, (long long)((size_t)add * rec + got), rec);
			break;
		}
		if (add == CIFAR_MAX_RECORDS) {
			st = rml_errorf(err, RML_ERR_LIMIT,
					"%s: more than %d records: not a CIFAR batch", path,
					CIFAR_MAX_RECORDS);
			break;
		}
		if (add == cap) {
			cap = cap ? 2 * cap : 1024;
			uint8_t *im = realloc(d->images, (size_t)(n0 + cap) * 3072);
			if (im)
				d->images = im;
			int32_t *lb = realloc(d->labels, (size_t)(n0 + cap) * sizeof *lb);
			if (lb)
				d->labels = lb;
			if (!im || !lb) {
				st = rml_errorf(err, RML_ERR_NOMEM, "%s: out of memory", path);
				break;
			}
		}
		int label = r[which];
		if (label >= n_classes) {
			st = rml_errorf(err, RML_ERR_FORMAT,
					"%s: record %lld has label %d, the format has %d classes", path,
					(long long)add, label, n_classes);
			break;
		}
		d->labels[n0 + add] = label;
		uint8_t *o = d->images + (size_t)(n0 + add) * 3072;
		const uint8_t *px = r + label_bytes;
		for (int p = 0; p < 1024; p++) {
			o[3 * p] = px[p];
			o[3 * p + 1] = px[1024 + p];
			o[3 * p + 2] = px[2048 + p];
		}
		add++;
	}
	if (!st && ferror(fp))
		st = rml_errorf(err, RML_ERR_IO, "%s: read error", path);
	fclose(fp);
	if (!st && add == 0)
		st = rml_errorf(err, RML_ERR_FORMAT,
				"%s: 0 bytes is not a whole number of %zu-byte CIFAR records "
				"(truncated or not a CIFAR batch)", path, rec);
	if (!st)
		d->n = n0 + add;
	return st;
}

rml_status rml_import_cifar10(rml_dataset *d, const char *const *files, int n_files,
			      const char *meta, rml_error *err)
{
	rml_dataset_init(d);
	if (n_files < 1)
		return rml_errorf(err, RML_ERR_ARG, "no CIFAR-10 batch files given");
	d->h = d->w = 32;
	d->c = 3;
	rml_status st = RML_OK;
	for (int i = 0; i < n_files && !st; i++)
		st = cifar_append(d, files[i], 1, 0, 10, err);
	char **names = NULL;
	int n_names = 0;
	if (!st && meta) {
		st = read_names(meta, &names, &n_names, err);
		if (!st && n_names != 10)
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: %d class names, CIFAR-10 has 10",
					meta, n_names);
	}
	if (!st)
		st = rml_dataset_set_classes(d, names ? (const char *const *)names : cifar10_classes,
					     10, err);
	free_names(names, n_names);
	if (!st)
		st = rml_dataset_set_name(d, "cifar10");
	if (st)
		rml_dataset_free(d);
	return st;
}

rml_status rml_import_cifar100(rml_dataset *d, const char *file, int fine,
			       const char *names_file, rml_error *err)
{
	rml_dataset_init(d);
	d->h = d->w = 32;
	d->c = 3;
	int k = fine ? 100 : 20;
	rml_status st = cifar_append(d, file, 2, fine ? 1 : 0, k, err);
	char **names = NULL;
	int n_names = 0;
	if (!st && names_file) {
		st = read_names(names_file, &names, &n_names, err);
		if (!st && n_names != k)
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: %d class names, expected %d",
					names_file, n_names, k);
	}
	if (!st)
		st = rml_dataset_set_classes(d, (const char *const *)names, k, err);
	free_names(names, n_names);
	if (!st)
		st = rml_dataset_set_name(d, fine ? "cifar100" : "cifar100-coarse");
	if (st)
		rml_dataset_free(d);
	return st;
}

/* ---- image folders ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir (no dot files); want_dirs selects
 * directories or regular files. */
static rml_status list_dir(const char *dir, int want_dirs, char ***out, int64_t *n,
			   rml_error *err)
{
	DIR *dp = opendir(dir);
	if (!dp)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", dir, strerror(errno));
	char **v = NULL;
	int64_t k = 0, cap = 0;
	struct dirent *e;
	rml_status st = RML_OK;
	size_t dl = strlen(dir);
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		char *full = malloc(dl + strlen(e->d_name) + 2);
		if (!full) {
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			break;
		}
		sprintf(full, "%s/%s", dir, e->d_name);
		struct stat sb;
		int isdir = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
		int isreg = stat(full, &sb) == 0 && S_ISREG(sb.st_mode);
		free(full);
		if (want_dirs ? !isdir : !isreg)
			continue;
		if (k == cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(v, (size_t)cap * sizeof *v);
			if (!nv) {
				st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
				break;
			}
			v = nv;
		}
		if (!(v[k] = strdup(e->d_name))) {
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			break;
		}
		k++;
	}
	closedir(dp);
	if (st) {
		for (int64_t i = 0; i < k; i++)
			free(v[i]);
		free(v);
		return st;
	}
	if (k)
		qsort(v, (size_t)k, sizeof *v, cmp_str);
	*out = v;
	*n = k;
	return RML_OK;
}

/* Resize one image (area average when shrinking, bilinear when growing). */
static void resize_image(uint8_t *dst, int oh, int ow, const uint8_t *src, int h, int w, int c)
{
	for (int y = 0; y < oh; y++)
		for (int x = 0; x < ow; x++)
			for (int ch = 0; ch < c; ch++) {
				double v;
				if (h >= oh && w >= ow) {
					double y0 = (double)y * h / oh, y1 = (double)(y + 1) * h / oh;
					double x0 = (double)x * w / ow, x1 = (double)(x + 1) * w / ow;
					double s = 0, a = 0;
					for (int sy = (int)y0; sy < (int)ceil(y1) && sy < h; sy++) {
						double wy = fmin(y1, sy + 1) - fmax(y0, sy);
						for (int sx = (int)x0; sx < (int)ceil(x1) && sx < w; sx++) {
							double wx = fmin(x1, sx + 1) - fmax(x0, sx);
							s += wy * wx * src[((size_t)sy * w + sx) * c + ch];
							a += wy * wx;
						}
					}
					v = a > 0 ? s / a : 0;
				} else {
					double fy = ((double)y + 0.5) * h / oh - 0.5;
					double fx = ((double)x + 0.5) * w / ow - 0.5;
					fy = fmax(0, fmin(fy, h - 1));
					fx = fmax(0, fmin(fx, w - 1));
					int y0 = (int)fy, x0 = (int)fx;
					int y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
					double ty = fy - y0, tx = fx - x0;
					double a = src[((size_t)y0 * w + x0) * c + ch];
					double b = src[((size_t)y0 * w + x1) * c + ch];
					double cc = src[((size_t)y1 * w + x0) * c + ch];
					double dd = src[((size_t)y1 * w + x1) * c + ch];
					v = (a * (1 - tx) + b * tx) * (1 - ty) + (cc * (1 - tx) + dd * tx) * ty;
				}
				dst[((size_t)y * ow + x) * c + ch] = (uint8_t)lrint(fmin(255, fmax(0, v)));
			}
}

typedef struct {
	char *path;
	int label;
	uint8_t *pix;
	int h, w, c;
	const char *why;
} folder_item;

rml_status rml_import_folder(rml_dataset *d, const char *dir, int resize, rml_error *err)
{
	rml_dataset_init(d);
	char **classes = NULL;
	int64_t n_classes = 0;
	rml_status st = list_dir(dir, 1, &classes, &n_classes, err);
	if (st)
		return st;
	if (n_classes == 0) {
		free(classes);
		return rml_errorf(err, RML_ERR_FORMAT, "%s: no class folders (expected DIR/<class>/<image>)",
				  dir);
	}
	folder_item *items = NULL;
	int64_t n = 0, cap = 0;
	for (int64_t ci = 0; ci < n_classes && !st; ci++) {
		char *cdir = malloc(strlen(dir) + strlen(classes[ci]) + 2);
		if (!cdir) {
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
			break;
		}
		sprintf(cdir, "%s/%s", dir, classes[ci]);
		char **files = NULL;
		int64_t nf = 0;
		st = list_dir(cdir, 0, &files, &nf, err);
		for (int64_t i = 0; !st && i < nf; i++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				folder_item *ni = realloc(items, (size_t)cap * sizeof *ni);
				if (!ni) {
					st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
					break;
				}
				items = ni;
			}
			folder_item *it = &items[n];
			memset(it, 0, sizeof *it);
			it->path = malloc(strlen(cdir) + strlen(files[i]) + 2);
			if (!it->path) {
				st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
				break;
			}
			sprintf(it->path, "%s/%s", cdir, files[i]);
			it->label = (int)ci;
			n++;
		}
		for (int64_t i = 0; i < nf; i++)
			free(files[i]);
		free(files);
		free(cdir);
	}
	if (!st && n == 0)
		st = rml_errorf(err, RML_ERR_FORMAT, "%s: no images in the class folders", dir);
	/* Decode in parallel; every image lands in its own slot, so the result
	 * does not depend on the thread count. */
	if (!st) {
#pragma omp parallel for schedule(dynamic, 64)
		for (int64_t i = 0; i < n; i++) {
			int w, h, c;
			uint8_t *p = stbi_load(items[i].path, &w, &h, &c, 0);
			if (!p) {
				items[i].why = stbi_failure_reason();
				continue;
			}
			if (c == 2 || c == 4) {  /* drop alpha */
				int keep = c - 1;
				for (int64_t q = 0; q < (int64_t)w * h; q++)
					for (int ch = 0; ch < keep; ch++)
						p[q * keep + ch] = p[q * c + ch];
				c = keep;
			}
			/* With --resize, shrink right away: only the small copy is
			 * kept, so memory holds one full-size image per thread, not
			 * every image until the end. */
			if (resize && (h != resize || w != resize)) {
				uint8_t *small = malloc((size_t)resize * resize * c);
				if (small)
					resize_image(small, resize, resize, p, h, w, c);
				stbi_image_free(p);
				if (!small) {
					items[i].why = "out of memory";
					continue;
				}
				p = small;
				h = w = resize;
			}
			items[i].pix = p;
			items[i].w = w;
			items[i].h = h;
			items[i].c = c;
		}
	}
	int H = 0, W = 0, C = 1;
	for (int64_t i = 0; i < n && !st; i++) {
		if (!items[i].pix) {
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: cannot read image: %s", items[i].path,
					items[i].why ? items[i].why : "unknown reason");
			break;
		}
		items[i].why = NULL;
		if (items[i].c > C)
			C = items[i].c;
		if (!resize) {
			if (i == 0) {
				H = items[i].h;
				W = items[i].w;
			} else if (items[i].h != H || items[i].w != W) {
				st = rml_errorf(err, RML_ERR_MISMATCH,
						"%s is %dx%d but %s is %dx%d; use --resize",
						items[i].path, items[i].w, items[i].h, items[0].path, W, H);
			}
		}
	}
	if (resize) {
		H = W = resize;
	}
	if (!st)
		st = rml_dataset_alloc(d, n, H, W, C, err);
	if (!st) {
		size_t isz = (size_t)H * W * C;
#pragma omp parallel for schedule(dynamic, 64)
		for (int64_t i = 0; i < n; i++) {
			folder_item *it = &items[i];
			uint8_t *dst = d->images + (size_t)i * isz;
			uint8_t *src = it->pix;
			uint8_t *rgb = NULL;
			if (it->c == 1 && C == 3) {  /* grey among colour: expand */
				rgb = malloc((size_t)it->h * it->w * 3);
				if (!rgb) {  /* each thread marks only its own item */
					it->why = "out of memory";
					continue;
				}
				for (int64_t q = 0; q < (int64_t)it->h * it->w; q++)
					rgb[3 * q] = rgb[3 * q + 1] = rgb[3 * q + 2] = src[q];
				src = rgb;
			}
			if (it->h == H && it->w == W)
				memcpy(dst, src, isz);
			else
				resize_image(dst, H, W, src, it->h, it->w, C);
			free(rgb);
			d->labels[i] = it->label;
		}
		for (int64_t i = 0; i < n && !st; i++)
			if (items[i].why)
				st = rml_errorf(err, RML_ERR_NOMEM, "%s: %s", items[i].path, items[i].why);
		if (!st)
			st = rml_dataset_set_classes(d, (const char *const *)classes, (int)n_classes, err);
	}
	for (int64_t i = 0; i < n; i++) {
		free(items[i].path);
		stbi_image_free(items[i].pix);
	}
	free(items);
	for (int64_t i = 0; i < n_classes; i++)
		free(classes[i]);
	free(classes);
	if (!st) {
		const char *base = strrchr(dir, '/');
		st = rml_dataset_set_name(d, base && base[1] ? base + 1 : dir);
	}
	if (st)
		rml_dataset_free(d);
	return st;
}

/* ---- idx ------------------------------------------------------------------------------ */

static rml_status gz_read(gzFile g, void *p, size_t n, const char *path, rml_error *err)
{
	uint8_t *q = p;
	while (n > 0) {
		unsigned take = n > (1u << 30) ? (1u << 30) : (unsigned)n;
		int got = gzread(g, q, take);
		if (got <= 0)
			return rml_errorf(err, RML_ERR_IO, "%s: truncated (gzip or idx data ends early)",
					  path);
		q += got;
		n -= (size_t)got;
	}
	return RML_OK;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define IDX_BLOCK ((int64_t)16 << 20)

/* n items of item bytes after a header of hdr bytes: for a plain file
 * (gzip reads it directly) its size must hold them all; for a gzip file
 * the total must stay within what a dataset tensor may hold. */
static rml_status idx_size_ok(gzFile g, const char *path, uint64_t n, uint64_t item, int hdr,
			      rml_error *err)
{
	uint64_t need = n * item;  /* n < 2^28, item <= 2^24: no overflow */
	struct stat sb;
	if (gzdirect(g) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size < (uint64_t)hdr + need)
		return rml_errorf(err, RML_ERR_FORMAT,
				  "%s: the header claims %llu items of %llu bytes, but the file holds "
				  "only %lld bytes",
				  path, (unsigned long long)n, (unsigned long long)item,
				  (long long)sb.st_size);
	if (need > RML_MAX_TENSOR_BYTES)
		return rml_errorf(err, RML_ERR_LIMIT, "%s: %llu items of %llu bytes is beyond the limits",
				  path, (unsigned long long)n, (unsigned long long)item);
	return RML_OK;
}

rml_status rml_import_idx(rml_dataset *d, const char *images, const char *labels,
			  const char *const *class_names, int n_names, rml_error *err)
{
	rml_dataset_init(d);
	gzFile gi = gzopen(images, "rb");
	if (!gi)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", images, strerror(errno));
	gzFile gl = gzopen(labels, "rb");
	if (!gl) {
		gzclose(gi);
		return rml_errorf(err, RML_ERR_IO, "%s: %s", labels, strerror(errno));
	}
	uint8_t hi[16], hl[8];
	rml_status st = gz_read(gi, hi, 16, images, err);
	if (!st)
		st = gz_read(gl, hl, 8, labels, err);
	uint32_t n = 0, rows = 0, cols = 0;
	if (!st) {
		if (be32(hi) != 0x00000803)
			st = rml_errorf(err, RML_ERR_FORMAT,
					"%s: not an idx3 image file (magic 0x%08x, expected 0x00000803)",
					images, be32(hi));
		else if (be32(hl) != 0x00000801)
			st = rml_errorf(err, RML_ERR_FORMAT,
					"%s: not an idx1 label file (magic 0x%08x, expected 0x00000801)",
					labels, be32(hl));
	}
	if (!st) {
		n = be32(hi + 4);
		rows = be32(hi + 8);
		cols = be32(hi + 12);
		if (be32(hl + 4) != n)
			st = rml_errorf(err, RML_ERR_MISMATCH, "%s holds %u images but %s %u labels",
					images, n, labels, be32(hl + 4));
		else if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || n > MAX_IMAGES)
			st = rml_errorf(err, RML_ERR_LIMIT, "%s: %u images of %ux%u is not supported",
					images, n, rows, cols);
	}
	/* A plain file must hold what its header claims; a gzip file is read
	 * as a stream, bounded by the largest tensor a dataset may have. */
	if (!st)
		st = idx_size_ok(gi, images, n, (uint64_t)rows * cols, 16, err);
	if (!st)
		st = idx_size_ok(gl, labels, n, 1, 8, err);
	/* Grow as data arrives: read in blocks of at most IDX_BLOCK bytes so a
	 * lying header cannot make us allocate more than the file holds (plus
	 * one block). */
	if (!st) {
		d->h = rows;
		d->w = cols;
		d->c = 1;
		size_t isz = (size_t)rows * cols;
		int64_t block = IDX_BLOCK / (int64_t)isz < 1 ? 1 : IDX_BLOCK / (int64_t)isz;
		if (block > 4096)
			block = 4096;  /* the label buffer below */
		for (int64_t i = 0; i < n && !st; i += block) {
			int64_t b = (int64_t)n - i < block ? (int64_t)n - i : block;
			uint8_t *im = realloc(d->images, (size_t)(i + b) * isz);
			int32_t *lb = realloc(d->labels, (size_t)(i + b) * sizeof *lb);
			if (im)
				d->images = im;
			if (lb)
				d->labels = lb;
			if (!im || !lb) {
				st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
				break;
			}
			st = gz_read(gi, d->images + (size_t)i * isz, (size_t)b * isz, images, err);
			uint8_t raw[4096];
			if (!st)
				st = gz_read(gl, raw, (size_t)b, labels, err);
			for (int64_t j = 0; !st && j < b; j++)
				d->labels[i + j] = raw[j];
			d->n = i + b;
		}
	}
	gzclose(gi);
	gzclose(gl);
	int k = 0;
	for (int64_t i = 0; !st && i < d->n; i++)
		if (d->labels[i] + 1 > k)
			k = d->labels[i] + 1;
	if (!st && class_names) {
		if (k > n_names)
			st = rml_errorf(err, RML_ERR_FORMAT, "%s: label %d but only %d class names",
					labels, k - 1, n_names);
		k = n_names;
	}
	if (!st)
		st = rml_dataset_set_classes(d, class_names, k, err);
	if (!st)
		st = rml_dataset_set_name(d, "idx");
	if (st)
		rml_dataset_free(d);
	return st;
}

/* ---- reshaping ---------------------------------------------------------------------------- */

rml_status rml_dataset_reshape(rml_dataset *d, int size, int to_rgb, rml_error *err)
{
	int64_t H = size > 0 ? size : d->h, W = size > 0 ? size : d->w;
	int64_t C = to_rgb && d->c == 1 ? 3 : d->c;
	if (H == d->h && W == d->w && C == d->c)
		return RML_OK;
	int64_t bytes;
	if (rml_mul_overflow(d->n, H * W * C, &bytes))
		return rml_errorf(err, RML_ERR_LIMIT, "resized dataset would be too large");
	uint8_t *out = malloc((size_t)(bytes ? bytes : 1));
	if (!out)
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	size_t isz = (size_t)(d->h * d->w * d->c), osz = (size_t)(H * W * C);
#pragma omp parallel for schedule(static)
	for (int64_t i = 0; i < d->n; i++) {
		uint8_t tmp[4096 * 4];
		uint8_t *r = (size_t)(H * W * d->c) <= sizeof tmp ? tmp : out + i * osz;
		const uint8_t *src = d->images + i * isz;
		if (H != d->h || W != d->w)
			resize_image(r, (int)H, (int)W, src, (int)d->h, (int)d->w, (int)d->c);
		else
			memcpy(r, src, isz);
		if (C != d->c) {
			/* Back to front, so expanding in place is safe when r is out. */
			for (int64_t q = H * W - 1; q >= 0; q--) {
				uint8_t v = r[q];
				out[i * osz + 3 * q] = out[i * osz + 3 * q + 1] = out[i * osz + 3 * q + 2] = v;
			}
		} else if (r != out + i * osz) {
			memcpy(out + i * osz, r, osz);
		}
	}
	free(d->images);
	d->images = out;
	d->h = H;
	d->w = W;
	d->c = C;
	return RML_OK;
}

rml_status rml_dataset_select(rml_dataset *dst, const rml_dataset *src, const int64_t *idx,
			      int64_t n, rml_error *err)
{
	rml_dataset_init(dst);
	rml_status st = rml_dataset_alloc(dst, n, src->h, src->w, src->c, err);
	if (!st)
		st = rml_dataset_set_classes(dst, (const char *const *)src->class_names,
					     src->n_classes, err);
	if (!st)
		st = rml_dataset_set_name(dst, src->name);
	if (st) {
		rml_dataset_free(dst);
		return st;
	}
	size_t isz = (size_t)(src->h * src->w * src->c);
	for (int64_t i = 0; i < n; i++) {
		memcpy(dst->images + i * isz, src->images + idx[i] * isz, isz);
		dst->labels[i] = src->labels[idx[i]];
	}
	return RML_OK;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Indices of each class (label -1 counts as its own group at the end). */
typedef struct {
	int64_t *idx;    /* grouped by class */
	int64_t *start;  /* [k+2] */
	int k;
} by_class;

static rml_status group_by_class(const rml_dataset *d, by_class *g, rml_error *err)
{
	g->k = d->n_classes;
	g->idx = malloc((size_t)(d->n ? d->n : 1) * sizeof *g->idx);
	g->start = calloc((size_t)g->k + 2, sizeof *g->start);
	if (!g->idx || !g->start) {
		free(g->idx);
		free(g->start);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int64_t i = 0; i < d->n; i++) {
		int c = d->labels[i] < 0 ? g->k : d->labels[i];
		g->start[c + 1]++;
	}
	for (int c = 0; c <= g->k; c++)
		g->start[c + 1] += g->start[c];
	int64_t *fill = calloc((size_t)g->k + 1, sizeof *fill);
	if (!fill) {
		free(g->idx);
		free(g->start);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (int64_t i = 0; i < d->n; i++) {
		int c = d->labels[i] < 0 ? g->k : d->labels[i];
		g->idx[g->start[c] + fill[c]++] = i;
	}
	free(fill);
	return RML_OK;
}

static void by_class_free(by_class *g)
{
	free(g->idx);
	free(g->start);
}

rml_status rml_dataset_split(const rml_dataset *src, double fraction, int64_t count,
			     uint64_t seed, rml_dataset *a, rml_dataset *b, rml_error *err)
{
	rml_dataset_init(a);
	rml_dataset_init(b);
	if (count > 0)
		fraction = src->n ? (double)count / (double)src->n : 0;
	if (!(fraction >= 0 && fraction <= 1) || count > src->n)
		return rml_errorf(err, RML_ERR_ARG, "split wants a fraction in [0,1] or a count up to %lld",
				  (long long)src->n);
	by_class g;
	rml_status st = group_by_class(src, &g, err);
	if (st)
		return st;
	int64_t *ia = malloc((size_t)(src->n + 1) * sizeof *ia);
	int64_t *ib = malloc((size_t)(src->n + 1) * sizeof *ib);
	uint8_t *to_a = calloc((size_t)src->n + 1, 1);
	if (!ia || !ib || !to_a) {
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	rml_rng r;
	rml_rng_seed(&r, seed);
	/* Largest-remainder rounding so a requested count is met exactly. */
	int64_t want = count > 0 ? count : llround(fraction * (double)src->n);
	int64_t given = 0;
	int G = g.k + 1;
	double *rem = calloc((size_t)G, sizeof *rem);
	int64_t *take = calloc((size_t)G, sizeof *take);
	if (!rem || !take) {
		free(rem);
		free(take);
		st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int c = 0; c < G; c++) {
		double exact = fraction * (double)(g.start[c + 1] - g.start[c]);
		take[c] = (int64_t)floor(exact);
		rem[c] = exact - (double)take[c];
		given += take[c];
	}
	while (given < want) {
		int best = -1;
		for (int c = 0; c < G; c++)
			if (take[c] < g.start[c + 1] - g.start[c] && (best < 0 || rem[c] > rem[best]))
				best = c;
		if (best < 0)
			break;
		take[best]++;
		rem[best] = -1;
		given++;
	}
	for (int c = 0; c < G; c++) {
		int64_t m = g.start[c + 1] - g.start[c];
		rml_rng_shuffle(&r, g.idx + g.start[c], m);
		for (int64_t j = 0; j < take[c]; j++)
			to_a[g.idx[g.start[c] + j]] = 1;
	}
	free(rem);
	free(take);
	int64_t na = 0, nb = 0;
	for (int64_t i = 0; i < src->n; i++) {
		if (to_a[i])
			ia[na++] = i;
		else
			ib[nb++] = i;
	}
	st = rml_dataset_select(a, src, ia, na, err);
	if (!st)
		st = rml_dataset_select(b, src, ib, nb, err);
out:
	free(ia);
	free(ib);
	free(to_a);
	by_class_free(&g);
	if (st) {
		rml_dataset_free(a);
		rml_dataset_free(b);
	}
	return st;
}

rml_status rml_dataset_take(rml_dataset *dst, const rml_dataset *src, const rml_take_opts *o,
			    rml_error *err)
{
	rml_dataset_init(dst);
	int64_t *idx = malloc((size_t)(src->n + 1) * sizeof *idx);
	int *keep_class = calloc((size_t)src->n_classes + 1, sizeof *keep_class);
	if (!idx || !keep_class) {
		free(idx);
		free(keep_class);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	rml_status st = RML_OK;
	for (int i = 0; i < o->n_classes; i++) {
		if (o->classes[i] < 0 || o->classes[i] >= src->n_classes) {
			st = rml_errorf(err, RML_ERR_ARG, "class %d does not exist (the dataset has %d)",
					o->classes[i], src->n_classes);
			break;
		}
		keep_class[o->classes[i]] = i + 1;
	}
	int64_t n = 0;
	for (int64_t i = 0; i < src->n && !st; i++)
		if (!o->classes || (src->labels[i] >= 0 && keep_class[src->labels[i]]))
			idx[n++] = i;
	rml_rng r;
	rml_rng_seed(&r, o->seed);
	if (!st && o->first > 0) {
		if (n > o->first)
			n = o->first;
	} else if (!st && o->per_class > 0) {
		/* Shuffle, then keep the first per_class of each class, in source order. */
		rml_rng_shuffle(&r, idx, n);
		int64_t *seen = calloc((size_t)src->n_classes + 1, sizeof *seen);
		if (!seen)
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		int64_t m = 0;
		for (int64_t i = 0; !st && i < n; i++) {
			int c = src->labels[idx[i]] < 0 ? src->n_classes : src->labels[idx[i]];
			if (seen[c] < o->per_class) {
				seen[c]++;
				idx[m++] = idx[i];
			}
		}
		free(seen);
		n = m;
		qsort(idx, (size_t)n, sizeof *idx, cmp_i64);
	} else if (!st && (o->count > 0 || o->fraction > 0)) {
		int64_t want = o->count > 0 ? o->count : llround(o->fraction * (double)n);
		if (want > n)
			st = rml_errorf(err, RML_ERR_ARG, "asked for %lld images, only %lld available",
					(long long)want, (long long)n);
		else {
			rml_rng_shuffle(&r, idx, n);
			n = want;
			qsort(idx, (size_t)n, sizeof *idx, cmp_i64);
		}
	}
	if (!st && o->shuffle) {
		rml_rng rs;
		rml_rng_seed_stream(&rs, o->seed, 1);
		rml_rng_shuffle(&rs, idx, n);
	}
	if (!st)
		st = rml_dataset_select(dst, src, idx, n, err);
	if (!st && o->classes && o->relabel) {
		const char **names = malloc((size_t)o->n_classes * sizeof *names);
		if (!names)
			st = rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		for (int i = 0; !st && i < o->n_classes; i++)
			names[i] = src->class_names[o->classes[i]];
		for (int64_t i = 0; !st && i < dst->n; i++)
			dst->labels[i] = keep_class[dst->labels[i]] - 1;
		if (!st)
			st = rml_dataset_set_classes(dst, names, o->n_classes, err);
		free(names);
	}
	free(idx);
	free(keep_class);
	if (st)
		rml_dataset_free(dst);
	return st;
}

/* Both concatenations: with unite, b's classes missing from a are added
 * after a's (in b's order) and b's labels are mapped by name. */
static rml_status concat(rml_dataset *dst, const rml_dataset *a, const rml_dataset *b, int unite,
			 rml_error *err)
{
	rml_dataset_init(dst);
	if (a->h != b->h || a->w != b->w || a->c != b->c)
		return rml_errorf(err, RML_ERR_MISMATCH, "images of %lldx%lldx%lld and %lldx%lldx%lld "
				  "cannot be concatenated", (long long)a->h, (long long)a->w,
				  (long long)a->c, (long long)b->h, (long long)b->w, (long long)b->c);
	if (!unite) {
		if (a->n_classes != b->n_classes)
			return rml_errorf(err, RML_ERR_MISMATCH,
					  "class lists differ (%d and %d classes); --union merges them",
					  a->n_classes, b->n_classes);
		for (int i = 0; i < a->n_classes; i++)
			if (strcmp(a->class_names[i], b->class_names[i]) != 0)
				return rml_errorf(err, RML_ERR_MISMATCH,
						  "class %d is '%s' in one and '%s' in the other; "
						  "--union merges them by name",
						  i, a->class_names[i], b->class_names[i]);
	}
	if (a->n > MAX_IMAGES - b->n)
		return rml_errorf(err, RML_ERR_LIMIT, "%lld + %lld images are more than supported",
				  (long long)a->n, (long long)b->n);
	int64_t total = a->n + b->n;
	const char **names = malloc(((size_t)a->n_classes + b->n_classes + 1) * sizeof *names);
	int *map = malloc(((size_t)b->n_classes + 1) * sizeof *map);
	if (!names || !map) {
		free(names);
		free(map);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	int k = a->n_classes;
	for (int i = 0; i < a->n_classes; i++)
		names[i] = a->class_names[i];
	for (int j = 0; j < b->n_classes; j++) {
		map[j] = -1;
		for (int i = 0; i < k && map[j] < 0; i++)
			if (strcmp(names[i], b->class_names[j]) == 0)
				map[j] = i;
		if (map[j] < 0) {  /* only reachable with unite: the lists matched otherwise */
			names[k] = b->class_names[j];
			map[j] = k++;
		}
	}
	rml_status st = rml_dataset_alloc(dst, total, a->h, a->w, a->c, err);
	if (!st)
		st = rml_dataset_set_classes(dst, names, k, err);
	if (!st)
		st = rml_dataset_set_name(dst, a->name);
	if (!st) {
		size_t isz = (size_t)(a->h * a->w * a->c);
		memcpy(dst->images, a->images, (size_t)a->n * isz);
		memcpy(dst->images + (size_t)a->n * isz, b->images, (size_t)b->n * isz);
		memcpy(dst->labels, a->labels, (size_t)a->n * sizeof *a->labels);
		for (int64_t i = 0; i < b->n; i++)
			dst->labels[a->n + i] = b->labels[i] < 0 ? -1 : map[b->labels[i]];
	}
	free(names);
	free(map);
	if (st)
		rml_dataset_free(dst);
	return st;
}

rml_status rml_dataset_concat(rml_dataset *dst, const rml_dataset *a, const rml_dataset *b,
			      rml_error *err)
{
	return concat(dst, a, b, 0, err);
}

rml_status rml_dataset_concat_union(rml_dataset *dst, const rml_dataset *a, const rml_dataset *b,
				    rml_error *err)
{
	return concat(dst, a, b, 1, err);
}

rml_status rml_dataset_tasks(const rml_dataset *src, int ways, int shots, int queries,
			     int episodes, uint64_t seed, rml_file *out, rml_error *err)
{
	if (ways < 2 || shots < 1 || queries < 0 || episodes < 1)
		return rml_errorf(err, RML_ERR_ARG, "tasks need ways >= 2, shots >= 1, queries >= 0, "
				  "episodes >= 1");
	if (ways > src->n_classes)
		return rml_errorf(err, RML_ERR_ARG, "%d-way tasks need %d classes, the dataset has %d",
				  ways, ways, src->n_classes);
	by_class g;
	rml_status st = group_by_class(src, &g, err);
	if (st)
		return st;
	int eligible = 0;
	for (int c = 0; c < g.k; c++)
		eligible += g.start[c + 1] - g.start[c] >= shots + queries;
	if (eligible < ways) {
		by_class_free(&g);
		return rml_errorf(err, RML_ERR_ARG,
				  "only %d classes have %d images (shots + queries); %d-way tasks need %d",
				  eligible, shots + queries, ways, ways);
	}
	int64_t isz = src->h * src->w * src->c;
	int64_t ns = (int64_t)ways * shots, nq = (int64_t)ways * queries;
	int64_t ds[5] = { episodes, ns, src->h, src->w, src->c };
	int64_t dq[5] = { episodes, nq, src->h, src->w, src->c };
	int64_t dls[2] = { episodes, ns }, dlq[2] = { episodes, nq }, dc[2] = { episodes, ways };
	rml_tensor *si = rml_add_tensor(out, "support.images", RML_DTYPE_U8, 5, ds, NULL, err);
	rml_tensor *sl = si ? rml_add_tensor(out, "support.labels", RML_DTYPE_I32, 2, dls, NULL, err) : NULL;
	rml_tensor *qi = sl ? rml_add_tensor(out, "query.images", RML_DTYPE_U8, 5, dq, NULL, err) : NULL;
	rml_tensor *ql = qi ? rml_add_tensor(out, "query.labels", RML_DTYPE_I32, 2, dlq, NULL, err) : NULL;
	rml_tensor *ec = ql ? rml_add_tensor(out, "episode.classes", RML_DTYPE_I32, 2, dc, NULL, err) : NULL;
	/* Adding tensors may move the table: look them up once all exist. */
	if (ec) {
		si = rml_find_tensor(out, "support.images");
		sl = rml_find_tensor(out, "support.labels");
		qi = rml_find_tensor(out, "query.images");
		ql = rml_find_tensor(out, "query.labels");
		ec = rml_find_tensor(out, "episode.classes");
	}
	int *cls = malloc((size_t)g.k * sizeof *cls);
	if (!ec || !cls) {
		free(cls);
		by_class_free(&g);
		return err && err->code ? err->code : RML_ERR_NOMEM;
	}
	rml_rng r;
	rml_rng_seed(&r, seed);
	for (int e = 0; e < episodes; e++) {
		int n_el = 0;
		for (int c = 0; c < g.k; c++)
			if (g.start[c + 1] - g.start[c] >= shots + queries)
				cls[n_el++] = c;
		for (int i = 0; i < ways; i++) {  /* partial Fisher–Yates over classes */
			int j = i + (int)rml_rng_below(&r, (uint64_t)(n_el - i));
			int t = cls[i];
			cls[i] = cls[j];
			cls[j] = t;
		}
		for (int wy = 0; wy < ways; wy++) {
			int c = cls[wy];
			((int32_t *)ec->data)[e * ways + wy] = c;
			int64_t m = g.start[c + 1] - g.start[c];
			int64_t *pool = g.idx + g.start[c];
			for (int j = 0; j < shots + queries; j++) {  /* partial shuffle */
				int64_t k = j + (int64_t)rml_rng_below(&r, (uint64_t)(m - j));
				int64_t t = pool[j];
				pool[j] = pool[k];
				pool[k] = t;
			}
			for (int s = 0; s < shots; s++) {
				int64_t slot = (int64_t)e * ns + (int64_t)wy * shots + s;
				memcpy((uint8_t *)si->data + slot * isz, src->images + pool[s] * isz,
				       (size_t)isz);
				((int32_t *)sl->data)[slot] = wy;
			}
			for (int q = 0; q < queries; q++) {
				int64_t slot = (int64_t)e * nq + (int64_t)wy * queries + q;
				memcpy((uint8_t *)qi->data + slot * isz,
				       src->images + pool[shots + q] * isz, (size_t)isz);
				((int32_t *)ql->data)[slot] = wy;
			}
		}
	}
	free(cls);
	by_class_free(&g);
	st = rml_set_str(out, "kind", "dataset");
	if (!st)
		st = rml_set_str_array(out, "dataset.classes", (const char *const *)src->class_names,
				       src->n_classes);
	if (!st)
		st = rml_set_i64(out, "tasks.ways", ways);
	if (!st)
		st = rml_set_i64(out, "tasks.shots", shots);
	if (!st)
		st = rml_set_i64(out, "tasks.queries", queries);
	if (!st)
		st = rml_set_i64(out, "tasks.episodes", episodes);
	return st ? rml_errorf(err, st, "cannot describe the tasks") : RML_OK;
}

/* ---- looking at a dataset ------------------------------------------------- */

rml_status rml_dataset_sheet_png(const rml_dataset *d, const char *path, int64_t n, int cols,
				 int scale, rml_error *err)
{
	if (n <= 0)
		n = d->n < 100 ? d->n : 100;
	if (n > d->n)
		n = d->n;
	if (n <= 0)
		return rml_errorf(err, RML_ERR_ARG, "the dataset is empty, nothing to show");
	if (cols <= 0)
		cols = 10;
	if (scale <= 0)
		scale = d->h <= 32 ? 3 : 1;
	int rows = (int)((n + cols - 1) / cols);
	int cw = (int)d->w * scale, chh = (int)d->h * scale, lab = 12, pad = 4;
	rml_canvas cv;
	rml_status st = rml_canvas_init(&cv, cols * (cw + pad) + pad, rows * (chh + lab + pad) + pad,
					0xffffff, err);
	if (st)
		return st;
	for (int64_t i = 0; i < n; i++) {
		int x = pad + (int)(i % cols) * (cw + pad), y = pad + (int)(i / cols) * (chh + lab + pad);
		rml_canvas_image(&cv, x, y, d->images + i * d->h * d->w * d->c, (int)d->h, (int)d->w,
				 (int)d->c, scale);
		char text[64];
		int l = d->labels[i];
		snprintf(text, sizeof text, "%s", l >= 0 ? d->class_names[l] : "?");
		int maxch = cw / 6;
		if ((int)strlen(text) > maxch && maxch > 0)
			text[maxch] = 0;
		rml_canvas_text(&cv, x, y + chh + 3, text, 1, 0x202020);
	}
	st = rml_canvas_save_png(&cv, path, err);
	rml_canvas_free(&cv);
	return st;
}

/* A class name becomes a folder name: it must name one entry inside the
 * directory, not the directory itself, its parent, another path or
 * something a terminal acts on. */
static int plain_file_name(const char *s)
{
	if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static char *path_join(const char *a, const char *b)
{
	char *s = malloc(strlen(a) + strlen(b) + 2);
	if (s)
		sprintf(s, "%s/%s", a, b);
	return s;
}

rml_status rml_dataset_export_pngs(const rml_dataset *d, const char *dir,
				   void (*progress)(int64_t done, int64_t total), rml_error *err)
{
	for (int k = 0; k < d->n_classes; k++)
		if (!plain_file_name(d->class_names[k]))
			return rml_errorf(err, RML_ERR_FORMAT,
					  "class %d is named '%s', which is not a plain file name; nothing exported",
					  k, d->class_names[k]);
	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		return rml_errorf(err, RML_ERR_IO, "%s: %s", dir, strerror(errno));
	for (int k = 0; k < d->n_classes; k++) {
		char *sub = path_join(dir, d->class_names[k]);
		if (!sub || (mkdir(sub, 0777) != 0 && errno != EEXIST)) {
			free(sub);
			return rml_errorf(err, RML_ERR_IO, "cannot make a folder for class '%s'",
					  d->class_names[k]);
		}
		free(sub);
	}
	rml_canvas cv = { (int)d->w, (int)d->h, NULL };
	for (int64_t i = 0; i < d->n; i++) {
		if (d->labels[i] < 0)
			continue;
		char name[64];
		snprintf(name, sizeof name, "%06lld.png", (long long)i);
		char *sub = path_join(dir, d->class_names[d->labels[i]]);
		char *path = sub ? path_join(sub, name) : NULL;
		free(sub);
		uint8_t *rgb = path ? malloc((size_t)(d->h * d->w * 3)) : NULL;
		if (!rgb) {
			free(path);
			return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
		}
		const uint8_t *im = d->images + i * d->h * d->w * d->c;
		for (int64_t q = 0; q < d->h * d->w; q++)
			for (int ch = 0; ch < 3; ch++)
				rgb[3 * q + ch] = im[q * d->c + (d->c >= 3 ? ch : 0)];
		cv.px = rgb;
		rml_status st = rml_canvas_save_png(&cv, path, err);
		free(rgb);
		free(path);
		if (st)
			return st;
		if (progress)
			progress(i + 1, d->n);
	}
	return RML_OK;
}

/* ---- rmlops-data import ------------------------------------------------------ */

rml_status rml_import_check(const rml_import_opts *o, rml_error *err)
{
	const int na = o->n_args;
	const char *src = o->source;
	if (!src)
		return rml_errorf(err, RML_ERR_ARG, "import needs a source: cifar10, cifar100, folder or idx");
	if (strcmp(src, "cifar10") == 0) {
		if (na < 1)
			return rml_errorf(err, RML_ERR_ARG, "import cifar10 needs a directory or batch files");
	} else if (strcmp(src, "cifar100") == 0) {
		if (na != 1)
			return rml_errorf(err, RML_ERR_ARG, "import cifar100 needs one directory or file");
	} else if (strcmp(src, "folder") == 0) {
		if (na != 1)
			return rml_errorf(err, RML_ERR_ARG, "import folder needs one directory");
	} else if (strcmp(src, "idx") == 0) {
		if (na != 2)
			return rml_errorf(err, RML_ERR_ARG, "import idx needs an image file and a label file");
		if (o->classes && strcmp(o->classes, "fashion-mnist") != 0)
			return rml_errorf(err, RML_ERR_ARG, "import idx knows --classes fashion-mnist only");
	} else {
		return rml_errorf(err, RML_ERR_ARG,
				  "unknown import source '%s' (cifar10, cifar100, folder, idx)", src);
	}
	return RML_OK;
}

static int is_dir(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* dir/name when it can be read, else NULL. */
static char *readable(const char *dir, const char *name)
{
	char *p = path_join(dir, name);
	if (p && access(p, R_OK) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

static rml_status import_cifar10(rml_dataset *d, const rml_import_opts *o, rml_error *err)
{
	char *const *a = o->args;
	if (o->n_args != 1 || !is_dir(a[0]))
		return rml_import_cifar10(d, (const char *const *)a, o->n_args, o->meta, err);
	char *files[6] = { 0 };
	int nf = 0;
	if (!o->split || strcmp(o->split, "train") == 0)
		for (int i = 1; i <= 5; i++) {
			char name[32];
			snprintf(name, sizeof name, "data_batch_%d.bin", i);
			files[nf++] = path_join(a[0], name);
		}
	else
		files[nf++] = path_join(a[0], "test_batch.bin");
	char *meta = o->meta ? strdup(o->meta) : readable(a[0], "batches.meta.txt");
	rml_status st = rml_import_cifar10(d, (const char *const *)files, nf, meta, err);
	for (int i = 0; i < nf; i++)
		free(files[i]);
	free(meta);
	return st;
}

static rml_status import_cifar100(rml_dataset *d, const rml_import_opts *o, rml_error *err)
{
	const char *a = o->args[0];
	int fine = !o->labels || strcmp(o->labels, "fine") == 0;
	char *file, *names = NULL;
	if (is_dir(a)) {
		file = path_join(a, o->split && strcmp(o->split, "test") == 0 ? "test.bin" : "train.bin");
		names = readable(a, fine ? "fine_label_names.txt" : "coarse_label_names.txt");
	} else {
		file = strdup(a);
	}
	if (o->meta) {
		free(names);
		names = strdup(o->meta);
	}
	rml_status st = rml_import_cifar100(d, file, fine, names, err);
	free(file);
	free(names);
	return st;
}

rml_status rml_import(rml_dataset *d, const rml_import_opts *o, rml_error *err)
{
	rml_status st = rml_import_check(o, err);
	if (st)
		return st;
	const char *src = o->source;
	if (strcmp(src, "cifar10") == 0) {
		st = import_cifar10(d, o, err);
	} else if (strcmp(src, "cifar100") == 0) {
		st = import_cifar100(d, o, err);
	} else if (strcmp(src, "folder") == 0) {
		st = rml_import_folder(d, o->args[0], o->resize, err);
	} else {
		int fashion = o->classes != NULL;
		st = rml_import_idx(d, o->args[0], o->args[1], fashion ? rml_fashion_mnist_classes : NULL,
				    fashion ? 10 : 0, err);
		if (!st && fashion) {
			free(d->name);
			d->name = strdup("fashion-mnist");
		}
	}
	if (!st && (o->resize || o->gray_to_rgb))
		st = rml_dataset_reshape(d, o->resize, o->gray_to_rgb, err);
	/* Every reader refuses an empty dataset: refuse it here, not later. */
	if (!st && d->n < 1)
		st = rml_errorf(err, RML_ERR_FORMAT, "import %s: the input holds no images", src);
	return st;
}

rml_status rml_dataset_class_list(const rml_dataset *d, const char *s, int **out, int *n,
				  rml_error *err)
{
	char *dup = strdup(s), *save = NULL;
	int *v = malloc((strlen(s) + 1) * sizeof *v);
	int k = 0;
	if (!dup || !v) {
		free(dup);
		free(v);
		return rml_errorf(err, RML_ERR_NOMEM, "out of memory");
	}
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int found = -1;
		for (int i = 0; i < d->n_classes; i++)
			if (strcmp(d->class_names[i], t) == 0)
				found = i;
		if (found < 0) {
			char *end;
			long x = strtol(t, &end, 10);
			if (*end == 0 && x >= 0 && x < d->n_classes)
				found = (int)x;
		}
		if (found < 0) {
			rml_status st = rml_errorf(err, RML_ERR_ARG, "no class '%s' in the dataset", t);
			free(dup);
			free(v);
			return st;
		}
		v[k++] = found;
	}
	free(dup);
	*out = v;
	*n = k;
	return RML_OK;
}
