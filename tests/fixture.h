/* tests/fixture.h: a temporary folder for each test, and files in it.
 *
 * fx_setup/fx_teardown are Check fixtures (tcase_add_checked_fixture):
 * the first makes /tmp/llmsim-test-XXXXXX, the second deletes it.
 * fx_put writes text to a file in the folder and returns its path, which
 * stays valid for the next seven calls (a ring of buffers).  Test-only
 * code: the folder name is process state, one test at a time. */
#ifndef LLM_TEST_FIXTURE_H
#define LLM_TEST_FIXTURE_H

extern char fx_tmpdir[256];

void fx_setup(void);
void fx_teardown(void);
/* The path of name inside the folder (ring of eight buffers). */
const char *fx_path(const char *name);
const char *fx_put(const char *name, const char *text);

#endif
