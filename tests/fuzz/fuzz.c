/* tests/fuzz/fuzz.c: the scratch folder and helpers of fuzz.h. */
#include "tests/fuzz/fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static void rm_dir(void)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

const char *fz_dir(void)
{
    const char *tmp = getenv("TMPDIR");

    if (dir[0] != '\0')
        return dir;
    snprintf(dir, sizeof(dir), "%s/llmsim-fuzz-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL)
        fz_fail("cannot make %s", dir);
    atexit(rm_dir);
    return dir;
}

const char *fz_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", fz_dir(), name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        fz_fail("cannot write %s", path);
    return path;
}

char *fz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        fz_fail("out of memory");
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void fz_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "fuzz: invariant broken: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}
