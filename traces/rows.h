/* traces/rows.h: reading a trace file one row at a time.
 *
 * A reader opens a plain or gzip-compressed file through zlib (gzopen
 * reads both) and yields one line at a time without its "\n", a trailing
 * "\r" (CRLF files) or a UTF-8 byte-order mark; a last line with no "\n"
 * is still a line.  The line buffer doubles for long lines, so memory is
 * the longest line, never the file.  Lines are numbered from 1 (a header,
 * if any, is line 1).  Blank lines are skipped by the CSV and JSONL
 * readers.
 *
 * Errors about a row set d->file to the reader's path and the message
 * "line N: COLUMN: expected WHAT, got "TEXT"" (JSONL values are shown as
 * JSON, so a string keeps its quotes and a number has none).  The path
 * is borrowed: it must outlive the reader and any diag it fills.
 * rows_open refuses a folder (LLM_EINVAL: bad input).
 * Owner: the caller (rows_close).  Not thread-safe. */
#ifndef LLM_ROWS_H
#define LLM_ROWS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/diag.h"

struct rows;

/* LLM_EIO naming the path when the file cannot be opened. */
int rows_open(const char *path, struct rows **out, struct llm_diag *d);
void rows_close(struct rows *r);                       /* NULL ok */

/* The next raw line; *line points into the reader until the next call.
 * LLM_EIO for a read or decompression error. */
int rows_next(struct rows *r, char **line, bool *eof, struct llm_diag *d);
long rows_lineno(const struct rows *r);

/* LLM_EINVAL "line N: " + the formatted text, about the current line. */
int rows_fail(const struct rows *r, struct llm_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "line N: COL: expected WHAT, got "TEXT"" (TEXT cut at 60 bytes; no
 * "COL: " when col is NULL). */
int rows_bad(const struct rows *r, const char *col, const char *what,
             const char *text, struct llm_diag *d);
/* The same with the value rendered as JSON; NULL value: "COL: missing". */
int rows_bad_json(const struct rows *r, const char *col, const char *what,
                  const cJSON *value, struct llm_diag *d);

/* CSV: line 1 is the header, no column named twice ("line 1: column "X"
 * appears twice in the header"); every later non-blank row must have as
 * many fields ("line N: expected K columns (HEADER), got M").  Fields are
 * split on commas; a field in double quotes may hold commas and "" for a
 * quote, within one line. */
int rows_csv_header(struct rows *r, struct llm_diag *d);
int rows_csv_ncols(const struct rows *r);
const char *rows_csv_header_text(const struct rows *r);
int rows_csv_col(const struct rows *r, const char *name);   /* -1: none */
/* The column's index, or "line 1: expected a column "NAME" (WHY), got the
 * header "..."" (no " (WHY)" when why is NULL). */
int rows_csv_need(const struct rows *r, const char *name, const char *why,
                  int *idx, struct llm_diag *d);
/* *fields[i] point into the reader until the next call. */
int rows_csv_next(struct rows *r, char ***fields, bool *eof,
                  struct llm_diag *d);

/* JSONL: the next non-blank line parsed as a JSON object with no key
 * named twice (jcfg_check_dups, prefixed "line N: "), owned by the
 * reader until the next call ("line N: expected a JSON object, got ..."). */
int rows_json_next(struct rows *r, const cJSON **obj, bool *eof,
                   struct llm_diag *d);

/* Typed fields.  Integers are plain decimal digits with an optional '-'.
 * Times are non-negative decimals ("12", "0.5") counted in units of
 * unit_ns (1000000000 for seconds) and converted exactly to ns; digits
 * finer than 1 ns are rounded half up.  JSON times are numbers converted
 * with llround (exact for integers below 2^53). */
int rows_int(const struct rows *r, const char *col, const char *text,
             int64_t min, int64_t max, int64_t *out, struct llm_diag *d);
int rows_time(const struct rows *r, const char *col, const char *text,
              int64_t unit_ns, int64_t *out_ns, struct llm_diag *d);
int rows_json_int(const struct rows *r, const cJSON *obj, const char *key,
                  bool required, int64_t min, int64_t max, int64_t *out,
                  struct llm_diag *d);
int rows_json_time(const struct rows *r, const cJSON *obj, const char *key,
                   int64_t unit_ns, int64_t *out_ns, struct llm_diag *d);
/* "seconds", "milliseconds", ... for messages about a time column. */
const char *rows_unit_name(int64_t unit_ns);

/* "YYYY-MM-DD HH:MM:SS" with an optional 1-9 digit fraction and an
 * optional "Z" or "+HH:MM"/"-HH:MM" offset (applied), 'T' allowed for the
 * space; years 1900-2199.  Converted by hand (days from the civil date,
 * integer arithmetic) to ns since 1970-01-01 UTC.  false: malformed. */
bool rows_parse_datetime(const char *s, int64_t *out_ns);

/* The one rule for a recorded output of 0 tokens (a request that failed
 * or was cut before its first token): struct req_spec needs >= 1 because
 * the first token comes from the prefill, so 0 is read as 1 and counted in
 * *zeros.  Returns the output tokens to use. */
int32_t rows_output_tokens(int64_t recorded, int64_t *zeros);

#endif
