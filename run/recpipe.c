#include "run/recpipe.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/diag.h"

enum rec_kind { REC_REQUEST, REC_ITERATION };

struct rec_entry {
    enum rec_kind kind;
    int32_t itl_at;            /* an iteration's gaps: chunk->itl[itl_at..] */
    union {
        struct request q;
        struct iter_record it;
    } u;
};

struct chunk {
    struct chunk *next;        /* in the pipe's free list */
    struct rec_entry e[RECPIPE_CHUNK];
    int32_t n;
    struct itl_pair *itl;      /* the iterations' gaps, one pool a chunk */
    int32_t n_itl, cap_itl;
};

struct recpipe {
    struct sim_recorder inner;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t ready, room;    /* a chunk queued; a queue slot free */
    struct chunk *queue[RECPIPE_QUEUE];
    int32_t head, len;
    struct chunk *fill;            /* the producer's chunk being filled */
    struct chunk *free_list;       /* consumed chunks, for reuse */
    bool closed;                   /* no more chunks will come */
    int rc;                        /* the first wrapped call's error */
    int64_t fail_ns;
};

static struct chunk *chunk_new(void)
{
    return calloc(1, sizeof(struct chunk));
}

static void chunk_free(struct chunk *k)
{
    if (k != NULL)
        free(k->itl);
    free(k);
}

/* The time a record stands for, for the message of a failed one. */
static int64_t entry_ns(const struct rec_entry *e)
{
    if (e->kind == REC_ITERATION)
        return e->u.it.end_ns;
    return e->u.q.finish_ns >= 0 ? e->u.q.finish_ns : e->u.q.arrival_ns;
}

/* Hands chunk k's records to the wrapped recorder, in order, until one
 * fails (p->rc: only this thread writes it, under the lock, so that the
 * producer can read it). */
static void consume(struct recpipe *p, struct chunk *k)
{
    int32_t i;

    for (i = 0; i < k->n && p->rc == LLM_OK; i++) {
        struct rec_entry *e = &k->e[i];
        int rc;
        if (e->kind == REC_REQUEST) {
            rc = p->inner.request_done(p->inner.ctx, &e->u.q);
        } else {
            /* no pool when no iteration of the chunk had gaps */
            e->u.it.itl = k->itl != NULL ? k->itl + e->itl_at : NULL;
            rc = p->inner.iteration(p->inner.ctx, &e->u.it);
        }
        if (rc != LLM_OK) {
            pthread_mutex_lock(&p->mu);
            p->fail_ns = entry_ns(e);
            p->rc = rc;
            pthread_mutex_unlock(&p->mu);
        }
    }
    k->n = 0;
    k->n_itl = 0;
}

static void *consumer(void *arg)
{
    struct recpipe *p = arg;

    for (;;) {
        struct chunk *k;
        pthread_mutex_lock(&p->mu);
        while (p->len == 0 && !p->closed)
            pthread_cond_wait(&p->ready, &p->mu);
        if (p->len == 0) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        k = p->queue[p->head];
        p->head = (p->head + 1) % RECPIPE_QUEUE;
        p->len--;
        pthread_cond_signal(&p->room);
        pthread_mutex_unlock(&p->mu);
        consume(p, k);
        pthread_mutex_lock(&p->mu);
        k->next = p->free_list;
        p->free_list = k;
        pthread_mutex_unlock(&p->mu);
    }
}

/* Queues k for the consumer once the queue has room; p->mu held. */
static void enqueue_locked(struct recpipe *p, struct chunk *k)
{
    while (p->len == RECPIPE_QUEUE)
        pthread_cond_wait(&p->room, &p->mu);
    p->queue[(p->head + p->len) % RECPIPE_QUEUE] = k;
    p->len++;
    pthread_cond_signal(&p->ready);
}

/* Queues the filled chunk and takes an empty one: a consumed one when
 * there is one (at most RECPIPE_QUEUE + 2 chunks are ever made).
 * LLM_ENOMEM when none can be had. */
static int hand_over(struct recpipe *p)
{
    struct chunk *next;

    pthread_mutex_lock(&p->mu);
    enqueue_locked(p, p->fill);
    next = p->free_list;
    if (next != NULL)
        p->free_list = next->next;
    pthread_mutex_unlock(&p->mu);
    p->fill = next != NULL ? next : chunk_new();
    return p->fill != NULL ? LLM_OK : LLM_ENOMEM;
}

/* The consumer's error, once it has one (the producer may see it a
 * chunk late; records after it are dropped either way). */
