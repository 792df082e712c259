#include "sim/diag.h"

#include <stdarg.h>
#include <stdio.h>

int diag_set(struct llm_diag *d, int code, const char *fmt, ...)
{
    va_list ap;

    if (d == NULL || d->code != LLM_OK)
        return code;
    d->code = code;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    return code;
}

void diag_format(const struct llm_diag *d, char *buf, int len)
{
    if (d->file != NULL)
        snprintf(buf, (size_t)len, "%s: %s", d->file, d->msg);
    else
        snprintf(buf, (size_t)len, "%s", d->msg);
}

int diag_exit_status(int code)
{
    if (code == LLM_OK)
        return 0;
    if (code == LLM_EINVAL || code == LLM_ENOTFOUND || code == LLM_ERANGE)
        return 2;
    return 1;
}
