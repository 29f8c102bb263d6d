/*
 * fuzz_yaml.c: record validation (fs/store/yaml_check.h) of arbitrary bytes.
 *
 * Invariants: the answer is 0, -EINVAL or -ENOMEM; it does not depend on
 * whether or where a message is wanted; a rejection always explains itself
 * as "line L, column C: ..." in a NUL-terminated message that fits the
 * buffer, however small the buffer, with no control bytes in it.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "yaml_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[YC_MSG_MAX], tiny[8];
	int rc, again;

	yaml_check_seed(1); /* the same runs on every machine */
	memset(msg, 0x55, sizeof(msg));
	rc = yaml_check(data, size, msg, sizeof(msg));
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc == -EINVAL) {
		FUZZ_ASSERT(memchr(msg, '\0', sizeof(msg)) != NULL);
		FUZZ_ASSERT(strncmp(msg, "line ", 5) == 0);
		FUZZ_ASSERT(strstr(msg, ", column ") != NULL);
		/* safe to log: names in it are escaped */
		for (const char *p = msg; *p; p++)
			FUZZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	if (rc == -ENOMEM)
		return 0;

	again = yaml_check(data, size, NULL, 0);
	FUZZ_ASSERT(again == rc || again == -ENOMEM);
	memset(tiny, 0x55, sizeof(tiny));
	again = yaml_check(data, size, tiny, sizeof(tiny));
	FUZZ_ASSERT(again == rc || again == -ENOMEM);
	if (again == -EINVAL)
		FUZZ_ASSERT(memchr(tiny, '\0', sizeof(tiny)) != NULL);
	return 0;
}
