/* analysis/plan.h: the capacity planner's file, search and report.
 *
 * A plan is a workload (the base scenario with its "set" overrides),
 * SLOs, a target load in req/s, and candidates: lists of config values
 * (hardware.device, hardware.tp, scheduler.name, ...) whose cartesian
 * product the planner searches.  For each candidate (one replica: the
 * planner sets hardware.num_gpus to the GPUs of one replica) it finds the
 * highest workload.rate_scale at which the replica meets every SLO, by
 * doubling or halving from search.start until the verdict changes, then
 * bisecting until (fail - pass) / pass <= search.rel_tol.  Each rate is
 * run once per seed; a rate passes when, for every SLO, the one-sided
 * Student t bound of the mean over seeds at the plan's confidence meets
 * it (the upper bound of the p-th percentile of TTFT and TPOT, the lower
 * bound of the attainment).  The answer is the mean offered load (req/s)
 * at the highest passing rate; replicas = ceil(target / that), cost =
 * replicas x GPUs per replica x the device's price per GPU-hour
 * (hw/catalog/devices/<id>.json "price_per_hour_usd", or the plan's
 * "prices").  The search assumes that meeting the SLOs is monotone in the
 * rate.  docs/analysis.md documents every key.
 *
 * Pure: the runs themselves are the caller's (cli/cmd_plan.c); this
 * module reads the plan, judges evaluations, steps the search, ranks and
 * writes the table and the Markdown report.  Errors name the plan file
 * and the key path. */
#ifndef LLM_PLAN_H
#define LLM_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/ci.h"
#include "analysis/plot.h"
#include "analysis/sweep.h"
#include "base/diag.h"

struct plan_slo {
    double ttft_ms, tpot_ms;     /* thresholds; 0: not constrained */
    int percentile;              /* 50, 90, 95 or 99 */
    double attainment;           /* fraction meeting both; 0: none */
};

struct plan_search {
    double start, min_scale, max_scale;   /* workload.rate_scale */
    double rel_tol;
    int max_steps;               /* rates tried per candidate */
};

struct plan_spec {
    struct sweep_spec sw;        /* base, set, candidates, seeds, out ... */
    struct plan_slo slo;
    struct plan_search search;
    double target_req_s;
    const cJSON *prices;         /* {"device id": USD per GPU-hour} */
};

int plan_load(const char *path, struct plan_spec *p, struct llm_diag *d);
void plan_free(struct plan_spec *p);

/* The overrides every run of the plan gets after the file's "set": the
 * SLO thresholds, so the runs' slo_attainment counts the plan's SLOs.
 * NULL-terminated, caller frees each and the array (NULL: no memory). */
char **plan_fixed_sets(const struct plan_spec *p);

/* USD per GPU-hour of a device: the plan's price, else catalog (which
 * may be 0: unknown). */
double plan_price(const struct plan_spec *p, const char *device,
                  double catalog);

/* One rate of one candidate, over its seeds. */
struct plan_eval {
    double scale;
    struct ci offered, ttft, tpot, attain;
    bool pass;
    char why[160];               /* the SLO that failed, with its bound */
};

/* Sets e->pass and e->why from the SLOs (bounds at the plan's level). */
void plan_judge(const struct plan_spec *p, struct plan_eval *e);

/* Metric names (analysis/summary.h) of the judged percentiles. */
void plan_metric_names(const struct plan_spec *p, char *ttft, char *tpot,
                       size_t len);

struct plan_bisect {
    double lo, hi;               /* highest pass, lowest fail; 0: none */
    double next;                 /* the rate to run now */
    int steps;
    bool done;
};

void plan_bisect_start(struct plan_bisect *b, const struct plan_search *s);
/* The verdict of b->next; picks the next rate or sets done. */
void plan_bisect_feed(struct plan_bisect *b, const struct plan_search *s,
                      bool pass);

enum plan_status {
    PLAN_OK = 0,                 /* bracketed: pass at lo, fail at hi */
    PLAN_UNBOUNDED,              /* passed at max_scale: a lower bound */
    PLAN_NONE,                   /* failed even at min_scale */
    PLAN_INFEASIBLE              /* the config does not fit */
};

struct plan_result {
    char params[512];            /* the candidate's canonical params */
    char device[64];
    int32_t gpus_per_replica;
    double price_gpu_h;          /* 0: unknown */
    enum plan_status status;
    char note[512];              /* why infeasible, or which SLO binds */
    struct plan_eval best;       /* at the highest passing rate */
    double fail_scale;           /* lowest failing rate, 0: none */
    int steps;
    double rate_req_s;           /* best.offered.mean */
    int64_t replicas, gpus;      /* for the target; 0 when none */
    double cost_h;               /* USD per hour; 0 when unknown */
};

/* Fills replicas, GPUs and cost from best, target and price. */
void plan_size(const struct plan_spec *p, struct plan_result *r);
/* Ranks: sized results by hourly cost (unpriced after priced, then by
 * GPUs), then those that fail at every rate, then infeasible ones. */
void plan_rank(struct plan_result *r, size_t n);

void plan_print_table(FILE *f, const struct plan_spec *p,
                      const struct plan_result *r, size_t n);
/* DIR/report.md (through a temporary name): the plan, the ranked table,
 * the method and the figures in plots (paths relative to DIR). */
int plan_write_report(const struct plan_spec *p, const struct plan_result *r,
                      size_t n, const char *dir, const char *plots_rel,
                      const struct plot_list *plots, struct llm_diag *d);

#endif
