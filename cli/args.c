#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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

int args_need_file(FILE *err, const char *cmd, const char *path)
{
    struct stat st;

    if (args_need_path(err, cmd, path) != 0)
        return 2;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    fprintf(err, "llmsim %s: %s: expected a file, got a folder\n", cmd,
            path);
    return 2;
}
