/*
 * info.h — what rmlops-info says about one .rml container: a summary for
 * people (kind, metadata, the calibrator in one line, the tensor table,
 * sizes), the same as one JSON object (arrays in full), one digest line
 * per tensor, and the lineage (the steps that made the file). Each is
 * text appended to an rml_outbuf; strings from the file are escaped so
 * that they can neither drive a terminal nor break the JSON.
 *
 * Not here: reading the files (format.h; a file that reads has had every
 * checksum verified, which the summaries say), options and output.
 */
#ifndef RML_INFO_H
#define RML_INFO_H

#include "format.h"
#include "outbuf.h"

/* The summary for people: "NAME: KIND (format version V, checksums ok)",
 * then the metadata but kind and lineage.* (a text with newlines as its
 * size, arrays cut at 10 items), the calibrator's line when the file has
 * one, the tensors (with more than 40, the first 30 and the last 5) and
 * their total size. */
void rml_info_text(rml_outbuf *o, const rml_file *f, const char *name);

/* The same as one JSON line: file, format_version, metadata (every key,
 * arrays in full, null for non-finite numbers), tensors (name, dtype,
 * shape, bytes), tensor_bytes, checksums "ok". */
void rml_info_json(rml_outbuf *o, const rml_file *f, const char *name);

/* One line per tensor: the SHA-256 (hex) of its data, two spaces, its
 * name; files whose provenance differs compare by these lines. */
void rml_info_digest(rml_outbuf *o, const rml_file *f);

/* The history of lineage.history, oldest first, numbered, or "(no
 * recorded history)"; with json one line {"file":...,"history":[...]}
 * whose entries (JSON already) have their control characters escaped. */
void rml_info_lineage(rml_outbuf *o, const rml_file *f, const char *name, int json);

#endif
