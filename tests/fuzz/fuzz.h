/*
 * fuzz.h: the entry point every fuzz target in tests/fuzz/ defines.
 *
 * With clang and -Dfuzz=true each target links libFuzzer, which calls it
 * with mutated inputs (scripts/fuzz).  In every other build replay.c calls
 * it once per file of the target's seed corpus, so that the corpus, and
 * every crash ever added to it, is a regression test.
 *
 * A target checks its invariants with FUZZ_ASSERT, which aborts (and so
 * reports the input) in both builds.
 */
#ifndef CCCFS_TESTS_FUZZ_H
#define CCCFS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", \
			        __FILE__, __LINE__, #cond);              \
			abort();                                         \
		}                                                        \
	} while (0)

#endif
