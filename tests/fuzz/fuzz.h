/* tests/fuzz/fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and feeds the input
 * through the same entry point the command uses (a file path where the
 * parser reads a file, a string where it reads a line).  A harness never
 * aborts on a diagnosed error: only a sanitizer report, a leak, a
 * timeout or a broken invariant (fz_fail) is a finding.  Test-only code:
 * the scratch folder is per process (libFuzzer runs one input at a
 * time). */
#ifndef LLM_FUZZ_H
#define LLM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The process's scratch folder (made on first use, under $TMPDIR or
 * /tmp; removed at exit). */
const char *fz_dir(void);
/* Writes data to fz_dir()/name and returns its path (static buffer, valid
 * until the next call); aborts if the file cannot be written. */
const char *fz_file(const char *name, const uint8_t *data, size_t size);
/* The input as a NUL-terminated string (malloc'd; an embedded NUL ends
 * it, as it would end a C string read from a line). */
char *fz_str(const uint8_t *data, size_t size);
/* A broken invariant: prints why and aborts, so libFuzzer keeps the
 * input as a crash. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2),
                                                   noreturn));

#endif
