/*
 * A tiny NSS subid module for the tests: shadow's libsubid (and newuidmap, which
 * carries the same code) dlopen libsubid_NAME.so for `subid: NAME` in
 * /etc/nsswitch.conf and call the entry points below (shadow 4.13 lib/prototypes.h,
 * struct subid_nss_ops; shadow_subid_free is wanted from 4.17 on).
 *
 * It serves the ranges listed in /etc/userns-subid-fixture, one a line:
 *     OWNER u|g START COUNT
 * The tests write that file into the scenario's private /etc.
 *
 * Built by tests/nss_e2e.rs with `cc -shared -fPIC`; never installed on the host.
 */
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The ABI of <shadow/subid.h>, restated so that building needs no libsubid-dev. */
struct subid_range {
	unsigned long start;
	unsigned long count;
};
enum subid_type { ID_TYPE_UID = 1, ID_TYPE_GID = 2 };
enum subid_status {
	SUBID_STATUS_SUCCESS = 0,
	SUBID_STATUS_UNKNOWN_USER = 1,
	SUBID_STATUS_ERROR_CONN = 2,
	SUBID_STATUS_ERROR = 3,
};

#define FIXTURE "/etc/userns-subid-fixture"

struct fixture_line {
	char owner[256];
	char kind;
	unsigned long start, count;
};

/* Read the next line of the fixture that parses; 0 at the end. */
static int next_line(FILE *f, struct fixture_line *l)
{
	char buf[512];
	while (fgets(buf, sizeof buf, f)) {
		if (sscanf(buf, "%255s %c %lu %lu", l->owner, &l->kind, &l->start, &l->count) == 4)
			return 1;
	}
	return 0;
}

static char kind_of(enum subid_type t)
{
	return t == ID_TYPE_UID ? 'u' : 'g';
}

enum subid_status shadow_subid_list_owner_ranges(const char *owner, enum subid_type t,
                                                 struct subid_range **ranges, int *count)
{
	struct fixture_line l;
	FILE *f = fopen(FIXTURE, "r");
	*ranges = NULL;
	*count = 0;
	if (!f)
		return SUBID_STATUS_ERROR_CONN;
	while (next_line(f, &l)) {
		if (l.kind != kind_of(t) || strcmp(l.owner, owner) != 0)
			continue;
		struct subid_range *grown = realloc(*ranges, (*count + 1) * sizeof **ranges);
		if (!grown) {
			fclose(f);
			free(*ranges);
			*ranges = NULL;
			*count = 0;
			return SUBID_STATUS_ERROR;
		}
		*ranges = grown;
		(*ranges)[*count].start = l.start;
		(*ranges)[*count].count = l.count;
		(*count)++;
	}
	fclose(f);
	return SUBID_STATUS_SUCCESS;
}

enum subid_status shadow_subid_has_range(const char *owner, unsigned long start,
                                         unsigned long count, enum subid_type t, bool *result)
{
	struct fixture_line l;
	FILE *f = fopen(FIXTURE, "r");
	*result = false;
	if (!f)
		return SUBID_STATUS_ERROR_CONN;
	while (next_line(f, &l)) {
		if (l.kind == kind_of(t) && strcmp(l.owner, owner) == 0 && start >= l.start &&
		    start + count <= l.start + l.count) {
			*result = true;
			break;
		}
	}
	fclose(f);
	return SUBID_STATUS_SUCCESS;
}

enum subid_status shadow_subid_find_subid_owners(unsigned long id, enum subid_type t,
                                                 uid_t **uids, int *count)
{
	struct fixture_line l;
	FILE *f = fopen(FIXTURE, "r");
	*uids = NULL;
	*count = 0;
	if (!f)
		return SUBID_STATUS_ERROR_CONN;
	while (next_line(f, &l)) {
		struct passwd *pw;
		if (l.kind != kind_of(t) || id < l.start || id - l.start >= l.count)
			continue;
		pw = getpwnam(l.owner);
		if (!pw)
			continue;
		uid_t *grown = realloc(*uids, (*count + 1) * sizeof **uids);
		if (!grown)
			break;
		*uids = grown;
		(*uids)[(*count)++] = pw->pw_uid;
	}
	fclose(f);
	return SUBID_STATUS_SUCCESS;
}

void shadow_subid_free(void *ptr)
{
	free(ptr);
}
