/*
 * resource-mysql's pure parts: the command lines of mariadbd and
 * mariadb-install-db (the user's arguments first, where --no-defaults must
 * be; --user only when given; networking or not), the pid file and
 * password file contents, and the output tail logged when a child ends.
 */
#include <errno.h>
#include <stdbool.h>

/* Plugin-private, compiled into the test. */
#include "../../plugins/resource-mysql/mysql_args.c"

#include "testutil.h"

static const char *const base[] = {"/usr/sbin/mariadbd", "--no-defaults",
				   "--skip-name-resolve", NULL};

static struct mysql_args args(void)
{
	return (struct mysql_args){
		.base = base,
		.datadir = "/d",
		.socket = "/run/s.sock",
		.pid_file = "/run/s.pid",
		.user = "mysql",
		.networking = true,
		.port = 3306,
	};
}

/* argv as one string, words joined by '|'. */
static char *joined(char **argv)
{
	static char buf[1024];

	buf[0] = '\0';
	for (size_t i = 0; argv[i]; i++) {
		if (i)
			strcat(buf, "|");
		strcat(buf, argv[i]);
	}
	free(argv);
	return buf;
}

START_TEST(server_argv_networking)
{
	struct mysql_args a = args();

	ck_assert_str_eq(joined(mysql_server_argv(&a)),
			 "/usr/sbin/mariadbd|--no-defaults|--skip-name-resolve|"
			 "--datadir=/d|--socket=/run/s.sock|--pid-file=/run/"
			 "s.pid|--user=mysql|--port=3306");
	a.bind_address = "::1";
	a.port = 65535;
	ck_assert_str_eq(joined(mysql_server_argv(&a)),
			 "/usr/sbin/mariadbd|--no-defaults|--skip-name-resolve|"
			 "--datadir=/d|--socket=/run/s.sock|--pid-file=/run/"
			 "s.pid|--user=mysql|--port=65535|--bind-address=::1");
}
END_TEST

START_TEST(server_argv_no_networking_no_user)
{
	static const char *const bare[] = {"/opt/m/mariadbd", NULL};
	struct mysql_args a = args();

	a.base = bare;
	a.user = NULL;
	a.networking = false;
	a.bind_address = "10.0.0.1"; /* ignored without networking */
	ck_assert_str_eq(joined(mysql_server_argv(&a)),
			 "/opt/m/mariadbd|--datadir=/d|--socket=/run/s.sock|"
			 "--pid-file=/run/s.pid|--skip-networking");
}
END_TEST

START_TEST(server_argv_many_user_args)
{
	const char *many[80];
	struct mysql_args a = args();
	char **argv;
	size_t n = 0;

	many[0] = "/usr/sbin/mariadbd";
	for (size_t i = 1; i < 79; i++)
		many[i] = "--skip-name-resolve";
	many[79] = NULL;
	a.base = many;
	argv = mysql_server_argv(&a);
	ck_assert_ptr_nonnull(argv);
	while (argv[n])
		n++;
	/* Every word of the user kept, then the 5 options. */
	ck_assert_uint_eq(n, 79 + 5);
	ck_assert_str_eq(argv[78], "--skip-name-resolve");
	ck_assert_str_eq(argv[79], "--datadir=/d");
	free(argv);
}
END_TEST

START_TEST(install_argv)
{
	struct mysql_args a = args();

	ck_assert_str_eq(
		joined(mysql_install_argv(&a)),
		"/usr/bin/mariadb-install-db|--no-defaults|--skip-name-"
		"resolve|--datadir=/d|--user=mysql|--auth-root-"
		"authentication-method=socket|--skip-test-db");
	a.user = NULL;
	ck_assert_str_eq(
		joined(mysql_install_argv(&a)),
		"/usr/bin/mariadb-install-db|--no-defaults|--skip-name-"
		"resolve|--datadir=/d|--auth-root-authentication-method="
		"socket|--skip-test-db");
}
END_TEST

static int pid_of(const char *s, pid_t *pid)
{
	return mysql_parse_pid(s, strlen(s), pid);
}

START_TEST(pid_file)
{
	pid_t p = 0;

	ck_assert_int_eq(pid_of("1234\n", &p), 0);
	ck_assert_int_eq(p, 1234);
	ck_assert_int_eq(pid_of("7", &p), 0);
	ck_assert_int_eq(p, 7);
	ck_assert_int_eq(pid_of("2147483647 \r\n", &p), 0);
	ck_assert_int_eq(p, 2147483647);
	ck_assert_int_eq(pid_of("", &p), -EINVAL);
	ck_assert_int_eq(pid_of("\n", &p), -EINVAL);
	ck_assert_int_eq(pid_of("0\n", &p), -EINVAL);
	ck_assert_int_eq(pid_of("-5\n", &p), -EINVAL);
	ck_assert_int_eq(pid_of("12x\n", &p), -EINVAL);
	ck_assert_int_eq(pid_of("12\n34\n", &p), -EINVAL);
	ck_assert_int_eq(pid_of("2147483648", &p), -EINVAL);
	ck_assert_int_eq(pid_of("99999999999999999999", &p), -EINVAL);
	/* The failures above left the last good value alone. */
	ck_assert_int_eq(p, 2147483647);
}
END_TEST

