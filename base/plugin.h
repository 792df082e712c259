/* base/plugin.h: the life of a plug-in's state, the same for every kind
 * of plug-in (schedulers, KV managers, routers, workload sources...: a
 * const ops table with a state_size, an init that reads the plug-in's
 * parameters, and an optional fini).
 *
 *   struct plugin p = { 0 };
 *   rc = plugin_alloc(&p, ops->state_size, d);
 *   if (!rc) rc = plugin_started(&p, ops->init(p.st, ..., d), ops->fini);
 *   ...                                  p.st is the plug-in's state
 *   plugin_stop(&p);                     fini if init succeeded, free
 *
 * plugin_alloc gives state_size zeroed bytes (at least one, so that a
 * stateless plug-in still has a distinct pointer).  plugin_started takes
 * init's result: on success fini becomes owed; on failure the state is
 * freed at once (an init that failed owes no fini) and the code is
 * returned.  plugin_stop calls the fini that is owed, frees the state and
 * leaves p empty: it is right in every state, so an error path never has
 * to know how far the plug-in got.  A struct plugin is a value owned by
 * whoever holds the plug-in; zero-initialised it holds nothing.  Not
 * thread-safe. */
#ifndef LLM_PLUGIN_H
#define LLM_PLUGIN_H

#include <stddef.h>

#include "base/diag.h"

struct plugin {
    void *st;                  /* the state; NULL: none */
    void (*fini)(void *st);    /* owed to st; NULL: nothing owed */
};

/* LLM_OK, or LLM_ENOMEM ("out of memory") with p left empty. */
int plugin_alloc(struct plugin *p, size_t state_size, struct llm_diag *d);
/* init_rc: the plug-in's init's return on p->st; fini: its fini (may be
 * NULL).  Returns init_rc. */
int plugin_started(struct plugin *p, int init_rc, void (*fini)(void *st));
/* Stops p (NULL-safe in the sense of an empty p: nothing happens). */
void plugin_stop(struct plugin *p);

#endif
