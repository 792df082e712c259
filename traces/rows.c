#include "traces/rows.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "base/jcfg.h"

/* The first buffer fits every line of the shipped traces (the longest,
 * Mooncake's synthetic trace, is 2.7 kB); longer lines double it. */
#define ROWS_BUF0 4096
/* zlib's default 8 kB input buffer makes gzgets slow on large files. */
#define ROWS_GZBUF (128 * 1024)
#define ROWS_SHOW 60        /* bytes of a bad value quoted in a message */

struct rows {
    const char *path;       /* borrowed */
    gzFile gz;
    char *buf;
    size_t cap;
    long lineno;
    /* CSV */
    char *hdr;              /* the header split into names */
    char **names;
    char hdr_text[200];     /* the header as read, for messages */
    int ncols;
    char **fields;          /* ncols + 1 slots: one more detects extras */
    cJSON *json;            /* JSONL: the last object parsed */
};

int rows_open(const char *path, struct rows **out, struct llm_diag *d)
{
    struct rows *r = calloc(1, sizeof(*r));
    struct stat st;

    *out = NULL;
    if (r == NULL || (r->buf = malloc(ROWS_BUF0)) == NULL) {
        free(r);
        return diag_set(d, LLM_ENOMEM, "out of memory opening a trace");
    }
    r->cap = ROWS_BUF0;
    r->path = path;
    errno = 0;
    r->gz = gzopen(path, "rb");
    if (r->gz == NULL) {
        int e = errno;
        rows_close(r);
        if (d != NULL && d->code == LLM_OK)
            d->file = path;
        return diag_set(d, LLM_EIO, "cannot open: %s",
                        e ? strerror(e) : "out of memory");
    }
    /* a folder opens, then fails at the first read: bad input (exit 2) */
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        rows_close(r);
        if (d != NULL && d->code == LLM_OK)
            d->file = path;
        return diag_set(d, LLM_EINVAL, "expected a trace file, got a "
                        "folder");
    }
    gzbuffer(r->gz, ROWS_GZBUF);
    *out = r;
    return LLM_OK;
}

void rows_close(struct rows *r)
{
    if (r == NULL)
        return;
    if (r->gz != NULL)
        gzclose(r->gz);
    cJSON_Delete(r->json);
    free(r->fields);
    free(r->names);
    free(r->hdr);
    free(r->buf);
    free(r);
}

long rows_lineno(const struct rows *r)
{
    return r->lineno;
}

static int read_error(struct rows *r, struct llm_diag *d)
{
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);

    if (d != NULL && d->code == LLM_OK)
        d->file = r->path;
    if (zerr == Z_ERRNO)
        msg = strerror(errno);
    return diag_set(d, LLM_EIO, "line %ld: cannot read: %s", r->lineno + 1,
                    msg);
}

static int grow(struct rows *r, struct llm_diag *d)
{
    char *nb;

    if (r->cap > (size_t)INT_MAX / 2)
        return diag_set(d, LLM_ENOMEM, "line %ld: longer than %d bytes",
                        r->lineno + 1, INT_MAX / 2);
    nb = realloc(r->buf, r->cap * 2);
    if (nb == NULL)
        return diag_set(d, LLM_ENOMEM, "line %ld: out of memory",
                        r->lineno + 1);
    r->buf = nb;
    r->cap *= 2;
    return LLM_OK;
}

/* Reads one line into buf; *len 0 with *eof at the end of the file. */
static int read_line(struct rows *r, size_t *len, bool *eof,
                     struct llm_diag *d)
{
    int zerr = Z_OK;

    *len = 0;
    *eof = false;
    for (;;) {
        if (r->cap - *len < 2 && grow(r, d) != LLM_OK)
            return d->code;
        if (gzgets(r->gz, r->buf + *len, (int)(r->cap - *len)) == NULL) {
            gzerror(r->gz, &zerr);
            if (zerr != Z_OK)
                return read_error(r, d);
            *eof = *len == 0;
            return LLM_OK;
        }
        *len += strlen(r->buf + *len);
        if (*len > 0 && r->buf[*len - 1] == '\n')
            return LLM_OK;
    }
}

