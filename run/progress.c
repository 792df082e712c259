#include "run/progress.h"

#include <string.h>
#include <time.h>

#include <zlib.h>

static double wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_start(struct progress *p, FILE *f, int64_t total)
{
    memset(p, 0, sizeof(*p));
    p->f = f;
    p->total = total;
    p->t0_s = p->last_s = wall_s();
}

/* "1:02:03" or "2:03". */
static void fmt_duration(char *buf, size_t n, double s)
{
    long t = s > 0 ? (long)(s + 0.5) : 0;

    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void progress_poll(struct progress *p, bool force)
{
    double now = wall_s(), rate, el = now - p->t0_s;
    char of[48] = "", left[48] = "", d[32];
    int w;

    if (p->f == NULL || (!force && now - p->last_s < 1.0 / PROGRESS_HZ))
        return;
    p->last_s = now;
    rate = el > 0 ? (double)p->done / el : 0;
    if (p->total > 0)
        snprintf(of, sizeof(of), " of %lld", (long long)p->total);
    if (p->total > p->done && rate > 0) {
        fmt_duration(d, sizeof(d), (double)(p->total - p->done) / rate);
        snprintf(left, sizeof(left), ", %s left", d);
    }
    w = fprintf(p->f, "\r%.1f s simulated, %lld%s requests, %.0f req/s%s",
                (double)p->sim_ns / 1e9, (long long)p->done, of, rate,
                left) - 1;               /* the visible width */
    if (w < p->width)            /* cover the rest of a longer line */
        fprintf(p->f, "%*s", p->width - w, "");
    p->width = w > p->width ? w : p->width;
    fflush(p->f);
}

void progress_end(struct progress *p)
{
    if (p->f == NULL || p->width == 0)
        return;
    fprintf(p->f, "\r%*s\r", p->width, "");
    fflush(p->f);
}

/* Lines of a (gzip or plain) file, less one for a header that is not a
 * JSON object; 0 if it cannot be read. */
static int64_t count_rows(const char *path)
{
    gzFile g = gzopen(path, "rb");
    char buf[65536];
    int64_t lines = 0;
    int n, last = '\n';
    bool header = false, first = true;

    if (g == NULL)
        return 0;
    while ((n = gzread(g, buf, sizeof(buf))) > 0) {
        if (first)
            header = buf[0] != '{';
        first = false;
        for (int i = 0; i < n; i++)
            lines += buf[i] == '\n';
        last = buf[n - 1];
    }
    gzclose(g);
    lines += last != '\n';       /* a last line without its newline */
    return lines > header ? lines - header : 0;
}

int64_t progress_total(const cJSON *w)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(w, "num_requests");
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(w, "limit");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(w, "path");
    int64_t rows = 0;

    if (cJSON_IsNumber(n))
        return (int64_t)n->valuedouble;
    if (cJSON_IsString(path) &&
        !cJSON_GetObjectItemCaseSensitive(w, "start_s") &&
        !cJSON_GetObjectItemCaseSensitive(w, "end_s") &&
        !cJSON_GetObjectItemCaseSensitive(w, "sample"))
        rows = count_rows(path->valuestring);
    if (cJSON_IsNumber(lim))
        return rows > 0 && rows < lim->valuedouble ? rows
                                                    : (int64_t)lim->valuedouble;
    return rows;
}
