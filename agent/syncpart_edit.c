/*
 * The pure parts of `cmsadm sync-partition` (syncpart.h): the refusals,
 * the facts' wire form, the mountinfo lookup and the XML edit.  No
 * sockets, no clock; the unit tests drive them directly.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "conf_priv.h"
#include "syncpart.h"

/* ---- the config ---- */

static bool sp_is(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       strcmp((const char *)n->name, name) == 0;
}

static xmlNode *sp_child(xmlNode *e, const char *name)
{
	for (xmlNode *n = e ? e->children : NULL; n; n = n->next)
		if (sp_is(n, name))
			return n;
	return NULL;
}

/* The trimmed text of e into buf ("" when none). */
static void sp_text(xmlNode *e, char *buf, size_t len)
{
	xmlChar *t = e ? xmlNodeGetContent(e) : NULL;
	const char *s = t ? (const char *)t : "";
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
		     s[n - 1] == '\r'))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	xmlFree(t);
}

static bool sp_prop_is(xmlNode *e, const char *name, const char *val)
{
	xmlChar *p = xmlGetProp(e, (const xmlChar *)name);
	bool yes = p && strcmp((const char *)p, val) == 0;

	xmlFree(p);
	return yes;
}

/* The storage-drbd element's resource name into buf. */
static bool sp_drbd_resource(xmlNode *e, char *buf, size_t len)
{
	if (!sp_is(e, "storage") || !sp_prop_is(e, "plugin", "storage-drbd"))
		return false;
	sp_text(sp_child(e, "resource"), buf, len);
	return true;
}

/* The disk of a storage-drbd element that `node` uses: its own
 * <disk node="ID">, else the one without node= (storage-drbd(5)). */
static void sp_node_disk(xmlNode *e, const char *node, char *buf, size_t len)
{
	xmlNode *any = NULL, *mine = NULL;

	for (xmlNode *n = e->children; n; n = n->next) {
		if (!sp_is(n, "disk"))
			continue;
		xmlChar *p = xmlGetProp(n, (const xmlChar *)"node");
		if (!p)
			any = any ? any : n;
		else if (node && strcmp((const char *)p, node) == 0)
			mine = n;
		xmlFree(p);
	}
	sp_text(mine ? mine : any, buf, len);
}

void syncpart_scan(const struct conf *c, struct syncpart_view *v)
{
	char res[64];

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < c->n_inst; i++) {
		const struct conf_instance *in = &c->inst[i];
		xmlNode *e = in->section ? in->section->node : NULL;
		if (in->kind != CMSD_KIND_STORAGE || !in->plugin_name || !e)
			continue;
		if ((strcmp(in->plugin_name, "storage-fc") == 0 ||
		     strcmp(in->plugin_name, "storage-iscsi") == 0) &&
		    !v->lun_id[0]) {
			snprintf(v->lun_id, sizeof(v->lun_id), "%s", in->id);
			snprintf(v->lun_plugin, sizeof(v->lun_plugin), "%s",
				 in->plugin_name);
		}
		if (!sp_drbd_resource(e, res, sizeof(res)))
			continue;
		if (strcmp(res, SYNCPART_NAME) == 0)
			snprintf(v->r1_id, sizeof(v->r1_id), "%s", in->id);
		else if (strcmp(res, SYNCPART_DB) == 0)
			sp_node_disk(e, c->local_node, v->r0_disk,
				     sizeof(v->r0_disk));
	}
}

/* ---- the refusals ---- */

int syncpart_check_conf(const struct syncpart_view *v, bool add,
			const char *name, char *msg, size_t len)
{
	const char *op = add ? "add" : "remove";

	if (strcmp(name, SYNCPART_NAME) != 0) {
		snprintf(msg, len,
			 "sync-partition %s \"%s\": the local sync partition "
			 "is named " SYNCPART_NAME
			 " (there is only one; " SYNCPART_DB
			 " is the database partition)",
			 op, name);
		return -EINVAL;
	}
	if (!add) {
		if (!v->r1_id[0]) {
			snprintf(msg, len,
				 "sync-partition remove r1: no local sync "
				 "partition is configured (no storage-drbd "
				 "element with resource r1)");
			return -EINVAL;
		}
		return 0;
	}
	if (v->r1_id[0]) {
		snprintf(msg, len,
			 "sync-partition add r1: a local sync partition is "
			 "already configured (<storage id=\"%s\">, resource "
			 "r1): there is only one",
			 v->r1_id);
		return -EINVAL;
	}
	if (v->lun_id[0]) {
		snprintf(msg, len,
			 "sync-partition add r1: not with an FC/iSCSI LUN "
			 "attached: <storage id=\"%s\" plugin=\"%s\"> is "
			 "configured",
			 v->lun_id, v->lun_plugin);
		return -EINVAL;
	}
	return 0;
}

