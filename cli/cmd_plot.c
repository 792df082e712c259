#include "cli/cmd_plot.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/plot.h"
#include "analysis/store.h"
#include "cli/args.h"

static void plot_usage(FILE *f)
{
    fprintf(f, "usage: llmsim plot DB... [--out DIR] [--quiet]\n"
               "  DB: a run's results.sqlite, or a sweep or plan database\n");
}

/* DIR of "DIR/file", or "." for a bare name, plus "/plots". */
static void default_out(const char *db, char *buf, size_t len)
{
    const char *slash = strrchr(db, '/');

    if (slash == NULL)
        snprintf(buf, len, "plots");
    else
        snprintf(buf, len, "%.*s/plots", (int)(slash - db), db);
}

static void list_made(const char *out, const struct plot_list *made)
{
    char t[400];
    size_t i;

    /* a title holds a run or sweep name: never a line of its own */
    for (i = 0; i < made->n; i++)
        printf("%s/%s.png  %s\n", out, made->name[i],
               diag_escape(made->title[i], t, sizeof(t)));
    printf("%zu figures (PNG and SVG) and the data files and plots.gp in "
           "%s\n", made->n, out);
}

int cmd_plot(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, NULL, 'o' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    struct plot_list *made = calloc(1, sizeof(*made));  /* 30 KB */
    struct llm_diag d = { 0 };
    const char *out = NULL;
    char dflt[1024], msg[1200];
    int ch, quiet = 0, rc;

    if (made == NULL)
        return 1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': plot_usage(stdout); free(made); return 0;
        default: plot_usage(stderr); free(made); return 2;
        }
    }
    if (optind >= argc) {
        plot_usage(stderr);
        free(made);
        return 2;
    }
    for (rc = optind; rc < argc; rc++)
        if (args_need_file(stderr, "plot", argv[rc])) {
            free(made);
            return 2;
        }
    if (out == NULL) {
        default_out(argv[optind], dflt, sizeof(dflt));
        out = dflt;
    }
    rc = store_mkdirs(out, &d);
    if (!rc)
        rc = plot_make((const char *const *)argv + optind,
                       (size_t)(argc - optind), out, made, &d);
    if (rc) {
        diag_format(&d, msg, sizeof(msg));
        fprintf(stderr, "llmsim plot: %s\n", msg);
    } else if (!quiet) {
        list_made(out, made);
    }
    free(made);
    return diag_exit_status(rc);
}
