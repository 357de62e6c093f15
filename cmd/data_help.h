/*
 * data_help.h — the help texts of rmlops-data: the program's
 * (rmlops-data --help) and each command's (rmlops-data COMMAND --help),
 * kept apart from the program's code; rmlops-data(1) says the same at
 * length. Included by cmd/rmlops-data.c only.
 */
#ifndef RML_DATA_HELP_H
#define RML_DATA_HELP_H

#define DATA_USAGE \
	"Usage: rmlops-data COMMAND [OPTIONS] [ARGS]\n" \
	"Import, reshape and look at image datasets (.rml files of kind dataset).\n" \
	"\n" \
	"Commands:\n" \
	"  import cifar10 DIR|FILE...   CIFAR-10 binary batches (cifar-10-batches-bin);\n" \
	"                               with a directory, --split train|test picks the files\n" \
	"  import cifar100 DIR|FILE     CIFAR-100 binary; --labels fine|coarse\n" \
	"  import folder DIR            DIR/<class>/<image> (PNG, JPEG, BMP, ...)\n" \
	"  import idx IMAGES LABELS     idx3/idx1 files, gzipped or not (MNIST, Fashion-MNIST)\n" \
	"  split [IN]                   stratified split: --fraction F or --count N to -o,\n" \
	"                               the rest to --rest FILE\n" \
	"  take [IN]                    a subset: --count N, --fraction F, --per-class N,\n" \
	"                               --first N, --classes LIST [--relabel], --shuffle\n" \
	"  tasks [IN]                   n-way k-shot episodes: --ways N --shots K\n" \
	"                               --queries Q --episodes E\n" \
	"  concat A B... [--union]      images of B... after those of A\n" \
	"  show [IN]                    a PNG contact sheet (-o sheet.png; --count, --cols, --scale)\n" \
	"  export [IN] DIR              write DIR/<class>/<index>.png\n" \
	"  select -p PREDS [IN]         the most uncertain images of a predictions file:\n" \
	"                               --fraction F or --count N, --by entropy|confidence|\n" \
	"                               margin, to -o (with labels), the rest to --rest FILE\n" \
	"  corrupt [IN]                 a common corruption: --type NAME --severity 1..5\n" \
	"                               (gaussian_noise, shot_noise, impulse_noise, defocus_blur,\n" \
	"                               motion_blur, contrast, brightness, fog, pixelate,\n" \
	"                               jpeg_compression)\n" \
	"\n" \
	"Options:\n" \
	"  -o, --output FILE     output (default standard output)\n" \
	"      --rest FILE       split, select: where the remaining images go\n" \
	"  -p, --predictions FILE  select: the predictions made on IN\n" \
	"      --by MEASURE      select: entropy (default), confidence or margin\n" \
	"      --split train|test   import cifar10/cifar100: which part of a directory\n" \
	"      --labels fine|coarse import cifar100 (default fine)\n" \
	"      --classes LIST    take: class names or indices, comma separated;\n" \
	"                        import idx: 'fashion-mnist' for its class names\n" \
	"      --meta FILE       import cifar10/cifar100: class-name file\n" \
	"      --resize N        import: resize every image to NxN\n" \
	"      --gray-to-rgb     import: expand grey images to three channels\n" \
	"  -s, --seed N          seed of every random choice (default 1)\n" \
	"  -j, --threads N       worker threads (default: all cores)\n" \
	"      --union           concat: merge differing class lists by name\n" \
	"      --json            report as JSON on standard error\n" \
	"  -q, --quiet / -v, --verbose\n" \
	"  -h, --help / -V, --version\n" \
	"\n" \
	"'rmlops-data COMMAND --help' describes one command.\n" \
	"\n" \
	"Example: rmlops-data import folder cifar10/test -o test.rml\n" \
	"         rmlops-data take --per-class 100 < test.rml | rmlops-data show -o sheet.png\n"

#define DATA_HELP_TAKE \
	"Usage: rmlops-data take [--count N | --fraction F | --per-class N | --first N]\n" \
	"                        [--classes LIST [--relabel]] [--shuffle] [IN] [-o OUT] [-s SEED]\n" \
	"A subset, in input order: N or a fraction F of the images at random, N of each\n" \
	"class at random, or the first N. --classes keeps only the listed classes (names\n" \
	"or indices, comma separated); --relabel renumbers them 0..k-1 in list order.\n" \
	"--shuffle puts the result in random order (alone: the whole input shuffled);\n" \
	"the images chosen are the same with and without it.\n"

