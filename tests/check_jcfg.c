#include <check.h>
#include <stdio.h>
#include <string.h>

#include "base/jcfg.h"
#include "base/names.h"
#include "tests/suites.h"

static cJSON *parse(const char *text)
{
    struct llm_diag d = { 0 };
    cJSON *root = NULL;

    ck_assert_int_eq(jcfg_parse(text, &root, &d), LLM_OK);
    return root;
}

START_TEST(test_int_errors)
{
    cJSON *root = parse("{\"max_num_seqs\": \"abc\", \"b\": 2.5, \"c\": -1}");
    struct llm_diag d = { .file = "configs/x.json" };
    int64_t v = 7;

    ck_assert_int_eq(jcfg_int(root, "scheduler", "max_num_seqs", false, 1,
                              INT64_MAX, &v, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "scheduler.max_num_seqs: expected a positive "
                     "integer, got \"abc\"");
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(jcfg_int(root, "", "b", false, 1, INT64_MAX, &v, &d),
                     LLM_EINVAL);
    ck_assert_str_eq(d.msg, "b: expected a positive integer, got 2.5");
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(jcfg_int(root, "", "c", false, 0, INT64_MAX, &v, &d),
                     LLM_EINVAL);
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(jcfg_int(root, "", "absent", false, 1, INT64_MAX, &v,
                              &d), LLM_OK);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(jcfg_int(root, "x", "absent", true, 1, INT64_MAX, &v,
                              &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "x.absent: missing (expected a positive "
                     "integer)");
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_unknown_key)
{
    cJSON *root = parse("{\"name\": \"vllm\", \"max_num_seq\": 4}");
    static const char *const known[] = { "name", "max_num_seqs", NULL };
    struct llm_diag d = { 0 };

    ck_assert_int_eq(jcfg_known(root, "scheduler", known, &d), LLM_EINVAL);
    ck_assert_str_eq(d.msg, "scheduler.max_num_seq: unknown key (known: "
                     "name, max_num_seqs)");
    cJSON_Delete(root);
}
END_TEST

/* "Find by name, else list the known names" (base/names.h) with a table
 * whose list is far longer than the buffer: the list is cut where the
 * buffer ends and not a byte past it (the guard bytes after the buffer
 * stay; three of the four copies this replaced had no such guard). */
START_TEST(test_names_long_list)
{
    enum { N = 64, SIZE = 40 };
    char names[N][24], *table[N + 1];
    struct { char buf[SIZE]; char guard[16]; } out;
    size_t i;

    for (i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "a-rather-long-name-%02zu", i);
        table[i] = names[i];
    }
    table[N] = NULL;
    memset(out.guard, 'G', sizeof(out.guard));
    ck_assert_int_eq(names_find(table, names_of_strings, "a-rather-long-name-17",
                                out.buf, sizeof(out.buf)), 17);
    ck_assert_int_eq(names_find(table, names_of_strings, "absent", out.buf,
                                sizeof(out.buf)), -1);
    ck_assert_uint_eq(strlen(out.buf), SIZE - 1);
    ck_assert_str_eq(out.buf, "a-rather-long-name-00, a-rather-long-na");
    for (i = 0; i < sizeof(out.guard); i++)
        ck_assert_int_eq(out.guard[i], 'G');
    names_list(table, names_of_strings, out.buf, 1);
    ck_assert_str_eq(out.buf, "");
}
END_TEST

/* The same lookup behind jcfg_known: 64 known keys of 21 characters
 * (over 1400 bytes of list) and an unknown one give one message, cut to
 * the diagnostic's size. */
START_TEST(test_unknown_key_long_list)
{
    char names[64][24];
    const char *known[65];
    cJSON *o = cJSON_Parse("{\"zzz\": 1}");
    struct llm_diag d = { 0 };
    size_t i;

    for (i = 0; i < 64; i++) {
        snprintf(names[i], sizeof(names[i]), "a-rather-long-name-%02zu", i);
        known[i] = names[i];
    }
    known[64] = NULL;
    ck_assert_int_eq(jcfg_known(o, "", known, &d), LLM_EINVAL);
    ck_assert_ptr_nonnull(strstr(d.msg, "zzz: unknown key (known: "
                                        "a-rather-long-name-00, "));
    ck_assert_ptr_null(strstr(d.msg, "a-rather-long-name-63"));
    cJSON_Delete(o);
}
END_TEST

START_TEST(test_parse_error_position)
{
    struct llm_diag d = { 0 };
    cJSON *root = NULL;

    ck_assert_int_eq(jcfg_parse("{\n  \"a\": 1,\n  oops\n}", &root, &d),
                     LLM_EINVAL);
    ck_assert_ptr_null(root);
    ck_assert_str_eq(d.msg, "line 3 column 4: invalid JSON");
    memset(&d, 0, sizeof(d));
    ck_assert_int_eq(jcfg_parse("[1,2]", &root, &d), LLM_EINVAL);
}
END_TEST

START_TEST(test_set)
{
    cJSON *root = parse("{\"scheduler\": {\"max_num_seqs\": 4}}");
    struct llm_diag d = { 0 };
    int64_t v = 0;
    const char *s = NULL;
    const cJSON *sch;

    ck_assert_int_eq(jcfg_set(root, "scheduler.max_num_seqs=64", &d), 0);
    ck_assert_int_eq(jcfg_set(root, "workload.type=poisson", &d), 0);
    jcfg_obj(root, "", "scheduler", true, &sch, &d);
    jcfg_int(sch, "scheduler", "max_num_seqs", true, 1, INT64_MAX, &v, &d);
    ck_assert_int_eq(v, 64);
    jcfg_str(cJSON_GetObjectItem(root, "workload"), "workload", "type", true,
             &s, &d);
    ck_assert_str_eq(s, "poisson");
    ck_assert_int_eq(jcfg_set(root, "noequals", &d), LLM_EINVAL);
    cJSON_Delete(root);
}
END_TEST

/* diag_prefix names the key that asked for a lookup before the lookup's
 * own message, keeps its code and file, and leaves a clean diag clean;
 * a message at the buffer's end is cut, never overrun. */
START_TEST(test_diag_prefix)
{
    struct llm_diag d = { .file = "c.json" };
    char long_msg[600];

    ck_assert_int_eq(diag_prefix(&d, "hardware.link"), LLM_OK);
    ck_assert_int_eq(d.code, LLM_OK);
    ck_assert_str_eq(d.msg, "");
    diag_set(&d, LLM_ENOTFOUND, "no link \"x\" (known: a, b)");
    ck_assert_int_eq(diag_prefix(&d, "hardware.weight_offload.link"),
                     LLM_ENOTFOUND);
    ck_assert_int_eq(d.code, LLM_ENOTFOUND);
    ck_assert_str_eq(d.msg, "hardware.weight_offload.link: no link \"x\" "
                     "(known: a, b)");
    ck_assert_str_eq(d.file, "c.json");
    memset(long_msg, 'm', sizeof(long_msg) - 1);
    long_msg[sizeof(long_msg) - 1] = '\0';
    d = (struct llm_diag){ 0 };
    diag_set(&d, LLM_EINVAL, "%s", long_msg);
    ck_assert_int_eq(diag_prefix(&d, "k"), LLM_EINVAL);
    ck_assert_uint_eq(strlen(d.msg), sizeof(d.msg) - 1);
    ck_assert(strncmp(d.msg, "k: mmm", 6) == 0);
}
END_TEST

Suite *jcfg_suite(void)
{
    Suite *s = suite_create("jcfg");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_int_errors);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_names_long_list);
    tcase_add_test(tc, test_unknown_key_long_list);
    tcase_add_test(tc, test_parse_error_position);
    tcase_add_test(tc, test_set);
    tcase_add_test(tc, test_diag_prefix);
    suite_add_tcase(s, tc);
    return s;
}
