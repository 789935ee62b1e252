/* The loader: plugins with a wrong ABI, no entry symbol, a bad descriptor,
 * or a crash in init are refused with a message naming the file. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>

#include "conf.h"
#include "instance.h"
#include "loader.h"
#include "log.h"
#include "loop.h"
#include "testutil.h"

static char err[1024];

static int guard_ok(void *arg)
{
	(void)arg;
	return 42;
}

static int guard_fpe(void *arg)
{
	(void)arg;
	/* What a plugin's arithmetic fault delivers, without relying on the
	 * compiler to keep a division by zero. */
	raise(SIGFPE);
	return 0;
}

/* Recurses until the stack runs out (a plugin's runaway recursion); the
 * limit is only there to keep the compiler from proving it infinite. */
static volatile unsigned long guard_limit = ~0ul;

static int guard_deep(void *arg)
{
	volatile char pad[4096];

	if (guard_limit-- == 0)
		return 0;
	pad[0] = (char)(uintptr_t)arg;
	return guard_deep((void *)(uintptr_t)(pad[0] + 1)) + pad[0];
}

static void record(struct instance *in, enum op_kind kind, int rc, void *arg)
{
	(void)in;
	(void)kind;
	*(int *)arg = rc;
}

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
					      "2.0, agent ABI 1.3: major "
					      "versions differ; rebuild the "
					      "plugin against this SDK");
}
END_TEST

START_TEST(abi_minor_newer_refused)
{
	struct plugin *p;

	ck_assert_int_eq(load("fake-abi-minor-newer", &p), -EPROTO);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-abi-minor-newer.so: "
					      "plugin ABI 1.4 is newer than "
					      "the agent's ABI 1.3; upgrade "
					      "cmsd");
}
END_TEST

START_TEST(missing_symbol_refused)
{
	struct plugin *p;

	ck_assert_int_eq(load("fake-nosym", &p), -ELIBBAD);
	ck_assert_str_eq(err, FAKE_PLUGIN_DIR "/fake-nosym.so: no entry symbol "
					      "cmsd_plugin_entry (agent ABI "
					      "1.3): not a cmsd plugin, or "
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

/* Returns the contents of a small file (malloc'd). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(crash_in_init_refused)
{
	struct conf_instance ci = {.id = "crashy",
				   .element = "resource",
				   .kind = CMSD_KIND_RESOURCE};
	struct instance *in = NULL;
	char *dir = tu_tmpdir();
	char *log = NULL;
	struct log_options lo = {.ident = "t"};

	ck_assert_int_ge(asprintf(&log, "%s/log", dir), 0);
	lo.file = log;
	ck_assert_int_eq(log_open(&lo), 0);
	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(load("fake-crash-init", &ci.plugin), 0);
	instance_set_state_root(dir);
	ck_assert_int_eq(instance_new(&ci, NULL, NULL, &in), -EFAULT);
	ck_assert_ptr_null(in);
	log_close();
	char *text = slurp(log);
	ck_assert_ptr_nonnull(
		strstr(text, "crashy: plugin fake-crash-init crashed in init "
			     "(SIGSEGV); refusing to start\n"));
	free(text);
	free(log);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(crash_guard_restores_handlers)
{
	struct sigaction before, after;
	int sig = 0;

	/* The guard is reusable and leaves the previous handler in place,
	 * so that a real crash later is not swallowed. */
	sigaction(SIGSEGV, NULL, &before);
	ck_assert_int_eq(instance_guard_call(guard_ok, NULL, &sig), 42);
	ck_assert_int_eq(sig, 0);
	ck_assert_int_eq(instance_guard_call(guard_fpe, NULL, &sig), -EFAULT);
	ck_assert_int_eq(sig, SIGFPE);
	ck_assert_int_eq(instance_guard_call(guard_ok, NULL, &sig), 42);
	ck_assert_int_eq(sig, 0);
	/* Out of stack: the handler still runs, on its own stack. */
	ck_assert_int_eq(instance_guard_call(guard_deep, NULL, &sig), -EFAULT);
	ck_assert_int_eq(sig, SIGSEGV);
	sigaction(SIGSEGV, NULL, &after);
	ck_assert_ptr_eq((void *)(uintptr_t)before.sa_handler,
			 (void *)(uintptr_t)after.sa_handler);
}
END_TEST

/* A good plugin, given a configuration built by hand with no section: the
 * whole life of an instance without the config parser. */
START_TEST(good_plugin_lifecycle)
{
	struct conf_instance ci = {
		.id = "ok", .element = "resource", .kind = CMSD_KIND_RESOURCE};
	struct instance *in = NULL;
	char *dir = tu_tmpdir();
	int rc = 1;

	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(load("fake-ok", &ci.plugin), 0);
	ck_assert_str_eq(ci.plugin->path, FAKE_PLUGIN_DIR "/fake-ok.so");
	instance_set_state_root(dir);
	ck_assert_int_eq(instance_new(&ci, NULL, NULL, &in), 0);
	ck_assert_str_eq(instance_id(in), "ok");
	ck_assert_ptr_eq(instance_plugin(in), ci.plugin->desc);
	ck_assert_int_eq(instance_call(in, OP_START, 1000, NULL, record, &rc),
			 0);
	ck_assert_int_eq(rc, 1); /* never inside instance_call */
	event_base_loop(loop_base(), EVLOOP_ONCE);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(instance_call(in, OP_PROMOTE, 1000, NULL, record, &rc),
			 -EOPNOTSUPP);
	instance_free(in);
	instance_shutdown();
	loader_put(ci.plugin);
	loader_shutdown();
	loop_free();
	tu_rmdir(dir);
	free(dir);
}
END_TEST

START_TEST(bad_instance_id_refused)
{
	struct conf_instance ci = {
		.id = "..", .element = "resource", .kind = CMSD_KIND_RESOURCE};
	struct instance *in = NULL;
	char *dir = tu_tmpdir();

	ck_assert_int_eq(loop_init(), 0);
	ck_assert_int_eq(load("fake-ok", &ci.plugin), 0);
	instance_set_state_root(dir);
	ck_assert_int_eq(instance_new(&ci, NULL, NULL, &in), -EINVAL);
	ck_assert_ptr_null(in);
	tu_rmdir(dir);
	free(dir);
}
END_TEST

/* Runs out of stack: the fault comes with no stack left for a handler. */
static volatile int guard_sink;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int __attribute__((noinline)) guard_recurse(int n)
{
	volatile char pad[512];

	pad[0] = (char)n;
	guard_sink += pad[0];
	return guard_recurse(n + 1) + pad[0];
}
#pragma GCC diagnostic pop

static int guard_overflow(void *arg)
{
	(void)arg;
	return guard_recurse(0);
}

START_TEST(crash_guard_stack_overflow)
{
	int sig = 0;

	/* The handler runs on a stack of its own (also under ASan, which
	 * keeps its own alternate stack and gets it back). */
	ck_assert_int_eq(instance_guard_call(guard_overflow, NULL, &sig),
			 -EFAULT);
	ck_assert_int_eq(sig, SIGSEGV);
	ck_assert_int_eq(instance_guard_call(guard_ok, NULL, &sig), 42);
	ck_assert_int_eq(sig, 0);
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
	tcase_add_test(tc, crash_guard_restores_handlers);
	tcase_add_test(tc, good_plugin_lifecycle);
	tcase_add_test(tc, bad_instance_id_refused);
	tcase_add_test(tc, crash_guard_stack_overflow);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