#define DATA_HELP_IMPORT \
	"Usage: rmlops-data import cifar10 DIR|FILE... [--split train|test] [--meta FILE]\n" \
	"       rmlops-data import cifar100 DIR|FILE [--split train|test] [--labels fine|coarse]\n" \
	"       rmlops-data import folder DIR [--resize N] [--gray-to-rgb]\n" \
	"       rmlops-data import idx IMAGES LABELS [--classes fashion-mnist]\n" \
	"                                            [--resize N] [--gray-to-rgb]\n" \
	"Import images into a dataset (.rml) written to -o FILE or standard output.\n" \
	"  cifar10   binary batches; a directory means data_batch_1..5.bin (train, the\n" \
	"            default) or test_batch.bin, with names from batches.meta.txt\n" \
	"  cifar100  train.bin or test.bin; fine (100) or coarse (20) labels, names from\n" \
	"            fine_label_names.txt or coarse_label_names.txt\n" \
	"  folder    DIR/<class>/<image>, PNG, JPEG, BMP, GIF, PNM or TGA, sorted by name;\n" \
	"            all the same size unless --resize N (area average when shrinking,\n" \
	"            bilinear when enlarging); grey images keep one channel\n" \
	"  idx       MNIST-style idx3 images and idx1 labels, gzipped or plain\n"

#define DATA_HELP_SPLIT \
	"Usage: rmlops-data split (--fraction F | --count N) [IN] -o A.rml [--rest B.rml] [-s SEED]\n" \
	"Stratified split: from each class a share F (or N images in all, spread over the\n" \
	"classes in proportion) goes to -o, the rest to --rest. Both keep the input order.\n"

#define DATA_HELP_TASKS \
	"Usage: rmlops-data tasks --ways N --shots K [--queries Q] [--episodes E] [IN] [-o OUT]\n" \
	"N-way K-shot episodes: per episode N classes at random, K support and Q query\n" \
	"images of each, labels renumbered 0..N-1. Tensors support.images [E,N*K,h,w,c],\n" \
	"support.labels [E,N*K], query.images [E,N*Q,h,w,c], query.labels [E,N*Q],\n" \
	"episode.classes [E,N] (the original class of each new label).\n"

#define DATA_HELP_CONCAT \
	"Usage: rmlops-data concat A B... [--union] [-o OUT]\n" \
	"The images of B... after those of A. The class lists must match, unless --union:\n" \
	"then classes are merged by name (A's first) and labels mapped to the merged list.\n"

#define DATA_HELP_SELECT \
	"Usage: rmlops-data select -p PREDICTIONS (--fraction F | --count N)\n" \
	"                          [--by entropy|confidence|margin] [IN] -o SEL.rml [--rest REST.rml]\n" \
	"The active-learning step: the N (or round(F x n)) images of IN the model was\n" \
	"least sure of, by the entropy of its prediction, 1 - its confidence (top\n" \
	"probability) or 1 - its margin (top minus second probability), written with\n" \
	"their labels; the others to --rest. PREDICTIONS (rmlops-eval -P, rmlops-tta)\n" \
	"must be made on IN: the same number of rows and classes, the same known labels,\n" \
	"and, when it records the digest of its data, the same file. Equal uncertainty\n" \
	"goes by position, earlier first; a row with NaN or infinity is the most\n" \
	"uncertain. Both outputs keep the input order and record the rows they hold\n" \
	"(key select.indices).\n"

#define DATA_HELP_SHOW \
	"Usage: rmlops-data show [IN] -o sheet.png [--count N] [--cols N] [--scale S]\n" \
	"A PNG contact sheet of the first N images (default 100) with their class names,\n" \
	"--cols per row (default 10), each pixel drawn S x S (default 3 for small images).\n" \
	"Refuses to write the PNG to a terminal.\n"

#define DATA_HELP_EXPORT \
	"Usage: rmlops-data export [IN] DIR\n" \
	"Write each image as DIR/<class>/<index>.png (index: its position in the dataset).\n"

#endif
