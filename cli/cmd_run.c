#include "cli/cmd_run.h"

#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/summary.h"
#include "cli/args.h"
#include "run/run.h"

/* A number of the summary (analysis/summary.h), NaN when absent. */
static double num(const cJSON *s, const char *a, const char *b)
{
    return summary_num(s, a, b);
}

/* The unit a row of latencies reads best in, from its largest value
 * (issue 18): ms below 10 s, s below 10 min, else min, so that a number
 * never outgrows its column.  *div: ms per unit. */
static const char *row_unit(double max_ms, double *div)
{
    if (!(max_ms >= 1e4)) {          /* NaN too: nothing to scale */
        *div = 1;
        return "ms";
    }
    *div = max_ms < 6e5 ? 1e3 : 6e4;
    return max_ms < 6e5 ? "s" : "min";
}

/* " %9.2f" or "       n/a": every column 10 wide, at least one space. */
static void print_cell(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, " %9.2f", v);
    else
        fprintf(f, " %9s", "n/a");
}

/* A percentage of a figure that may be missing: "12.3%" or "n/a". */
static const char *pct(double frac, char *buf, size_t n)
{
    if (!isfinite(frac))
        return "n/a";
    snprintf(buf, n, "%.1f%%", 100 * frac);
    return buf;
}

