/* tests/fault/shim.c: fault injection at every output call (issue 19).
 *
 * An LD_PRELOAD library for tests, never linked into llmsim: it counts
 * the calls through which llmsim writes its results -- fopen for
 * writing, fwrite, fputs, fputc, fprintf, vfprintf, fflush and fclose of
 * a writable stream (not stdout or stderr), rename, mkdir, open for
 * writing, write and pwrite (fd > 2), fsync and fdatasync (of a file),
 * ftruncate, and
 * SQLite's sqlite3_open, sqlite3_open_v2, sqlite3_exec, sqlite3_prepare_v2 and
 * sqlite3_step -- and makes the n-th one fail.
 *
 *   LLMSIM_FAULT_AT=n      the call to fail (1-based); 0 or unset: none
 *   LLMSIM_FAULT_ERRNO=E   ENOSPC, EROFS or EIO (default) for the libc
 *                          calls; SQLite calls return SQLITE_FULL for
 *                          ENOSPC, SQLITE_IOERR otherwise
 *   LLMSIM_FAULT_LOG=F     appends the failed call's name to F when it
 *                          fails (in whichever process: a sweep forks)
 *   LLMSIM_FAULT_BT=1      prints a backtrace of the failed call
 *   LLMSIM_FAULT_COUNT=F   at exit, writes "CALLS FAILED_NAME\n" to F (the
 *                          number of counted calls; the name of the call
 *                          that was failed, "-" if none)
 *
 * A failed stdio call also sets the stream's error flag (glibc's
 * _IO_ERR_SEEN), as a real write error does, so ferror() sees it.  The
 * counter is this test library's own state, with no lock: in one process
 * one thread at a time makes the counted calls (llmsim's outputs thread
 * during a run, run/recpipe.h, which starts after and is joined before
 * the main thread's own; the simulation thread only reads).
 * Programs llmsim starts (gnuplot, sh) inherit the library but are not
 * counted or failed: only a process named llmsim* is under test. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

static long calls, fail_at;
static int fail_errno = EIO, off, foreign;
static const char *failed = "-";

#define REAL(name) \
    static __typeof__(name) *real_##name; \
    if (real_##name == NULL) \
        real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

__attribute__((constructor)) static void shim_init(void)
{
    const char *at = getenv("LLMSIM_FAULT_AT");
    const char *e = getenv("LLMSIM_FAULT_ERRNO");

    /* Only llmsim is under test: the programs it runs (gnuplot, sh)
     * inherit LD_PRELOAD, and their own writes are theirs to check
     * (llmsim checks their exit status and output files). */
    foreign = strncmp(program_invocation_short_name, "llmsim", 6) != 0;
    off = foreign;
    fail_at = at != NULL ? atol(at) : 0;
    if (e != NULL && strcmp(e, "ENOSPC") == 0)
        fail_errno = ENOSPC;
    else if (e != NULL && strcmp(e, "EROFS") == 0)
        fail_errno = EROFS;
}

__attribute__((destructor)) static void shim_fini(void)
{
    const char *path = getenv("LLMSIM_FAULT_COUNT");
    FILE *f;

    off = 1;
    if (foreign || path == NULL || (f = fopen(path, "w")) == NULL)
        return;
    fprintf(f, "%ld %s\n", calls, failed);
    fclose(f);
}

/* Appends the failed call's name to $LLMSIM_FAULT_LOG at once (a sweep's
 * children end with _exit, which runs no destructor). */
static void note_failed(const char *name)
{
    const char *path = getenv("LLMSIM_FAULT_LOG");
    int fd;

    if (path == NULL)
        return;
    fd = (int)syscall(SYS_open, path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return;
    if (syscall(SYS_write, fd, name, strlen(name)) < 0 ||
        syscall(SYS_write, fd, "\n", 1) < 0)
        fd = -fd - 1;
    syscall(SYS_close, fd < 0 ? -fd - 1 : fd);
}

/* Counts one call; true when it is the one to fail (errno set). */
static int hit(const char *name)
{
    if (off)
        return 0;
    if (++calls != fail_at)
        return 0;
    failed = name;
    note_failed(name);
    if (getenv("LLMSIM_FAULT_BT") != NULL) {   /* where, for a diagnosis */
        void *frames[24];
        backtrace_symbols_fd(frames, backtrace(frames, 24), 2);
    }
    errno = fail_errno;
    return 1;
}

/* SQLite calls its own API (sqlite3_exec steps each statement): only the
 * calls llmsim makes are counted, since failing an inner one would not
 * be a fault SQLite could see (its statement would report no error). */
static int inner(const void *caller)
{
    Dl_info info;

    return dladdr(caller, &info) != 0 && info.dli_fname != NULL &&
           strstr(info.dli_fname, "libsqlite3") != NULL;
}

#define SQL_HIT(name) (!inner(__builtin_return_address(0)) && hit(name))

static int sql_err(void)
{
    return fail_errno == ENOSPC ? SQLITE_FULL : SQLITE_IOERR;
}

static int std_stream(FILE *f)
{
    return f == NULL || f == stdout || f == stderr || f == stdin;
}

/* glibc's FILE: a stream opened read-only has _IO_NO_WRITES (8). */
static int writable(FILE *f)
{
    return !std_stream(f) && (f->_flags & 8) == 0;
}

static void set_err(FILE *f)
{
    f->_flags |= 0x20;          /* _IO_ERR_SEEN */
}

static int write_mode(const char *mode)
{
    return strpbrk(mode, "wa+") != NULL;
}

FILE *fopen(const char *path, const char *mode)
{
    REAL(fopen);
    if (write_mode(mode) && hit("fopen"))
        return NULL;
    return real_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    REAL(fopen64);
    if (write_mode(mode) && hit("fopen64"))
        return NULL;
    return real_fopen64(path, mode);
}

size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
    REAL(fwrite);
    if (writable(f) && hit("fwrite")) {
        set_err(f);
        return 0;
    }
    return real_fwrite(p, size, n, f);
}

