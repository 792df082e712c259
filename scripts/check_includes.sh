#!/usr/bin/env bash
# scripts/check_includes.sh: the dependency rules of docs/architecture.md
# ("Who may include whom"), checked over the #include lines.
#
#   scripts/check_includes.sh [ROOT]
#
# Reads every .c and .h file of ROOT's layer folders (default: the current
# folder) and each `#include "DIR/FILE"` line in it (system headers, in
# angle brackets, are not llmsim's and are not checked).  An include of
# the file's own folder is always allowed; any other must match one of
# the patterns of the file's folder in the table below.  Prints one line
# per forbidden arrow, "FILE:LINE: includes HEADER (FOLDER/ may include:
# PATTERNS)", and exits 1 when there is one, 0 otherwise, 2 on bad usage.
# make test runs it (tests/check_repo.c); tests/ and scripts/ themselves
# are not layers and may include anything.
set -u

root=${1:-.}
if [ $# -gt 1 ] || [ ! -d "$root" ]; then
    echo "usage: $0 [ROOT]" >&2
    exit 2
fi

# FOLDER  what it may include besides itself (shell patterns; keep this
# table and docs/architecture.md's the same).
rules='
base
sim       base/*
models    base/* sim/batch.h
hw        base/* models/* sim/batch.h
traces    base/* sim/request.h
policies  base/* hw/* models/* sim/batch.h sim/kv.h sim/link.h sim/record.h sim/replica_view.h sim/request.h sim/router.h sim/spec.h
analysis  base/* sim/record.h sim/request.h
run       base/* sim/* models/* hw/* traces/* policies/* analysis/*
cli       base/* run/* analysis/* hw/* models/* traces/* policies/registry.h sim/batch.h sim/request.h
'

bad=0
while read -r folder allowed; do
    [ -n "$folder" ] || continue
    [ -d "$root/$folder" ] || continue
    for f in "$root/$folder"/*.c "$root/$folder"/*.h; do
        [ -e "$f" ] || continue
        while IFS=: read -r line header; do
            case "$header" in "$folder"/*) continue ;; esac
            ok=0
            set -f             # the patterns are for case, not for files
            for pat in $allowed; do
                # shellcheck disable=SC2254
                case "$header" in $pat) ok=1; break ;; esac
            done
            set +f
            if [ $ok = 0 ]; then
                echo "${f#"$root"/}:$line: includes $header" \
                     "($folder/ may include: ${allowed:-nothing of llmsim})"
                bad=1
            fi
        done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
                 sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
    done
done <<< "$rules"
exit $bad
