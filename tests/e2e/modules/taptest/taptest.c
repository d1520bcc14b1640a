// SPDX-License-Identifier: GPL-2.0
/*
 * A well-behaved module with tests of its own (shell scripts in tests/, printing TAP): module_tests
 * runs them with the module loaded. It shows one parameter, `answer`; loaded with answer=41, one of them fails.
 * Built against a kernel with KUnit, it carries a suite too (taptest), which the kernel runs as
 * the module loads: before its parameters are applied, so answer is 42 there whatever insmod says.
 */
#include <linux/module.h>
#if IS_ENABLED(CONFIG_KUNIT)
#include <kunit/test.h>
#endif

static int answer = 42;
module_param(answer, int, 0644);
MODULE_PARM_DESC(answer, "what tests/sysfs.sh expects to read: 42");

#if IS_ENABLED(CONFIG_KUNIT)
static void taptest_answer_is_42(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, answer, 42);
}

static void taptest_buffer_round_trip(struct kunit *test)
{
	char *buffer = kunit_kzalloc(test, 64, GFP_KERNEL);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buffer);
	strscpy(buffer, "vexfs-vmtest", 64);
	KUNIT_EXPECT_STREQ(test, buffer, "vexfs-vmtest");
}

static struct kunit_case taptest_cases[] = {
	KUNIT_CASE(taptest_answer_is_42),
	KUNIT_CASE(taptest_buffer_round_trip),
	{}
};

static struct kunit_suite taptest_suite = {
	.name = "taptest",
	.test_cases = taptest_cases,
};
kunit_test_suites(&taptest_suite);
#endif

/* Where KUnit has kunit_test_suites_for_module (5.10), kunit_test_suites() is the module's init and exit. */
#if !defined(kunit_test_suites_for_module)
static int __init taptest_init(void)
{
	pr_info("taptest: loaded, answer %d\n", answer);
	return 0;
}

static void __exit taptest_exit(void)
{
	pr_info("taptest: unloaded\n");
}

module_init(taptest_init);
module_exit(taptest_exit);
#endif
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("a module whose own TAP tests module_tests runs");