int fputs(const char *s, FILE *f)
{
    REAL(fputs);
    if (writable(f) && hit("fputs")) {
        set_err(f);
        return EOF;
    }
    return real_fputs(s, f);
}

int fputc(int c, FILE *f)
{
    REAL(fputc);
    if (writable(f) && hit("fputc")) {
        set_err(f);
        return EOF;
    }
    return real_fputc(c, f);
}

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
    REAL(vfprintf);
    if (writable(f) && hit("vfprintf")) {
        set_err(f);
        return -1;
    }
    return real_vfprintf(f, fmt, ap);
}

int fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    int n;

    REAL(vfprintf);
    if (writable(f) && hit("fprintf")) {
        set_err(f);
        return -1;
    }
    va_start(ap, fmt);
    n = real_vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

int fflush(FILE *f)
{
    REAL(fflush);
    if (writable(f) && hit("fflush")) {
        set_err(f);
        return EOF;
    }
    return real_fflush(f);
}

int fclose(FILE *f)
{
    int w = writable(f), rc;

    REAL(fclose);
    if (w && hit("fclose")) {
        int e = errno;
        real_fclose(f);          /* the descriptor is released all the same */
        errno = e;
        return EOF;
    }
    rc = real_fclose(f);
    return rc;
}

int rename(const char *from, const char *to)
{
    REAL(rename);
    return hit("rename") ? -1 : real_rename(from, to);
}

int mkdir(const char *path, mode_t mode)
{
    REAL(mkdir);
    return hit("mkdir") ? -1 : real_mkdir(path, mode);
}

static int open_writes(int flags)
{
    return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    va_list ap;

    REAL(open);
    if (flags & O_CREAT) {
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (open_writes(flags) && hit("open"))
        return -1;
    return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    va_list ap;

    REAL(open64);
    if (flags & O_CREAT) {
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (open_writes(flags) && hit("open64"))
        return -1;
    return real_open64(path, flags, mode);
}

ssize_t write(int fd, const void *p, size_t n)
{
    REAL(write);
    return fd > 2 && hit("write") ? -1 : real_write(fd, p, n);
}

ssize_t pwrite(int fd, const void *p, size_t n, off_t at)
{
    REAL(pwrite);
    return fd > 2 && hit("pwrite") ? -1 : real_pwrite(fd, p, n, at);
}

ssize_t pwrite64(int fd, const void *p, size_t n, off64_t at)
{
    REAL(pwrite64);
    return fd > 2 && hit("pwrite64") ? -1 : real_pwrite64(fd, p, n, at);
}

/* SQLite ignores a failed fsync of the folder after a commit (os_unix.c
 * unixSync: the data is already synced), so that call is not counted. */
static int is_dir(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

int fsync(int fd)
{
    REAL(fsync);
    return !is_dir(fd) && hit("fsync") ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync);
    return !is_dir(fd) && hit("fdatasync") ? -1 : real_fdatasync(fd);
}

int ftruncate(int fd, off_t len)
{
    REAL(ftruncate);
    return hit("ftruncate") ? -1 : real_ftruncate(fd, len);
}

int sqlite3_open_v2(const char *path, sqlite3 **db, int flags,
                    const char *vfs)
{
    REAL(sqlite3_open_v2);
    if (SQL_HIT("sqlite3_open_v2")) {
        *db = NULL;
        return sql_err();
    }
    return real_sqlite3_open_v2(path, db, flags, vfs);
}

int sqlite3_open(const char *path, sqlite3 **db)
{
    REAL(sqlite3_open);
    if (SQL_HIT("sqlite3_open")) {
        *db = NULL;
        return sql_err();
    }
    return real_sqlite3_open(path, db);
}

int sqlite3_exec(sqlite3 *db, const char *sql,
                 int (*cb)(void *, int, char **, char **), void *arg,
                 char **err)
{
    REAL(sqlite3_exec);
    if (SQL_HIT("sqlite3_exec")) {
        if (err != NULL)
            *err = NULL;
        return sql_err();
    }
    return real_sqlite3_exec(db, sql, cb, arg, err);
}

int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n,
                       sqlite3_stmt **st, const char **tail)
{
    REAL(sqlite3_prepare_v2);
    if (SQL_HIT("sqlite3_prepare_v2")) {
        *st = NULL;
        return sql_err();
    }
    return real_sqlite3_prepare_v2(db, sql, n, st, tail);
}

int sqlite3_step(sqlite3_stmt *st)
{
    REAL(sqlite3_step);
    return SQL_HIT("sqlite3_step") ? sql_err() : real_sqlite3_step(st);
}
