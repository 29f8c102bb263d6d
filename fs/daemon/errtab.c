/*
 * errtab: the last rejected save per path, served as the xattr
 * user.cccfs.error.  Kept in memory (a rejected save commits nothing, not
 * even its message).  An entry is set when a save to that path is refused
 * and cleared by the next save that commits different content there.
 * A short list is enough: it holds only files whose last save failed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

struct err_entry {
	char *path;
	char *msg;
	struct err_entry *next;
};

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static struct err_entry *err_head;

static struct err_entry **find(const char *path)
{
	struct err_entry **pp = &err_head;

	while (*pp && strcmp((*pp)->path, path) != 0)
		pp = &(*pp)->next;
	return pp;
}

void errtab_set(const char *path, const char *msg)
{
	struct err_entry **pp, *e;
	char *m = strdup(msg);

	if (m == NULL)
		return;
	pthread_mutex_lock(&err_lock);
	pp = find(path);
	if (*pp) {
		free((*pp)->msg);
		(*pp)->msg = m;
	} else if ((e = calloc(1, sizeof(*e))) != NULL &&
	           (e->path = strdup(path)) != NULL) {
		e->msg = m;
		e->next = err_head;
		err_head = e;
	} else {
		free(e);
		free(m);
	}
	pthread_mutex_unlock(&err_lock);
}

void errtab_clear(const char *path)
{
	struct err_entry **pp, *e;

	pthread_mutex_lock(&err_lock);
	pp = find(path);
	e = *pp;
	if (e) {
		*pp = e->next;
		free(e->path);
		free(e->msg);
		free(e);
	}
	pthread_mutex_unlock(&err_lock);
}

char *errtab_get(const char *path)
{
	struct err_entry **pp;
	char *m = NULL;

	pthread_mutex_lock(&err_lock);
	pp = find(path);
	if (*pp)
		m = strdup((*pp)->msg);
	pthread_mutex_unlock(&err_lock);
	return m;
}

void errtab_release(void)
{
	pthread_mutex_lock(&err_lock);
	while (err_head) {
		struct err_entry *e = err_head;

		err_head = e->next;
		free(e->path);
		free(e->msg);
		free(e);
	}
	pthread_mutex_unlock(&err_lock);
}
