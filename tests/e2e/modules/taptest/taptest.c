// SPDX-License-Identifier: GPL-2.0
/*
 * A well-behaved module with tests of its own (tests/*.sh, TAP): module_tests runs them with the
 * module loaded. It shows one parameter, `answer`; loaded with answer=41, one of them fails.
 */
#include <linux/module.h>

static int answer = 42;
module_param(answer, int, 0644);
MODULE_PARM_DESC(answer, "what tests/sysfs.sh expects to read: 42");

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
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("a module whose own TAP tests module_tests runs");