/* The SLOs as the goodput line names them. */
static const char *slo_text(const struct scenario *sc, char *buf, size_t n)
{
    int k = snprintf(buf, n, "TTFT <= %g ms", sc->slo_ttft_ms);

    if (sc->slo_ttft_ms_per_prompt_token > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, " + %g ms/prompt token",
                      sc->slo_ttft_ms_per_prompt_token);
    if ((size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", TPOT <= %g ms",
                      sc->slo_tpot_ms);
    if (sc->slo_e2e_ms >= 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", E2E <= %g ms",
                      sc->slo_e2e_ms);
    if (sc->slo_tbt_ema_ms > 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, ", gap EMA < %g ms",
                 sc->slo_tbt_ema_ms);
    return buf;
}

static void print_header(FILE *f, const cJSON *s,
                         const struct scenario *sc)
{
    const char *tab = cJSON_GetStringValue(cJSON_GetObjectItem(s,
                                                               "cost_tables"));
    char a[32], b[32], x[128];
    bool none = !(num(s, "requests_completed", NULL) > 0);

    fprintf(f, "%s: %s on %d x %s (tp %d, pp %d, %d replica%s), scheduler %s, "
            "cost model %s", sc->name, sc->model.id, sc->num_gpus,
            sc->dev.id, sc->shard.tp, sc->shard.pp > 0 ? sc->shard.pp : 1,
            sc->replicas, sc->replicas == 1 ? "" : "s", sc->sched->name,
            cJSON_GetStringValue(cJSON_GetObjectItem(s, "cost_model")));
    if (tab != NULL && tab[0] != '\0' && strcmp(tab, sc->dev.id) != 0)
        fprintf(f, " (tables borrowed from %s)", tab);
    fprintf(f, "\n");
    fprintf(f, "requests   %.0f completed, %.0f rejected, %.0f preemptions, "
            "%.1f s simulated\n", num(s, "requests_completed", NULL),
            num(s, "requests_rejected", NULL), num(s, "preemptions", NULL),
            num(s, "duration_s", NULL));
    fprintf(f, "throughput %.2f req/s, %.0f output tok/s, %.0f tok/s\n",
            num(s, "throughput_req_s", NULL),
            num(s, "throughput_out_tok_s", NULL),
            num(s, "throughput_tok_s", NULL));
    fprintf(f, "goodput    %.2f req/s (SLO %s: %s of requests)\n",
            num(s, "goodput_req_s", NULL), slo_text(sc, x, sizeof(x)),
            none ? "n/a" : pct(num(s, "slo_attainment", NULL), a, sizeof(a)));
    fprintf(f, "KV cache   %.0f blocks of %d tokens, mean use %s, max %s; "
            "queue mean %.1f, max %.0f\n", num(s, "kv_blocks", NULL),
            sc->block_tokens, pct(num(s, "kv_util_mean", NULL), a, sizeof(a)),
            pct(num(s, "kv_util_max", NULL), b, sizeof(b)),
            num(s, "queue_len_mean", NULL), num(s, "queue_len_max", NULL));
}

void cmd_run_print_summary(FILE *f, const cJSON *s,
                           const struct scenario *sc)
{
    static const struct { const char *key, *label; } rows[] = {
        { "ttft_ms", "TTFT" }, { "tpot_ms", "TPOT" },
        { "itl_ms", "ITL" }, { "e2e_ms", "E2E latency" },
        { "norm_latency_ms_per_tok", "E2E per output token" },
    };
    static const char *const cols[] = { "mean", "p50", "p90", "p95", "p99" };
    char label[64];
    double div;
    size_t i, j;

    print_header(f, s, sc);
    fprintf(f, "load       utilization %.1f%% (time with requests left "
            "waiting after planning), busy %.1f%%\n",
            100 * num(s, "utilization", NULL),
            100 * num(s, "busy_fraction", NULL));
    if (cJSON_GetObjectItem(s, "sensitivity"))
        fprintf(f, "sensitivity TTFT p90 %+.1f%% with every iteration %+.0f%% "
                "longer\n", 100 * num(s, "sensitivity", "ttft_p90_change"),
                100 * (num(s, "sensitivity", "time_scale") /
                       scenario_time_scale(sc) - 1));
    if (num(s, "utilization", NULL) > RUN_UTILIZATION_WARN)
        fprintf(f, "warning    utilization over %.0f%%: requests queue, and "
                "an iteration-time error of a few %% moves the TTFT tail by "
                "several times as much (run with --sensitivity)\n",
                100 * RUN_UTILIZATION_WARN);
    if (cJSON_GetObjectItem(s, "cluster"))
        fprintf(f, "cluster    %.0f GPUs, $%.2f, $%.3f per 1M output tokens, "
                "%.3f J per output token, goodput %.3f req/s per GPU\n",
                num(s, "cluster", "gpus"), num(s, "cluster", "cost_usd"),
                num(s, "cluster", "usd_per_mtok_out"),
                num(s, "cluster", "energy_j_per_output_token"),
                num(s, "cluster", "goodput_req_s_per_gpu"));
    if (cJSON_GetObjectItem(s, "speculative"))
        fprintf(f, "speculative %s, %.0f drafts per verify: acceptance %s, "
                "%.2f tokens per verify\n",
                cJSON_GetStringValue(cJSON_GetObjectItem(
                    cJSON_GetObjectItem(s, "speculative"), "method")),
                num(s, "speculative", "drafts_per_verify"),
                pct(num(s, "speculative", "acceptance_rate"), label,
                    sizeof(label)),
                1 + num(s, "speculative", "accepted_per_verify"));
    if (cJSON_GetObjectItem(s, "energy_j"))
        fprintf(f, "energy     %.0f kJ, %.3f J per output token (power: %s)\n",
                num(s, "energy_j", NULL) / 1e3,
                num(s, "energy_j_per_output_token", NULL),
                cJSON_GetStringValue(cJSON_GetObjectItem(s, "power_source")));
    fprintf(f, "\n%-27s", "");
    for (j = 0; j < 5; j++)
        fprintf(f, " %9s", cols[j]);
    fprintf(f, "\n");
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double max = NAN;
        for (j = 0; j < 5; j++)   /* the largest printed: fmax skips NaN */
            max = fmax(max, num(s, rows[i].key, cols[j]));
        snprintf(label, sizeof(label), "%s (%s)", rows[i].label,
                 row_unit(max, &div));
        fprintf(f, "%-27s", label);
        for (j = 0; j < 5; j++)
            print_cell(f, num(s, rows[i].key, cols[j]) / div);
        fprintf(f, "\n");
    }
}

