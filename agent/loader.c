#include "loader.h"

#include <errno.h>
#include <ltdl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define LOADER_MAX 64

static struct plugin *loaded[LOADER_MAX];
static bool lt_ready;

const char *loader_kind_name(int kind)
{
	switch (kind) {
	case CMSD_KIND_QUORUM:
		return "quorum";
	case CMSD_KIND_STORAGE:
		return "storage";
	case CMSD_KIND_RESOURCE:
		return "resource";
	}
	return "?";
}

static bool loader_name_ok(const char *name)
{
	if (!name || !*name || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_'))
			return false;
	return true;
}

/* Checks the descriptor and its ops table; writes why into err. */
static int loader_check_desc(const char *path, const char *name,
			     const struct cmsd_plugin *d, char *err,
			     size_t errlen)
{
	if (!d) {
		snprintf(err, errlen, "%s: %s() returned NULL", path,
			 CMSD_PLUGIN_ENTRY_SYMBOL);
		return -ELIBBAD;
	}
	if (d->abi_major != CMSD_ABI_MAJOR) {
		snprintf(err, errlen,
			 "%s: plugin ABI %u.%u, agent ABI %u.%u: major "
			 "versions differ; rebuild the plugin against this SDK",
			 path, d->abi_major, d->abi_minor, CMSD_ABI_MAJOR,
			 CMSD_ABI_MINOR);
		return -EPROTO;
	}
	if (d->abi_minor > CMSD_ABI_MINOR) {
		snprintf(err, errlen,
			 "%s: plugin ABI %u.%u is newer than the agent's ABI "
			 "%u.%u; upgrade cmsd",
			 path, d->abi_major, d->abi_minor, CMSD_ABI_MAJOR,
			 CMSD_ABI_MINOR);
		return -EPROTO;
	}
	/* Fields up to ops are ABI 1.0; anything smaller is not a descriptor.
	 */
	if (d->size < offsetof(struct cmsd_plugin, reserved)) {
		snprintf(err, errlen,
			 "%s: descriptor size %zu is smaller than ABI %u.0 "
			 "requires (%zu)",
			 path, d->size, CMSD_ABI_MAJOR,
			 offsetof(struct cmsd_plugin, reserved));
		return -ELIBBAD;
	}
	if (!d->name || strcmp(d->name, name) != 0) {
		snprintf(err, errlen,
			 "%s: descriptor names the plugin \"%s\", expected "
			 "\"%s\"",
			 path, d->name ? d->name : "(null)", name);
		return -ELIBBAD;
	}
	if (!d->version || !*d->version) {
		snprintf(err, errlen, "%s: descriptor has no version", path);
		return -ELIBBAD;
	}
	if (d->kind != CMSD_KIND_QUORUM && d->kind != CMSD_KIND_STORAGE &&
	    d->kind != CMSD_KIND_RESOURCE) {
		snprintf(err, errlen, "%s: unknown plugin kind %d", path,
			 (int)d->kind);
		return -ELIBBAD;
	}
	const struct cmsd_common_ops *ops = d->ops.common;
	if (!ops || ops->size < sizeof(struct cmsd_common_ops)) {
		snprintf(err, errlen, "%s: %s ops table missing or too small",
			 path, loader_kind_name(d->kind));
		return -ELIBBAD;
	}
	const char *missing = !ops->validate  ? "validate"
			      : !ops->init    ? "init"
			      : !ops->start   ? "start"
			      : !ops->stop    ? "stop"
			      : !ops->monitor ? "monitor"
			      : !ops->destroy ? "destroy"
					      : NULL;
	if (!missing && d->kind == CMSD_KIND_QUORUM) {
		const struct cmsd_quorum_ops *q = d->ops.quorum;
		if (q->size < offsetof(struct cmsd_quorum_ops, release))
			missing = "request_vote/renew_lease (table too small)";
		else if (!q->request_vote)
			missing = "request_vote";
		else if (!q->renew_lease)
			missing = "renew_lease";
	} else if (!missing && d->kind == CMSD_KIND_STORAGE) {
		const struct cmsd_storage_ops *s = d->ops.storage;
		if (s->size < offsetof(struct cmsd_storage_ops, fence_peer))
			missing = "promote/demote/status (table too small)";
		else if (!s->promote)
			missing = "promote";
		else if (!s->demote)
			missing = "demote";
		else if (!s->status)
			missing = "status";
	}
	if (missing) {
		snprintf(err, errlen, "%s: %s plugin lacks the %s op", path,
			 loader_kind_name(d->kind), missing);
		return -ELIBBAD;
	}
	return 0;
}

int loader_get(const char *dir, const char *name, struct plugin **out,
	       char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	int slot = -1;
	int rc;

	*out = NULL;
	if (!loader_name_ok(name)) {
		snprintf(err, errlen,
			 "bad plugin name \"%s\": use lower-case letters, "
			 "digits, '-' and '_'",
			 name ? name : "");
		return -EINVAL;
	}
	for (int i = 0; i < LOADER_MAX; i++) {
		if (loaded[i] && strcmp(loaded[i]->name, name) == 0) {
			loaded[i]->refs++;
			*out = loaded[i];
			return 0;
		}
		if (!loaded[i] && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		snprintf(err, errlen, "too many plugins (%d)", LOADER_MAX);
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/%s.so", dir, name);
	if (stat(path, &st) < 0) {
		snprintf(err, errlen,
			 "%s: no such plugin (plugin directory %s)", path, dir);
		return -ENOENT;
	}
	if (!lt_ready) {
		if (lt_dlinit() != 0) {
			snprintf(err, errlen, "lt_dlinit: %s", lt_dlerror());
			return -ELIBBAD;
		}
		lt_ready = true;
	}
	/* Local symbols: two plugins may both define static helpers of the
	 * same name, and none may reach into another. */
	lt_dladvise adv;
	lt_dladvise_init(&adv);
	lt_dladvise_local(&adv);
	lt_dlhandle h = lt_dlopenadvise(path, adv);
	lt_dladvise_destroy(&adv);
	if (!h) {
		snprintf(err, errlen, "%s: cannot load: %s", path,
			 lt_dlerror());
		return -ELIBBAD;
	}
	cmsd_plugin_entry_fn entry = (cmsd_plugin_entry_fn)(uintptr_t)lt_dlsym(
		h, CMSD_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		snprintf(err, errlen,
			 "%s: no entry symbol %s (agent ABI %u.%u): not a cmsd "
			 "plugin, or built without CMSD_PLUGIN_DEFINE",
			 path, CMSD_PLUGIN_ENTRY_SYMBOL, CMSD_ABI_MAJOR,
			 CMSD_ABI_MINOR);
		lt_dlclose(h);
		return -ELIBBAD;
	}
	const struct cmsd_plugin *d = entry();
	rc = loader_check_desc(path, name, d, err, errlen);
	if (rc < 0) {
		lt_dlclose(h);
		return rc;
	}
	struct plugin *p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name)) || !(p->path = strdup(path))) {
		if (p) {
			free(p->name);
			free(p);
		}
		lt_dlclose(h);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	p->desc = d;
	p->handle = h;
	p->refs = 1;
	loaded[slot] = p;
	log_debug("loaded plugin %s %s (%s, ABI %u.%u) from %s", d->name,
		  d->version, loader_kind_name(d->kind), d->abi_major,
		  d->abi_minor, path);
	*out = p;
	return 0;
}

void loader_put(struct plugin *p)
{
	if (!p || --p->refs > 0)
		return;
	for (int i = 0; i < LOADER_MAX; i++)
		if (loaded[i] == p)
			loaded[i] = NULL;
	lt_dlclose((lt_dlhandle)p->handle);
	free(p->name);
	free(p->path);
	free(p);
}

void loader_shutdown(void)
{
	for (int i = 0; i < LOADER_MAX; i++) {
		if (!loaded[i])
			continue;
		lt_dlclose((lt_dlhandle)loaded[i]->handle);
		free(loaded[i]->name);
		free(loaded[i]->path);
		free(loaded[i]);
		loaded[i] = NULL;
	}
	if (lt_ready)
		lt_dlexit();
	lt_ready = false;
}
