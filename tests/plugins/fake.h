/* Shared by the broken fake plugins: a valid ops table to point at. */
#include <errno.h>
#include <stdlib.h>

#include <cmsd/plugin.h>

static int fk_validate(const struct cmsd_host *h, const struct cmsd_conf *c)
{
	(void)h;
	(void)c;
	return 0;
}

static int fk_init(const struct cmsd_host *h, const struct cmsd_conf *c,
		   void **inst)
{
	(void)h;
	(void)c;
	*inst = NULL;
	return 0;
}

static int fk_op(void *inst, struct cmsd_op *op)
{
	(void)inst;
	(void)op;
	return 0;
}

static void fk_destroy(void *inst)
{
	(void)inst;
}

#define FAKE_OPS(name, ...)                                                    \
	static const struct cmsd_resource_ops name = {                         \
		.size = sizeof(struct cmsd_resource_ops),                      \
		.validate = fk_validate,                                       \
		.init = fk_init,                                               \
		.start = fk_op,                                                \
		.stop = fk_op,                                                 \
		.monitor = fk_op,                                              \
		.destroy = fk_destroy,                                         \
		__VA_ARGS__}