int rows_next(struct rows *r, char **line, bool *eof, struct llm_diag *d)
{
    size_t len;
    char *s;
    int rc = read_line(r, &len, eof, d);

    if (rc != LLM_OK || *eof)
        return rc;
    r->lineno++;
    s = r->buf;
    if (len > 0 && s[len - 1] == '\n')
        s[--len] = '\0';
    if (len > 0 && s[len - 1] == '\r')
        s[--len] = '\0';
    if (r->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    *line = s;
    return LLM_OK;
}

int rows_fail(const struct rows *r, struct llm_diag *d, const char *fmt, ...)
{
    char msg[440];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (d != NULL && d->code == LLM_OK)
        d->file = r->path;
    return diag_set(d, LLM_EINVAL, "line %ld: %s", r->lineno, msg);
}

int rows_bad(const struct rows *r, const char *col, const char *what,
             const char *text, struct llm_diag *d)
{
    int cut = strlen(text) > ROWS_SHOW ? ROWS_SHOW - 3 : ROWS_SHOW;

    return rows_fail(r, d, "%s%sexpected %s, got \"%.*s%s\"", col ? col : "",
                     col ? ": " : "", what, cut, text,
                     cut < ROWS_SHOW ? "..." : "");
}

int rows_bad_json(const struct rows *r, const char *col, const char *what,
                  const cJSON *value, struct llm_diag *d)
{
    char *s;
    int rc;

    if (value == NULL)
        return rows_fail(r, d, "%s: missing (expected %s)", col, what);
    s = cJSON_PrintUnformatted(value);
    if (s == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    if (strlen(s) > ROWS_SHOW)
        rc = rows_fail(r, d, "%s: expected %s, got %.*s...", col, what,
                       ROWS_SHOW - 3, s);
    else
        rc = rows_fail(r, d, "%s: expected %s, got %s", col, what, s);
    free(s);
    return rc;
}

/* Splits p in place; stores at most max field starts and returns the
 * field count, or -1 for a quote left open at the end of the line. */
static int csv_split(char *p, char **f, int max)
{
    char *w = p, *start;
    int n = 0;

    for (;;) {
        start = w;
        if (*p == '"') {
            for (p++; *p != '"' || p[1] == '"'; p++) {
                if (*p == '\0')
                    return -1;
                *w++ = *p;
                p += *p == '"';
            }
            p++;
        }
        while (*p != ',' && *p != '\0')
            *w++ = *p++;
        if (n < max)
            f[n] = start;
        n++;
        if (*p == '\0') {
            *w = '\0';
            return n;
        }
        p++;
        *w++ = '\0';
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A column named twice: rows_csv_col would find only the first, and the
 * second would be silently ignored (issue 23). */
static int check_dup_columns(const struct rows *r, struct llm_diag *d)
{
    char **v = malloc((size_t)r->ncols * sizeof(*v)), e[100];
    int i, dup = -1;

    if (v == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory reading a header");
    memcpy(v, r->names, (size_t)r->ncols * sizeof(*v));
    qsort(v, (size_t)r->ncols, sizeof(*v), cmp_name);
    for (i = 1; i < r->ncols && dup < 0; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            dup = i;
    if (dup >= 0)
        rows_fail(r, d, "column \"%s\" appears twice in the header",
                  diag_escape(v[dup], e, sizeof(e)));
    free(v);
    return dup >= 0 ? LLM_EINVAL : LLM_OK;
}

int rows_csv_header(struct rows *r, struct llm_diag *d)
{
    char *line;
    bool eof;
    int rc = rows_next(r, &line, &eof, d);

    if (rc != LLM_OK)
        return rc;
    if (eof) {
        r->lineno = 1;       /* the line the header should have been */
        return rows_fail(r, d, "expected a CSV header, got an empty file");
    }
    snprintf(r->hdr_text, sizeof(r->hdr_text), "%s", line);
    r->hdr = strdup(line);
    r->ncols = 1;
    for (const char *p = line; *p; p++)
        r->ncols += *p == ',';
    r->names = calloc((size_t)r->ncols, sizeof(*r->names));
    r->fields = calloc((size_t)r->ncols + 1, sizeof(*r->fields));
    if (r->hdr == NULL || r->names == NULL || r->fields == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory reading a header");
    r->ncols = csv_split(r->hdr, r->names, r->ncols);
    if (r->ncols < 0)
        return rows_fail(r, d, "unterminated quoted field in the header");
    return check_dup_columns(r, d);
}

int rows_csv_ncols(const struct rows *r)
{
    return r->ncols;
}

const char *rows_csv_header_text(const struct rows *r)
{
    return r->hdr_text;
}

int rows_csv_col(const struct rows *r, const char *name)
{
    for (int i = 0; i < r->ncols; i++)
        if (strcmp(r->names[i], name) == 0)
            return i;
    return -1;
}

int rows_csv_need(const struct rows *r, const char *name, const char *why,
                  int *idx, struct llm_diag *d)
{
    *idx = rows_csv_col(r, name);
    if (*idx >= 0)
        return LLM_OK;
    if (d != NULL && d->code == LLM_OK)
        d->file = r->path;
    return diag_set(d, LLM_EINVAL, "line 1: expected a column \"%s\"%s%s%s, "
                    "got the header \"%s\"", name, why ? " (" : "",
                    why ? why : "", why ? ")" : "", r->hdr_text);
}

int rows_csv_next(struct rows *r, char ***fields, bool *eof,
                  struct llm_diag *d)
{
    char *line;
    int rc, n;

    do {
        rc = rows_next(r, &line, eof, d);
        if (rc != LLM_OK || *eof)
            return rc;
    } while (line[0] == '\0');
    n = csv_split(line, r->fields, r->ncols + 1);
    if (n < 0)
        return rows_fail(r, d, "unterminated quoted field");
    if (n != r->ncols)
        return rows_fail(r, d, "expected %d columns (%s), got %d", r->ncols,
                         r->hdr_text, n);
    *fields = r->fields;
    return LLM_OK;
}

int rows_json_next(struct rows *r, const cJSON **obj, bool *eof,
                   struct llm_diag *d)
{
    struct llm_diag dup = { 0 };
    char *line;
    int rc;

    cJSON_Delete(r->json);
    r->json = NULL;
    do {
        rc = rows_next(r, &line, eof, d);
        if (rc != LLM_OK || *eof)
            return rc;
    } while (line[strspn(line, " \t")] == '\0');
    r->json = cJSON_Parse(line);
    if (!cJSON_IsObject(r->json))
        return rows_bad(r, NULL, "a JSON object", line, d);
    if (jcfg_check_dups(r->json, "", &dup) != LLM_OK)
        return rows_fail(r, d, "%s", dup.msg);
    *obj = r->json;
    return LLM_OK;
}

static bool parse_i64(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    int64_t v = 0;

    s += neg;
    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (INT64_MAX - (*s - '0')) / 10)
            return false;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return *s == '\0';
}

/* The wording jcfg uses, so config and trace messages read alike. */
static void int_what(char *buf, size_t len, int64_t min, int64_t max,
                     bool over)
{
    if (min == 1 && !over)
        snprintf(buf, len, "a positive integer");
    else if (min == 0 && !over)
        snprintf(buf, len, "a non-negative integer");
    else
        snprintf(buf, len, "an integer in [%lld, %lld]", (long long)min,
                 (long long)max);
}

int rows_int(const struct rows *r, const char *col, const char *text,
             int64_t min, int64_t max, int64_t *out, struct llm_diag *d)
{
    char what[80];
    int64_t v = 0;
    bool ok = parse_i64(text, &v);

    if (ok && v >= min && v <= max) {
        *out = v;
        return LLM_OK;
    }
    int_what(what, sizeof(what), min, max, ok && v > max);
    return rows_bad(r, col, what, text, d);
}

const char *rows_unit_name(int64_t unit_ns)
{
    switch (unit_ns) {
    case 1000000000: return "seconds";
    case 1000000:    return "milliseconds";
    case 1000:       return "microseconds";
    default:         return "nanoseconds";
    }
}

/* Exact decimal to ns; unit_ns is a power of ten. */
static bool parse_time(const char *s, int64_t unit_ns, int64_t *out)
{
    int64_t ip = 0, frac = 0, scale = unit_ns, round = -1;
    bool any = false;

    for (; *s >= '0' && *s <= '9'; s++, any = true) {
        if (ip > INT64_MAX / 10)
            return false;
        ip = ip * 10 + (*s - '0');
    }
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, any = true) {
            if (scale > 1) {
                scale /= 10;
                frac += (*s - '0') * scale;
            } else if (round < 0) {
                round = *s >= '5';
            }
        }
    frac += round > 0;
    if (*s != '\0' || !any || ip > (INT64_MAX - frac) / unit_ns)
        return false;
    *out = ip * unit_ns + frac;
    return true;
}

int rows_time(const struct rows *r, const char *col, const char *text,
              int64_t unit_ns, int64_t *out_ns, struct llm_diag *d)
{
    char what[64];

    if (parse_time(text, unit_ns, out_ns))
        return LLM_OK;
    snprintf(what, sizeof(what), "a non-negative number of %s",
             rows_unit_name(unit_ns));
    return rows_bad(r, col, what, text, d);
}

int rows_json_int(const struct rows *r, const cJSON *obj, const char *key,
                  bool required, int64_t min, int64_t max, int64_t *out,
                  struct llm_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char what[80];
    double x;

    if (v == NULL && !required)
        return LLM_OK;
    x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (x == floor(x) && x >= (double)min && x <= (double)max &&
        fabs(x) < 9.0e15) {
        *out = (int64_t)x;
        return LLM_OK;
    }
    int_what(what, sizeof(what), min, max, x > (double)max);
    return rows_bad_json(r, key, what, v, d);
}

int rows_json_time(const struct rows *r, const cJSON *obj, const char *key,
                   int64_t unit_ns, int64_t *out_ns, struct llm_diag *d)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    char what[64];
    double ns = cJSON_IsNumber(v) ? v->valuedouble * (double)unit_ns : NAN;

    if (ns >= 0 && ns < 9.0e18) {
        *out_ns = llround(ns);
        return LLM_OK;
    }
    snprintf(what, sizeof(what), "a non-negative number of %s",
             rows_unit_name(unit_ns));
    return rows_bad_json(r, key, what, v, d);
}

static bool digits(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil, http://howardhinnant.github.io/date_algorithms.html). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return days[m - 1] + (m == 2 && leap);
}

/* "YYYY-MM-DD" to days since the epoch. */
static bool parse_date(const char *s, int64_t *days)
{
    int y, m, d;

    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) ||
        s[7] != '-' || !digits(s + 8, 2, &d))
        return false;
    if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1 ||
        d > month_days(y, m))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

/* "HH:MM:SS" to seconds of the day. */
static bool parse_hms(const char *s, int64_t *secs)
{
    int h, m, sec;

    if (!digits(s, 2, &h) || s[2] != ':' || !digits(s + 3, 2, &m) ||
        s[5] != ':' || !digits(s + 6, 2, &sec))
        return false;
    *secs = h * 3600 + m * 60 + sec;
    return h < 24 && m < 60 && sec < 60;
}

/* A UTC offset "HH:MM" or "HHMM" after its sign; *len: bytes used. */
static bool parse_offset(const char *s, int64_t *secs, int *len)
{
    int h, m;

    if (!digits(s, 2, &h))
        return false;
    *len = s[2] == ':' ? 5 : 4;
    if (!digits(s + *len - 2, 2, &m))
        return false;
    *secs = h * 3600 + m * 60;
    return h < 24 && m < 60;
}

/* ".fffffffff" (1-9 digits) to ns; s points after the seconds. */
static const char *parse_fraction(const char *s, int64_t *ns)
{
    int64_t scale = 1000000000;

    *ns = 0;
    if (*s != '.')
        return s;
    if (s[1] < '0' || s[1] > '9')
        return NULL;
    for (s++; *s >= '0' && *s <= '9'; s++) {
        if (scale == 1)
            return NULL;
        scale /= 10;
        *ns += (*s - '0') * scale;
    }
    return s;
}

bool rows_parse_datetime(const char *s, int64_t *out_ns)
{
    int64_t days, secs, off = 0, frac;
    int len;

    if (!parse_date(s, &days) || (s[10] != ' ' && s[10] != 'T') ||
        !parse_hms(s + 11, &secs))
        return false;
    s = parse_fraction(s + 19, &frac);
    if (s == NULL)
        return false;
    if (*s == 'Z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        if (!parse_offset(s + 1, &off, &len))
            return false;
        off = *s == '-' ? -off : off;
        s += 1 + len;
    }
    if (*s != '\0')
        return false;
    /* Local time minus its UTC offset is UTC. */
    *out_ns = ((days * 86400 + secs) - off) * 1000000000 + frac;
    return true;
}

int32_t rows_output_tokens(int64_t recorded, int64_t *zeros)
{
    if (recorded == 0) {
        (*zeros)++;
        return 1;
    }
    return (int32_t)recorded;
}