/* The refusals of one node's facts, in the order an operator fixes them:
 * the disk itself, then its use, then the host's role. */
static int sp_check_one(const char *dev, const char *node,
			const struct syncpart_facts *f, char *msg, size_t len)
{
	if (f->present == 0) {
		snprintf(msg, len,
			 "sync-partition add r1: %s does not exist on %s "
			 "(the disk must have the same name on both nodes)",
			 dev, node);
		return -EINVAL;
	}
	if (f->present < 0) {
		snprintf(msg, len,
			 "sync-partition add r1: %s on %s is not a block "
			 "device",
			 dev, node);
		return -EINVAL;
	}
	if (f->r0) {
		snprintf(msg, len,
			 "sync-partition add r1: %s on %s is the disk of the "
			 "database partition r0",
			 dev, node);
		return -EINVAL;
	}
	if (f->mounted_on[0]) {
		snprintf(msg, len,
			 "sync-partition add r1: %s is mounted on %s at %s",
			 dev, node, f->mounted_on);
		return -EINVAL;
	}
	if (f->compute > 0) {
		snprintf(msg, len,
			 "sync-partition add r1: %s is also a compute host "
			 "(%s): a sync partition is refused on compute hosts",
			 node, f->why[0] ? f->why : "the compute-host hook");
		return -EINVAL;
	}
	if (f->compute < 0) {
		snprintf(msg, len,
			 "sync-partition add r1: cannot tell whether %s is a "
			 "compute host: %s",
			 node, f->why[0] ? f->why : "the hook failed");
		return -EINVAL;
	}
	return 0;
}

int syncpart_check_facts(const char *dev, const char *node,
			 const struct syncpart_facts *l, const char *peer,
			 const struct syncpart_facts *p, char *msg, size_t len)
{
	int rc;

	if ((rc = sp_check_one(dev, node, l, msg, len)) < 0 ||
	    (rc = sp_check_one(dev, peer, p, msg, len)) < 0)
		return rc;
	if (l->size != p->size) {
		snprintf(msg, len,
			 "sync-partition add r1: %s differs in size: %" PRIu64
			 " bytes on %s, %" PRIu64
			 " bytes on %s (the disks must be the same size)",
			 dev, l->size, node, p->size, peer);
		return -EINVAL;
	}
	return 0;
}

/* ---- the facts on the wire ---- */

/* Words carry no spaces: the free text (mount point, hook's words) is
 * last, after "why=", and the mount point has its spaces as \040 as in
 * mountinfo. */
void syncpart_facts_format(const struct syncpart_facts *f, char *buf,
			   size_t len)
{
	snprintf(buf, len,
		 "present=%d size=%" PRIu64
		 " r0=%d compute=%d mounted=%s why=%s",
		 f->present, f->size, f->r0 ? 1 : 0, f->compute,
		 f->mounted_on[0] ? f->mounted_on : "-", f->why);
}

int syncpart_facts_parse(const char *s, struct syncpart_facts *f)
{
	int present, r0, compute, n = 0;
	uint64_t size;
	char mounted[256];
	const char *why;

	memset(f, 0, sizeof(*f));
	if (sscanf(s,
		   "present=%d size=%" SCNu64 " r0=%d compute=%d mounted=%255s "
		   "%n",
		   &present, &size, &r0, &compute, mounted, &n) != 5 ||
	    n == 0)
		return -EPROTO;
	why = s + n;
	if (strncmp(why, "why=", 4) != 0)
		return -EPROTO;
	f->present = present;
	f->size = size;
	f->r0 = r0 != 0;
	f->compute = compute;
	if (strcmp(mounted, "-") != 0)
		snprintf(f->mounted_on, sizeof(f->mounted_on), "%s", mounted);
	snprintf(f->why, sizeof(f->why), "%s", why + 4);
	return 0;
}

