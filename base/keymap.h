/* base/keymap.h: an index from 64-bit keys to entry numbers (int32 >= 0)
 * of the caller's own array, for the KV managers that find blocks or
 * texts by hash.
 *
 * Open addressing with linear probing from a multiplicative hash, kept at
 * most half full (grown to twice its size, starting at 1024 slots, before
 * an insert would reach half), and backward-shift deletion, so that no
 * tombstones lengthen the probe chains.  Each slot holds its key, so the
 * map never reads the caller's entries and survives their reallocation.
 * An empty map ({0}) holds nothing and allocates on the first put.  Not
 * thread-safe; no hidden state. */
#ifndef LLM_KEYMAP_H
#define LLM_KEYMAP_H

#include <stdint.h>

struct keymap_slot {
    uint64_t key;
    int32_t v;                 /* -1: empty */
};

struct keymap {
    struct keymap_slot *slot;
    int32_t cap, n;            /* cap: a power of two, or 0 */
};

/* The entry of key, or -1. */
int32_t keymap_get(const struct keymap *m, uint64_t key);
/* Room for one more key: after LLM_OK, the next keymap_put cannot fail.
 * LLM_ENOMEM (and the map unchanged) when it cannot grow. */
int keymap_reserve(struct keymap *m);
/* Maps key to v (v >= 0), replacing what it mapped to; reserves first.
 * LLM_ENOMEM (and the map unchanged) when it cannot grow. */
int keymap_put(struct keymap *m, uint64_t key, int32_t v);
/* Forgets key (nothing when absent). */
void keymap_del(struct keymap *m, uint64_t key);
/* Frees the slots; m is empty again. */
void keymap_free(struct keymap *m);

#endif