static int failed(struct recpipe *p)
{
    int rc;

    pthread_mutex_lock(&p->mu);
    rc = p->rc;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* The next free entry of the chunk being filled. */
static int next_entry(struct recpipe *p, struct rec_entry **e)
{
    int rc;

    if (p->fill->n == RECPIPE_CHUNK) {
        rc = hand_over(p);
        if (rc == LLM_OK)
            rc = failed(p);
        if (rc != LLM_OK)
            return rc;
    }
    *e = &p->fill->e[p->fill->n++];
    return LLM_OK;
}

static int pipe_request(void *ctx, const struct request *q)
{
    struct recpipe *p = ctx;
    struct rec_entry *e;
    int rc = next_entry(p, &e);

    if (rc != LLM_OK)
        return rc;
    e->kind = REC_REQUEST;
    e->u.q = *q;
    /* what the request points to is the simulation's, freed after this */
    e->u.q.prefix_hashes = NULL;
    e->u.q.n_prefix_hashes = 0;
    e->u.q.block_hashes = NULL;
    e->u.q.n_block_hashes = 0;
    e->u.q.segs = NULL;
    e->u.q.n_segs = 0;
    e->u.q.prev = e->u.q.next = NULL;
    return LLM_OK;
}

static int pipe_iteration(void *ctx, const struct iter_record *rec)
{
    struct recpipe *p = ctx;
    struct rec_entry *e;
    struct chunk *k;
    int rc = next_entry(p, &e);

    if (rc != LLM_OK)
        return rc;
    k = p->fill;
    if (k->n_itl + rec->n_itl > k->cap_itl) {
        int32_t cap = k->cap_itl ? k->cap_itl : 4096;
        struct itl_pair *n;
        while (cap < k->n_itl + rec->n_itl)
            cap *= 2;
        n = realloc(k->itl, (size_t)cap * sizeof(*n));
        if (n == NULL) {
            k->n--;
            return LLM_ENOMEM;
        }
        k->itl = n;
        k->cap_itl = cap;
    }
    e->kind = REC_ITERATION;
    e->u.it = *rec;
    e->u.it.itl = NULL;            /* set by the consumer, in its chunk */
    e->itl_at = k->n_itl;
    if (rec->n_itl > 0)
        memcpy(k->itl + k->n_itl, rec->itl,
               (size_t)rec->n_itl * sizeof(*rec->itl));
    k->n_itl += rec->n_itl;
    return LLM_OK;
}

int recpipe_start(const struct sim_recorder *inner, struct recpipe **out)
{
    struct recpipe *p = calloc(1, sizeof(*p));
    int made = 0;              /* mutex, ready, room, thread: how many */

    *out = NULL;
    if (p == NULL)
        return LLM_ENOMEM;
    p->inner = *inner;
    p->fill = chunk_new();
    if (p->fill != NULL && pthread_mutex_init(&p->mu, NULL) == 0 &&
        ++made && pthread_cond_init(&p->ready, NULL) == 0 &&
        ++made && pthread_cond_init(&p->room, NULL) == 0 &&
        ++made && pthread_create(&p->thread, NULL, consumer, p) == 0) {
        *out = p;
        return LLM_OK;
    }
    if (made >= 3)
        pthread_cond_destroy(&p->room);
    if (made >= 2)
        pthread_cond_destroy(&p->ready);
    if (made >= 1)
        pthread_mutex_destroy(&p->mu);
    chunk_free(p->fill);
    free(p);
    return LLM_ENOMEM;
}

struct sim_recorder recpipe_recorder(struct recpipe *p)
{
    return (struct sim_recorder){ p,
        p->inner.request_done ? pipe_request : NULL,
        p->inner.iteration ? pipe_iteration : NULL };
}

int recpipe_finish(struct recpipe *p, int64_t *fail_ns)
{
    int rc;

    if (p == NULL)
        return LLM_OK;
    pthread_mutex_lock(&p->mu);
    if (p->fill != NULL && p->fill->n > 0) {
        enqueue_locked(p, p->fill);
        p->fill = NULL;
    }
    p->closed = true;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    rc = p->rc;
    if (rc != LLM_OK && fail_ns != NULL)
        *fail_ns = p->fail_ns;
    chunk_free(p->fill);
    while (p->free_list != NULL) {
        struct chunk *k = p->free_list;
        p->free_list = k->next;
        chunk_free(k);
    }
    pthread_cond_destroy(&p->ready);
    pthread_cond_destroy(&p->room);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return rc;
}
