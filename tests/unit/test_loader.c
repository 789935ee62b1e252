/* The loader: plugins with a wrong ABI, no entry symbol, a bad descriptor,
 * or a crash in init are refused with a message naming the file. */
#include <errno.h>
#include <sys/stat.h>

#include "conf.h"
#include "instance.h"
#include "loader.h"
#include "loop.h"
#include "testutil.h"

static char err[1024];

static int load(const char *name, struct plugin **p)
{
	err[0] = '\0';
	return loader_get(FAKE_PLUGIN_DIR, name, p, err, sizeof(err));
}

START_TEST(abi_major_refused)
{
	struct plugin *p;

	ck_assert_int_eq(load("fake-abi-major", &p), -EPROTO);
	ck_assert_ptr_null(p);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-abi-major.so: plugin ABI "
					      "2.0, agent ABI 1.0: major "
					      "versions differ; rebuild the "
					      "plugin against this SDK");
}
END_TEST

START_TEST(abi_minor_newer_refused)
{
	struct plugin *p;

	ck_assert_int_eq(load("fake-abi-minor-newer", &p), -EPROTO);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-abi-minor-newer.so: "
					      "plugin ABI 1.1 is newer than "
					      "the agent's ABI 1.0; upgrade "
					      "cmsd");
}
END_TEST

START_TEST(missing_symbol_refused)
{
	struct plugin *p;

	ck_assert_int_eq(load("fake-nosym", &p), -ELIBBAD);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-nosym.so: no entry symbol "
					      "cmsd_plugin_entry (agent ABI "
					      "1.0): not a cmsd plugin, or "
					      "built without "
					      "CMSD_PLUGIN_DEFINE");
}
END_TEST

START_TEST(bad_descriptors_refused)
{
	struct plugin *p;

	ck_assert_int_eq(load("fake-badname", &p), -ELIBBAD);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-badname.so: descriptor "
					      "names the plugin "
					      "\"someone-else\", expected "
					      "\"fake-badname\"");
	ck_assert_int_eq(load("fake-badkind", &p), -ELIBBAD);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-badkind.so: unknown "
					      "plugin kind 99");
	ck_assert_int_eq(load("fake-noops", &p), -ELIBBAD);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-noops.so: resource ops "
					      "table missing or too small");
	ck_assert_int_eq(load("fake-nostart", &p), -ELIBBAD);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-nostart.so: resource "
					      "plugin lacks the start op");
	ck_assert_int_eq(load("fake-smalldesc", &p), -ELIBBAD);
	ck_assert_ptr_nonnull(strstr(err, "fake-smalldesc.so: descriptor size "
					  "16 is smaller than ABI 1.0 "
					  "requires"));
}
END_TEST

START_TEST(missing_garbage_and_bad_names)
{
	struct plugin *p;
	char *dir = tu_tmpdir();
	char *f = tu_write(dir, "junk.so", "this is not an ELF file\n");

	ck_assert_int_eq(load("no-such-plugin", &p), -ENOENT);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR
			 "/no-such-plugin.so: no such "
			 "plugin (plugin directory " FAKE_PLUGIN_DIR ")");
	ck_assert_int_eq(loader_get(dir, "junk", &p, err, sizeof(err)),
			 -ELIBBAD);
	ck_assert_ptr_nonnull(strstr(err, "/junk.so: cannot load: "));
	ck_assert_int_eq(load("../x", &p), -EINVAL);
	ck_assert_str_eq(err, "bad plugin name \"../x\": use lower-case "
			      "letters, digits, '-' and '_'");
	free(f);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(good_plugin_refcounted)
{
	struct plugin *a, *b;

	ck_assert_int_eq(load("fake-op", &a), 0);
	ck_assert_int_eq(load("fake-op", &b), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_int_eq(a->refs, 2);
	ck_assert_str_eq(a->desc->name, "fake-op");
	loader_put(b);
	loader_put(a);
	loader_shutdown();
}
END_TEST

START_TEST(crash_in_init_refused)
{
	struct conf_instance ci = {.id = "crashy",
				   .element = "resource",
				   .kind = CMSD_KIND_RESOURCE};
	struct instance *in = NULL;
	char *dir = tu_tmpdir();

	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(load("fake-crash-init", &ci.plugin), 0);
	instance_set_state_root(dir);
	ck_assert_int_eq(instance_new(&ci, NULL, NULL, &in), -EFAULT);
	ck_assert_ptr_null(in);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("loader");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, abi_major_refused);
	tcase_add_test(tc, abi_minor_newer_refused);
	tcase_add_test(tc, missing_symbol_refused);
	tcase_add_test(tc, bad_descriptors_refused);
	tcase_add_test(tc, missing_garbage_and_bad_names);
	tcase_add_test(tc, good_plugin_refcounted);
	tcase_add_test(tc, crash_in_init_refused);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
