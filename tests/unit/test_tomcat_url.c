/* resource-tomcat's URL parser: what the HTTP monitor connects to and asks
 * for, and the URLs refused at --check. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "testutil.h"
#include "tomcat_url.h"

static struct tomcat_url u;

static void ok(const char *url, const char *host, unsigned port,
	       const char *path)
{
	memset(&u, 0x5a, sizeof(u));
	ck_assert_msg(tomcat_parse_url(url, &u) == 0, "refused: %s", url);
	ck_assert_str_eq(u.host, host);
	ck_assert_uint_eq(u.port, port);
	ck_assert_str_eq(u.path, path);
}

static void bad(const char *url)
{
	ck_assert_msg(tomcat_parse_url(url, &u) == -EINVAL, "accepted: %s",
		      url);
}

START_TEST(hosts_ports_paths)
{
	ok("http://127.0.0.1:8080/vms/", "127.0.0.1", 8080, "/vms/");
	ok("http://localhost", "localhost", 80, "/");
	ok("http://web-1.example.org/", "web-1.example.org", 80, "/");
	ok("http://[::1]:8080/vms/login", "::1", 8080, "/vms/login");
	ok("http://[fd00::1]", "fd00::1", 80, "/");
	ok("http://h:1", "h", 1, "/");
	ok("http://h:65535/x", "h", 65535, "/x");
}
END_TEST

START_TEST(query_kept_fragment_dropped)
{
	ok("http://[::1]:8080/vms?x=1", "::1", 8080, "/vms?x=1");
	ok("http://h?probe=1", "h", 80, "/?probe=1");
	ok("http://h:8080/a#top", "h", 8080, "/a");
	ok("http://h#top", "h", 80, "/");
}
END_TEST

START_TEST(refused)
{
	bad("https://h/");
	bad("HTTP://h/");
	bad("ftp://h/");
	bad("http://");
	bad("http:///x");
	bad("http://h:0/");
	bad("http://h:65536/");
	bad("http://h:99999");
	bad("http://h:/");
	bad("http://h:80x/");
	bad("http://h_1/");
	bad("http://user@h/");
	bad("http://[::1/");
	bad("http://[127.0.0.1]/");
	bad("http://[::g]/");
	bad("http://h/a b");
	bad("http://h/\"x\"");
	bad("http://h/<x>");
	bad("http://h/a\\b");
}
END_TEST

START_TEST(lengths)
{
	char url[2200], host[300];

	/* A host of 255 characters fits, 256 do not. */
	memset(host, 'a', 255);
	host[255] = '\0';
	snprintf(url, sizeof(url), "http://%s/", host);
	ok(url, host, 80, "/");
	memset(host, 'a', 256);
	host[256] = '\0';
	snprintf(url, sizeof(url), "http://%s/", host);
	bad(url);
	/* A path of 1022 characters fits (with its NUL), 1023 do not. */
	strcpy(url, "http://h/");
	memset(url + 9, 'p', 1021);
	url[9 + 1021] = '\0';
	ck_assert_int_eq(tomcat_parse_url(url, &u), 0);
	ck_assert_uint_eq(strlen(u.path), 1022);
	strcat(url, "p");
	bad(url);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tomcat_url");
	TCase *tc = tcase_create("tomcat_url");

	tcase_add_test(tc, hosts_ports_paths);
	tcase_add_test(tc, query_kept_fragment_dropped);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, lengths);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
