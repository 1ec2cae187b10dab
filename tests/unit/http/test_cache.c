/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The download lookup cache (src/http/cache.c): an entry is used only under
 * the hub stamp and generation it was made under, and never later than one
 * second after the lookup that made it began (docs/database.md, "Caches
 * never serve a superseded tier"), however long the lookup took.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/http_int.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void lookup(struct sl_req *q, const char *path, uint64_t hub)
{
    memset(q, 0, sizeof(*q));
    q->org = "acme";
    q->name = "m";
    q->rev = "main";
    q->path = path;
    q->cache_hub = hub;
}

/* A miss, then the answer stored, as the router and files.c do. */
static void fill(const char *path, uint64_t hub, int64_t version_id, long read_ms)
{
    struct sl_req q;
    struct sl_version_ref v, got_v;
    struct sl_file_ref f, got_f;
    const unsigned char *bytes = NULL;

    lookup(&q, path, hub);
    cr_assert_not(sl_cache_get(&q, &got_v, &got_f, &bytes));
    sleep_ms(read_ms); /* the database read */
    memset(&v, 0, sizeof(v));
    memset(&f, 0, sizeof(f));
    v.version_id = version_id;
    snprintf(v.tier, sizeof(v.tier), "open");
    f.size = 3;
    sl_cache_put(&q, &v, &f, "abc");
}

static bool hit(const char *path, uint64_t hub, int64_t *version_id)
{
    struct sl_req q;
    struct sl_version_ref v;
    struct sl_file_ref f;
    const unsigned char *bytes = NULL;

    lookup(&q, path, hub);
    if (!sl_cache_get(&q, &v, &f, &bytes))
        return false;
    cr_assert_not_null(bytes);
    cr_assert_eq(memcmp(bytes, "abc", 3), 0);
    *version_id = v.version_id;
    return true;
}

Test(cache, hit_under_the_same_stamp_only)
{
    int64_t id = 0;

    fill("a.json", 7, 41, 0);
    cr_assert(hit("a.json", 7, &id));
    cr_assert_eq(id, 41);
    cr_assert_not(hit("a.json", 8, &id), "an entry was used under another hub stamp");
    cr_assert_not(hit("b.json", 7, &id));
}

Test(cache, never_stored_when_the_stamp_failed)
{
    int64_t id = 0;

    fill("a.json", UINT64_MAX, 41, 0);
    cr_assert_not(hit("a.json", UINT64_MAX, &id));
}

Test(cache, a_bump_voids_every_entry)
{
    int64_t id = 0;

    fill("a.json", 0, 41, 0);
    sl_cache_bump();
    cr_assert_not(hit("a.json", 0, &id));
}

Test(cache, a_bump_during_the_read_voids_what_it_stores)
{
    struct sl_req q;
    struct sl_version_ref v;
    struct sl_file_ref f;
    const unsigned char *bytes = NULL;
    int64_t id = 0;

    lookup(&q, "a.json", 0);
    cr_assert_not(sl_cache_get(&q, &v, &f, &bytes));
    sl_cache_bump(); /* a change lands between the read and the store */
    memset(&v, 0, sizeof(v));
    memset(&f, 0, sizeof(f));
    sl_cache_put(&q, &v, &f, NULL);
    cr_assert_not(hit("a.json", 0, &id));
}

Test(cache, an_entry_ages_from_the_start_of_its_lookup)
{
    int64_t id = 0;

    /* a lookup whose read took 600 ms: its answer is 600 ms old when stored,
     * so 500 ms later it is past its second */
    fill("slow.json", 0, 41, 600);
    cr_assert(hit("slow.json", 0, &id), "the entry was not stored");
    sleep_ms(500);
    cr_assert_not(hit("slow.json", 0, &id), "an entry was used more than 1 s after its lookup");
}

Test(cache, an_entry_lives_no_longer_than_a_second)
{
    int64_t id = 0;

    fill("a.json", 0, 41, 0);
    sleep_ms(700);
    cr_assert(hit("a.json", 0, &id));
    sleep_ms(400);
    cr_assert_not(hit("a.json", 0, &id));
}