bool syncpart_mountinfo_find(const char *text, unsigned maj, unsigned min,
			     char *where, size_t len)
{
	const char *line = text;

	while (line && *line) {
		unsigned id, parent, ma, mi;
		char root[512], mp[512];
		const char *nl = strchr(line, '\n');
		if (sscanf(line, "%u %u %u:%u %511s %511s", &id, &parent, &ma,
			   &mi, root, mp) == 6 &&
		    ma == maj && mi == min) {
			snprintf(where, len, "%s", mp);
			return true;
		}
		line = nl ? nl + 1 : NULL;
	}
	return false;
}

/* ---- the XML edit ---- */

static xmlDoc *sp_read(const char *in, char *err, size_t errlen)
{
	/* No NOBLANKS: the operator's layout and comments stay as they
	 * were; only the element added or removed changes. */
	xmlDoc *doc = xmlReadFile(in, NULL, XML_PARSE_NONET);

	if (!doc || !xmlDocGetRootElement(doc)) {
		const xmlError *e = xmlGetLastError();
		snprintf(err, errlen, "%s: cannot read the XML: %s", in,
			 e && e->message ? e->message : "parse error");
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int sp_write(xmlDoc *doc, const char *out, char *err, size_t errlen)
{
	if (xmlSaveFileEnc(out, doc, "UTF-8") < 0) {
		snprintf(err, errlen, "%s: cannot write the new config", out);
		return -EIO;
	}
	return 0;
}

static bool sp_id_taken(xmlNode *root, const char *id)
{
	for (xmlNode *n = root->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (sp_prop_is(n, "id", id))
			return true;
		if (sp_is(n, "group") && sp_id_taken(n, id))
			return true;
	}
	return false;
}

static void sp_add_key(xmlNode *e, const char *ind, const char *k,
		       const char *v)
{
	xmlAddChild(e, xmlNewText((const xmlChar *)ind));
	xmlNewTextChild(e, NULL, (const xmlChar *)k, (const xmlChar *)v);
}

/* Keys of r0 that describe the site, not the resource: copied to r1. */
static bool sp_site_key(const xmlNode *n)
{
	static const char *const own[] = {"resource", "minor", "device", "disk",
					  "port",     "mount", NULL};

	if (n->type != XML_ELEMENT_NODE)
		return false;
	for (size_t i = 0; own[i]; i++)
		if (sp_is(n, own[i]))
			return false;
	return true;
}

int syncpart_xml_add(const char *in, const char *out, struct syncpart_new *nw,
		     char *err, size_t errlen)
{
	xmlDoc *doc = sp_read(in, err, errlen);
	xmlNode *root, *last_storage = NULL, *group = NULL, *r0 = NULL, *e;
	unsigned max_minor = 0, max_port = 0;
	bool any_drbd = false;
	char buf[64], res[64];
	int rc;

	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	for (xmlNode *n = root->children; n; n = n->next) {
		if (sp_is(n, "group") && !group)
			group = n;
		if (!sp_is(n, "storage"))
			continue;
		last_storage = n;
		if (!sp_drbd_resource(n, res, sizeof(res)))
			continue;
		if (strcmp(res, SYNCPART_NAME) == 0) {
			snprintf(err, errlen,
				 "%s: a storage-drbd element with resource "
				 "r1 is already there",
				 in);
			xmlFreeDoc(doc);
			return -EEXIST;
		}
		if (strcmp(res, SYNCPART_DB) == 0)
			r0 = n;
		any_drbd = true;
		sp_text(sp_child(n, "minor"), buf, sizeof(buf));
		unsigned v = buf[0] ? (unsigned)strtoul(buf, NULL, 10) : 0;
		max_minor = v > max_minor ? v : max_minor;
		sp_text(sp_child(n, "port"), buf, sizeof(buf));
		v = buf[0] ? (unsigned)strtoul(buf, NULL, 10) : 7789;
		max_port = v > max_port ? v : max_port;
	}
	/* Its own minor and port, next to the ones in use; the peer gets the
	 * initiator's (port 0: choose), so that both files say the same. */
	if (!nw->port) {
		nw->minor = any_drbd ? max_minor + 1 : 1;
		nw->port = any_drbd ? max_port + 1 : SYNCPART_DEFAULT_PORT;
	}
	snprintf(nw->id, sizeof(nw->id), "sync");
	for (int i = 1; sp_id_taken(root, nw->id) && i < 100; i++)
		snprintf(nw->id, sizeof(nw->id), "sync%d", i);

	e = xmlNewNode(NULL, (const xmlChar *)"storage");
	xmlNewProp(e, (const xmlChar *)"id", (const xmlChar *)nw->id);
	xmlNewProp(e, (const xmlChar *)"plugin",
		   (const xmlChar *)"storage-drbd");
	sp_add_key(e, "\n    ", "resource", SYNCPART_NAME);
	snprintf(buf, sizeof(buf), "%u", nw->minor);
	sp_add_key(e, "\n    ", "minor", buf);
	sp_add_key(e, "\n    ", "disk", nw->disk);
	snprintf(buf, sizeof(buf), "%u", nw->port);
	sp_add_key(e, "\n    ", "port", buf);
	sp_add_key(e, "\n    ", "mount", nw->mount);
	for (xmlNode *k = r0 ? r0->children : NULL; k; k = k->next) {
		if (!sp_site_key(k))
			continue;
		xmlAddChild(e, xmlNewText((const xmlChar *)"\n    "));
		xmlAddChild(e, xmlCopyNode(k, 1));
	}
	xmlAddChild(e, xmlNewText((const xmlChar *)"\n  "));
	/* After the last storage element (the sync partition comes before
	 * any LUN: agent/conf.c), else before the group, else at the end. */
	if (last_storage) {
		xmlAddNextSibling(last_storage, e);
		xmlAddNextSibling(last_storage,
				  xmlNewText((const xmlChar *)"\n  "));
	} else if (group) {
		xmlAddPrevSibling(group, e);
		xmlAddPrevSibling(group, xmlNewText((const xmlChar *)"\n  "));
	} else {
		xmlAddChild(root, xmlNewText((const xmlChar *)"  "));
		xmlAddChild(root, e);
		xmlAddChild(root, xmlNewText((const xmlChar *)"\n"));
	}
	rc = sp_write(doc, out, err, errlen);
	xmlFreeDoc(doc);
	return rc;
}

int syncpart_xml_remove(const char *in, const char *out, char *drbdadm,
			size_t dlen, char *resfile, size_t rlen, char *err,
			size_t errlen)
{
	xmlDoc *doc = sp_read(in, err, errlen);
	xmlNode *root, *e = NULL;
	char res[64], dir[256];
	int rc;

	if (!doc)
		return -EINVAL;
	root = xmlDocGetRootElement(doc);
	for (xmlNode *n = root->children; n && !e; n = n->next)
		if (sp_drbd_resource(n, res, sizeof(res)) &&
		    strcmp(res, SYNCPART_NAME) == 0)
			e = n;
	if (!e) {
		snprintf(err, errlen,
			 "%s: no storage-drbd element with resource r1", in);
		xmlFreeDoc(doc);
		return -ENOENT;
	}
	sp_text(sp_child(e, "drbdadm"), drbdadm, dlen);
	if (!drbdadm[0])
		snprintf(drbdadm, dlen, "/usr/sbin/drbdadm");
	sp_text(sp_child(e, "config-dir"), dir, sizeof(dir));
	snprintf(resfile, rlen, "%s/%s.res", dir[0] ? dir : "/etc/drbd.d",
		 SYNCPART_NAME);
	/* The indentation before it goes with it. */
	if (e->prev && e->prev->type == XML_TEXT_NODE &&
	    xmlIsBlankNode(e->prev)) {
		xmlNode *t = e->prev;
		xmlUnlinkNode(t);
		xmlFreeNode(t);
	}
	xmlUnlinkNode(e);
	xmlFreeNode(e);
	rc = sp_write(doc, out, err, errlen);
	xmlFreeDoc(doc);
	return rc;
}
