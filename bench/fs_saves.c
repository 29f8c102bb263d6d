/*
 * fs_saves.c - the durable writes of the filesystem benchmark
 * (scripts/bench-fs).
 *
 *   fs-saves save|rewrite ROOT LIST COUNT
 *
 * LIST names records relative to ROOT, one a line (the files.txt that
 * bench/fs_tree.py writes).  fs-saves picks COUNT of them spread evenly
 * over the list and gives each one new content, durably:
 *
 *   save     the way careful editors save: write the new content to a
 *            temporary file in the same folder (NAME.fs-saves.tmp, a side
 *            file for cccfs), fsync it, close it and rename it over NAME.
 *   rewrite  in place: open NAME with O_TRUNC, write, fsync, close.
 *            Rewrites take the records halfway between the ones saves
 *            take, so a run of both touches 2 * COUNT records.
 *
 * The new content is a valid record of about 1 KiB made from the index of
 * the save, so nothing is read from the filesystem under test and both
 * modes write the same amount.  The first failure ends the program with a
 * message naming the file and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTENT_MAX 4096

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fs-saves: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* A record of about 1 KiB, different for every index and mode. */
static size_t make_content(char *buf, const char *mode, unsigned i)
{
	size_t n = 0;

	n += (size_t)snprintf(
	        buf + n, CONTENT_MAX - n,
	        "name: %s-%05u\n"
	        "description: Saved by the benchmark, revision %u.\n"
	        "status: active\n"
	        "owner: bench\n"
	        "steps:\n",
	        mode, i, i);
	for (unsigned k = 0; k < 12; k++)
		n += (size_t)snprintf(
		        buf + n, CONTENT_MAX - n,
		        "  - name: step-%u\n"
		        "    run: check the %s output of run %u, step %u\n",
		        k, mode, i, k);
	n += (size_t)snprintf(buf + n, CONTENT_MAX - n,
	                      "tags:\n  - bench\n  - %s\n", mode);
	return n;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Write, fsync and close fd; close even when something failed first. */
static int finish(int fd, const char *buf, size_t len)
{
	int rc = write_all(fd, buf, len);

	if (rc == 0)
		rc = fsync(fd);
	if (close(fd) != 0 && rc == 0)
		rc = -1;
	return rc;
}

static int save(const char *path, const char *buf, size_t len)
{
	char tmp[PATH_MAX];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.fs-saves.tmp", path) >=
	    sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return fail("name", path);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("create", tmp);
	if (finish(fd, buf, len) != 0)
		return fail("write", tmp);
	if (rename(tmp, path) != 0)
		return fail("rename onto", path);
	return 0;
}

static int rewrite(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return fail("open", path);
	if (finish(fd, buf, len) != 0)
		return fail("write", path);
	return 0;
}

static void free_list(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* The non-empty lines of LIST, *count of them; NULL with errno set if it
 * cannot be read in full. */
static char **read_list(const char *list, size_t *count)
{
	FILE *f = fopen(list, "r");
	char **lines = NULL, *line = NULL;
	size_t n = 0, cap = 0, lcap = 0;
	ssize_t len;
	int err = 0;

	if (f == NULL)
		return NULL;
	while ((len = getline(&line, &lcap, f)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (n == cap) {
			char **grown;

			cap = cap ? 2 * cap : 1024;
			grown = realloc(lines, cap * sizeof(*lines));
			if (grown == NULL) {
				err = ENOMEM;
				break;
			}
			lines = grown;
		}
		lines[n] = strdup(line);
		if (lines[n] == NULL) {
			err = ENOMEM;
			break;
		}
		n++;
	}
	if (err == 0 && ferror(f))
		err = EIO;
	free(line);
	fclose(f);
	if (err != 0) {
		free_list(lines, n);
		errno = err;
		return NULL;
	}
	*count = n;
	return lines;
}

int main(int argc, char **argv)
{
	char content[CONTENT_MAX], path[PATH_MAX];
	size_t nfiles = 0;
	unsigned long count;
	char **files;
	int in_place, rc = 0;

	if (argc != 5 ||
	    (strcmp(argv[1], "save") != 0 && strcmp(argv[1], "rewrite") != 0)) {
		fprintf(stderr,
		        "usage: fs-saves save|rewrite ROOT LIST COUNT\n");
		return 2;
	}
	in_place = strcmp(argv[1], "rewrite") == 0;
	count = strtoul(argv[4], NULL, 10);
	files = read_list(argv[3], &nfiles);
	if (files == NULL)
		return fail("read", argv[3]);
	if (nfiles == 0 || count > nfiles) {
		fprintf(stderr,
		        "fs-saves: %s lists %zu files, fewer than %lu\n",
		        argv[3], nfiles, count);
		free_list(files, nfiles);
		return 1;
	}
	for (unsigned long i = 0; i < count && rc == 0; i++) {
		size_t at = i * nfiles / count +
		            (in_place ? nfiles / count / 2 : 0);
		const char *rel = files[at];
		size_t len = make_content(content, argv[1], (unsigned)i);

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[2],
		                     rel) >= sizeof(path)) {
			errno = ENAMETOOLONG;
			rc = fail("name", rel);
		} else {
			rc = in_place ? rewrite(path, content, len)
			              : save(path, content, len);
		}
	}
	free_list(files, nfiles);
	return rc;
}
