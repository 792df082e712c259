#include "base/plugin.h"

#include <stdlib.h>

int plugin_alloc(struct plugin *p, size_t state_size, struct llm_diag *d)
{
    p->fini = NULL;
    p->st = calloc(1, state_size ? state_size : 1);
    if (p->st == NULL)
        return diag_set(d, LLM_ENOMEM, "out of memory");
    return LLM_OK;
}

int plugin_started(struct plugin *p, int init_rc, void (*fini)(void *st))
{
    if (init_rc == LLM_OK) {
        p->fini = fini;
        return LLM_OK;
    }
    free(p->st);
    p->st = NULL;
    p->fini = NULL;
    return init_rc;
}

void plugin_stop(struct plugin *p)
{
    if (p->fini != NULL)
        p->fini(p->st);
    free(p->st);
    p->st = NULL;
    p->fini = NULL;
}