static void run_usage(FILE *f)
{
    fprintf(f, "usage: llmsim run CONFIG [--out DIR] [--seed N] "
               "[--engine ID|FILE] [--set key.path=value]... [--format vllm] "
               "[--quiet] [--sensitivity]\n"
               "  shows its progress on stderr when that is a terminal "
               "(not with --quiet)\n"
               "  writes DIR/results.sqlite and DIR/summary.json; "
               "--format vllm also\n  DIR/vllm.json, the summary under "
               "`vllm bench serve`'s result keys\n");
}

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },
        { "seed", required_argument, NULL, 's' },
        { "set", required_argument, NULL, 'S' },
        { "engine", required_argument, NULL, 'E' },
        { "quiet", no_argument, NULL, 'q' },
        { "sensitivity", no_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { NULL, 0, NULL, 0 }
    };
    const char **sets = calloc((size_t)argc + 2, sizeof(*sets));
    char seedset[64], engset[1100];
    struct run_opts o = { 0 };
    struct llm_diag d = { 0 };
    struct scenario sc;
    cJSON *summary = NULL;
    char *end;
    int ch, n = 0, rc;
    bool sens = false;

    if (sets == NULL)
        return 1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:s:S:qhf:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': o.out_dir = optarg; break;
        case 'S': sets[n++] = optarg; break;
        case 'E':
            /* a JSON string, so that jcfg_set takes it as one */
            snprintf(engset, sizeof(engset), "engine=\"%.1000s\"", optarg);
            sets[n++] = engset;
            break;
        case 'q': o.quiet = 1; break;
        case 'T': sens = true; break;
        case 'h': run_usage(stdout); free(sets); return 0;
        case 'f':
            if (strcmp(optarg, "vllm") != 0) {
                fprintf(stderr, "llmsim run: --format: expected \"vllm\", "
                        "got \"%s\"\n", optarg);
                free(sets);
                return 2;
            }
            o.vllm = 1;
            break;
        case 's':
            strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || optarg[0] == '-') {
                fprintf(stderr, "llmsim run: --seed: expected a "
                        "non-negative integer, got \"%s\"\n", optarg);
                free(sets);
                return 2;
            }
            snprintf(seedset, sizeof(seedset), "seed=%s", optarg);
            sets[n++] = seedset;
            break;
        default: run_usage(stderr); free(sets); return 2;
        }
    }
    if (optind != argc - 1) {
        run_usage(stderr);
        free(sets);
        return 2;
    }
    if (args_need_file(stderr, "run", argv[optind])) {
        free(sets);
        return 2;
    }
    o.progress = !o.quiet && isatty(STDERR_FILENO);
    rc = sens ? run_sensitivity(argv[optind], sets, n, &o, &d) : LLM_OK;
    if (rc == LLM_OK)
        rc = scenario_load(argv[optind], sets, &sc, &d);
    else
        memset(&sc, 0, sizeof(sc));
    if (rc == LLM_OK)
        rc = run_scenario(&sc, &o, &summary, NULL, &d);
    if (rc == LLM_OK && !o.quiet) {
        cmd_run_print_summary(stdout, summary, &sc);
        const char *dir = o.out_dir ? o.out_dir : sc.out_dir;
        printf("\nresults    %s/results.sqlite, %s/summary.json%s%s%s\n",
               dir, dir, o.vllm ? ", " : "", o.vllm ? dir : "",
               o.vllm ? "/vllm.json" : "");
    }
    if (rc != LLM_OK) {
        char msg[1200];
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim: %s\n", msg);
    }
    cJSON_Delete(summary);
    scenario_free(&sc);
    free(sets);
    return diag_exit_status(rc);
}