START_TEST(password_file)
{
	ck_assert_int_eq(mysql_password_len("s3cret\n", 7), 6);
	ck_assert_int_eq(mysql_password_len("s3cret\r\n", 8), 6);
	ck_assert_int_eq(mysql_password_len("s3cret", 6), 6);
	ck_assert_int_eq(mysql_password_len("a b\tc\nsecond line\n", 18), 5);
	ck_assert_int_eq(mysql_password_len("\n", 1), 0);
	ck_assert_int_eq(mysql_password_len("", 0), 0);
	ck_assert_int_eq(mysql_password_len("ab\0cd\n", 6), -EINVAL);
}
END_TEST

static const char *tail_of(const char *s, unsigned n)
{
	static char buf[256];
	const char *t;
	size_t len;

	mysql_tail(s, s ? strlen(s) : 0, n, &t, &len);
	snprintf(buf, sizeof(buf), "%.*s", (int)len, t);
	return buf;
}

START_TEST(output_tail)
{
	ck_assert_str_eq(tail_of("a\nb\nc\n", 2), "b\nc");
	ck_assert_str_eq(tail_of("a\nb\nc", 2), "b\nc");
	ck_assert_str_eq(tail_of("a\nb\nc\n", 5), "a\nb\nc");
	ck_assert_str_eq(tail_of("a\nb\nc\n", 1), "c");
	/* Empty lines do not count. */
	ck_assert_str_eq(tail_of("a\n\nb\n\n\nc\n\n", 2), "b\n\n\nc");
	ck_assert_str_eq(tail_of("x\r\ny\r\n", 1), "y");
	ck_assert_str_eq(tail_of("only", 3), "only");
	ck_assert_str_eq(tail_of("\n\n\n", 3), "");
	ck_assert_str_eq(tail_of("", 3), "");
	ck_assert_str_eq(tail_of(NULL, 3), "");
	ck_assert_str_eq(tail_of("a\nb\n", 0), "");
}
END_TEST

START_TEST(duration)
{
	uint64_t ms = 7;

	ck_assert_int_eq(mysql_parse_duration("60000", &ms), 0);
	ck_assert_uint_eq(ms, 60000);
	ck_assert_int_eq(mysql_parse_duration("250ms", &ms), 0);
	ck_assert_uint_eq(ms, 250);
	ck_assert_int_eq(mysql_parse_duration("20s", &ms), 0);
	ck_assert_uint_eq(ms, 20000);
	ck_assert_int_eq(mysql_parse_duration("2m", &ms), 0);
	ck_assert_uint_eq(ms, 120000);
	ck_assert_int_eq(mysql_parse_duration("1h", &ms), 0);
	ck_assert_uint_eq(ms, 3600000);
	ck_assert_int_eq(mysql_parse_duration("0", &ms), 0);
	ck_assert_uint_eq(ms, 0);
	ck_assert_int_eq(mysql_parse_duration("", &ms), -EINVAL);
	ck_assert_int_eq(mysql_parse_duration("s", &ms), -EINVAL);
	ck_assert_int_eq(mysql_parse_duration("-1s", &ms), -EINVAL);
	ck_assert_int_eq(mysql_parse_duration("1 s", &ms), -EINVAL);
	ck_assert_int_eq(mysql_parse_duration("1d", &ms), -EINVAL);
	ck_assert_int_eq(mysql_parse_duration("1sec", &ms), -EINVAL);
	ck_assert_int_eq(mysql_parse_duration(NULL, &ms), -EINVAL);
	ck_assert_int_eq(mysql_parse_duration("99999999999999999999", &ms),
			 -EINVAL);
	ck_assert_int_eq(mysql_parse_duration("9999999999999999h", &ms),
			 -EINVAL);
	ck_assert_uint_eq(ms, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mysql_args");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, server_argv_networking);
	tcase_add_test(tc, server_argv_no_networking_no_user);
	tcase_add_test(tc, server_argv_many_user_args);
	tcase_add_test(tc, install_argv);
	tcase_add_test(tc, pid_file);
	tcase_add_test(tc, password_file);
	tcase_add_test(tc, output_tail);
	tcase_add_test(tc, duration);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
