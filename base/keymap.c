#include "base/keymap.h"

#include <stdlib.h>

#include "base/diag.h"

/* Fibonacci hashing: the key's well-mixed high bits pick the home slot. */
static int32_t home(const struct keymap *m, uint64_t key)
{
    return (int32_t)((key * 0x9E3779B97F4A7C15ull) >> 33) & (m->cap - 1);
}

/* key's slot, or the empty slot where its probe chain ends. */
static int32_t find(const struct keymap *m, uint64_t key)
{
    int32_t i = home(m, key);

    while (m->slot[i].v >= 0 && m->slot[i].key != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

int32_t keymap_get(const struct keymap *m, uint64_t key)
{
    return m->cap ? m->slot[find(m, key)].v : -1;
}

static int grow(struct keymap *m)
{
    int32_t ncap = m->cap ? 2 * m->cap : 1024, i;
    struct keymap_slot *old = m->slot, *n = malloc((size_t)ncap * sizeof(*n));
    int32_t ocap = m->cap;

    if (n == NULL)
        return LLM_ENOMEM;
    for (i = 0; i < ncap; i++)
        n[i].v = -1;
    m->slot = n;
    m->cap = ncap;
    for (i = 0; i < ocap; i++)
        if (old[i].v >= 0)
            m->slot[find(m, old[i].key)] = old[i];
    free(old);
    return LLM_OK;
}

int keymap_reserve(struct keymap *m)
{
    return 2 * (m->n + 1) >= m->cap ? grow(m) : LLM_OK;
}

int keymap_put(struct keymap *m, uint64_t key, int32_t v)
{
    int32_t i;

    if (keymap_reserve(m) != LLM_OK)
        return LLM_ENOMEM;
    i = find(m, key);
    if (m->slot[i].v < 0)
        m->n++;
    m->slot[i] = (struct keymap_slot){ key, v };
    return LLM_OK;
}

void keymap_del(struct keymap *m, uint64_t key)
{
    int32_t mask = m->cap - 1, i, j;

    if (m->cap == 0 || m->slot[i = find(m, key)].v < 0)
        return;
    m->slot[i].v = -1;
    m->n--;
    /* Backward shift: each later entry of the chain whose home is not in
     * (i, j] moves into the hole, so every chain stays unbroken. */
    for (j = i;;) {
        int32_t h;
        j = (j + 1) & mask;
        if (m->slot[j].v < 0)
            return;
        h = home(m, m->slot[j].key);
        if ((i <= j) ? (i < h && h <= j) : (i < h || h <= j))
            continue;
        m->slot[i] = m->slot[j];
        m->slot[j].v = -1;
        i = j;
    }
}

void keymap_free(struct keymap *m)
{
    free(m->slot);
    *m = (struct keymap){ 0 };
}
