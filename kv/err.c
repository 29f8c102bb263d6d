/*
 * err.c: error texts.  kv_strerror() maps a return code to static text;
 * kv_errmsg() returns the calling thread's last detailed message, set by
 * kv_set_err() and the KV_CORRUPT() macro where an error is first seen.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kv_int.h"

static _Thread_local char errbuf[512];

int kv_set_err(int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return rc;
}

int kv_corrupt_at(uint64_t pgno, const char *file, int line, const char *what)
{
	return kv_set_err(KV_ECORRUPT, "page %llu: %s (%s:%d)",
	                  (unsigned long long)pgno, what, file, line);
}

const char *kv_errmsg(void)
{
	return errbuf;
}

KV_API const char *kv_strerror(int rc)
{
	switch (rc) {
	case 0:
		return "success";
	case KV_ENOTFOUND:
		return "not found";
	case KV_EEXIST:
		return "already exists";
	case KV_EBUSY:
		return "another writer is active";
	case KV_ECORRUPT:
		return "database file is corrupt";
	case KV_EVERSION:
		return "database format version is newer than this program";
	case KV_ENOTDB:
		return "not a cccfs database file";
	case KV_EFATAL:
		return "an I/O error left the database state unknown; reopen "
		       "it";
	case KV_EREADONLY:
		return "write in a read-only transaction or database";
	case KV_EKEYSIZE:
		return "key is empty or too long";
	case KV_EVALSIZE:
		return "value is too long";
	case KV_EREADERS:
		return "too many concurrent readers";
	case KV_ELOCKED:
		return "database is in use by another process";
	case KV_EORDER:
		return "appended key is not above the last key";
	case KV_EBADNAME:
		return "name is empty or too long";
	case KV_ENOREADER:
		return "cannot register as a reader of the database";
	default:
		if (rc < 0 && !kv_is_kv_error(rc))
			return strerror(-rc);
		return "unknown error";
	}
}
