#include "base/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *escape_of(unsigned char c, char tmp[5]);

int diag_set(struct llm_diag *d, int code, const char *fmt, ...)
{
    char raw[sizeof(d->msg)], tmp[5];
    const char *e;
    size_t o = 0, k, i;
    va_list ap;

    if (d == NULL || d->code != LLM_OK)
        return code;
    d->code = code;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* One line, whatever a value from input holds: control bytes are
     * escaped (a backslash is left as is: keys arrive escaped). */
    for (i = 0; raw[i] && o + 1 < sizeof(d->msg); i++, o += k) {
        e = raw[i] == '\\' ? NULL : escape_of((unsigned char)raw[i], tmp);
        k = e ? strlen(e) : 1;
        if (o + k + 1 > sizeof(d->msg))
            break;
        memcpy(d->msg + o, e ? e : raw + i, k);
    }
    d->msg[o] = '\0';
    return code;
}

int diag_prefix(struct llm_diag *d, const char *prefix)
{
    char msg[sizeof(d->msg)];
    int code = d->code;

    if (code == LLM_OK)
        return LLM_OK;
    snprintf(msg, sizeof(msg), "%s", d->msg);
    d->code = LLM_OK;              /* replace the first report */
    return diag_set(d, code, "%s: %s", prefix, msg);
}

void diag_format(const struct llm_diag *d, char *buf, int len)
{
    if (d->file != NULL)
        snprintf(buf, (size_t)len, "%s: %s", d->file, d->msg);
    else
        snprintf(buf, (size_t)len, "%s", d->msg);
}

/* The escape of byte c, or NULL when it stands for itself. */
static const char *escape_of(unsigned char c, char tmp[5])
{
    if (c == '\n')
        return "\\n";
    if (c == '\r')
        return "\\r";
    if (c == '\t')
        return "\\t";
    if (c == '\\')
        return "\\\\";
    if (c >= 0x20 && c != 0x7f)
        return NULL;
    snprintf(tmp, 5, "\\x%02x", c);
    return tmp;
}

const char *diag_escape(const char *s, char *buf, size_t len)
{
    size_t o = 0, k;
    const char *e;
    char tmp[5], one[2] = { 0, 0 };

    for (; *s; s++) {
        e = escape_of((unsigned char)*s, tmp);
        if (e == NULL) {
            one[0] = *s;
            e = one;
        }
        k = strlen(e);
        if (o + k + 4 > len) {   /* room for "..." and the NUL */
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(buf + o, e, k);
        o += k;
    }
    buf[o] = '\0';
    return buf;
}

int diag_exit_status(int code)
{
    if (code == LLM_OK)
        return 0;
    if (code == LLM_EINVAL || code == LLM_ENOTFOUND || code == LLM_ERANGE)
        return 2;
    return 1;
}
