/*
 * setup_disk_set(): see setup_disk.h.  Pure (a document in, the same
 * document changed), so tests/unit drives it on config texts.
 */
#include "setup_disk.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool el(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE &&
	       strcmp((const char *)n->name, name) == 0;
}

static bool prop_is(xmlNode *n, const char *name, const char *v)
{
	xmlChar *p = xmlGetProp(n, (const xmlChar *)name);
	bool is = p && strcmp((const char *)p, v) == 0;

	xmlFree(p);
	return is;
}

static bool text_is(xmlNode *n, const char *v)
{
	xmlChar *t = xmlNodeGetContent(n);
	bool is = t && strcmp((const char *)t, v) == 0;

	xmlFree(t);
	return is;
}

int setup_disk_set(xmlDoc *doc, const char *storage_id, const char *node,
		   const char *dev)
{
	xmlNode *root = xmlDocGetRootElement(doc), *s, *k, *last = NULL;
	xmlNode *generic = NULL, *n;

	for (s = root ? root->children : NULL; s; s = s->next)
		if (el(s, "storage") && prop_is(s, "id", storage_id) &&
		    prop_is(s, "plugin", "storage-drbd"))
			break;
	if (!s)
		return -ENOENT;
	for (k = s->children; k; k = k->next) {
		if (!el(k, "disk"))
			continue;
		last = k;
		if (prop_is(k, "node", node)) {
			if (text_is(k, dev))
				return 1;
			xmlNodeSetContent(k, NULL);
			xmlNodeAddContent(k, (const xmlChar *)dev);
			return 0;
		}
		if (!xmlHasProp(k, (const xmlChar *)"node"))
			generic = k;
	}
	if (generic && text_is(generic, dev))
		return 1;
	/* after the last <disk>, indented as it is */
	n = xmlNewDocNode(doc, NULL, (const xmlChar *)"disk", NULL);
	xmlNodeAddContent(n, (const xmlChar *)dev);
	xmlSetProp(n, (const xmlChar *)"node", (const xmlChar *)node);
	if (last) {
		xmlNode *ws = last->prev && last->prev->type == XML_TEXT_NODE
				      ? xmlCopyNode(last->prev, 1)
				      : NULL;
		xmlAddNextSibling(last, n);
		if (ws)
			xmlAddPrevSibling(n, ws);
	} else {
		xmlAddChild(s, n);
	}
	return 0;
}
