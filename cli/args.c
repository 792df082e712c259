#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool args_is_help(const char *s)
{
    return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

bool args_want_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (args_is_help(argv[i]))
            return true;
    return false;
}

int args_need_path(FILE *err, const char *cmd, const char *path)
{
    if (access(path, R_OK) == 0)
        return 0;
    fprintf(err, "llmsim %s: %s: cannot open: %s\n", cmd, path,
            strerror(errno));
    return 2;
}
