/* tests/check_main.c: runs every suite named in tests/suites.h.
 * CK_RUN_SUITE=name runs only one (Check's own variable). */
#include <stdlib.h>

#include "tests/suites.h"

#define LLM_ADD_SUITE(name) srunner_add_suite(sr, name##_suite());

int main(void)
{
    SRunner *sr = srunner_create(NULL);
    int failed;

    LLM_SUITES(LLM_ADD_SUITE)
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
