/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Upload frames (docs/api.md: 32-byte SHA-256, u32 little-endian length,
 * bytes) and how missing chunks are split into requests of at most 64 MiB.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "store/store.h"

Test(frames, header_layout)
{
    unsigned char id[32], out[SL_FRAME_HEADER];

    for (int i = 0; i < 32; i++)
        id[i] = (unsigned char)(0xa0 + i);
    sl__cl_frame_header(out, id, 0x00012345u);
    cr_expect(memcmp(out, id, 32) == 0);
    cr_expect_eq(out[32], 0x45);
    cr_expect_eq(out[33], 0x23);
    cr_expect_eq(out[34], 0x01);
    cr_expect_eq(out[35], 0x00);
    sl__cl_frame_header(out, id, SL_CDC_MAX);
    cr_expect_eq(out[32] | out[33] << 8 | out[34] << 16 | out[35] << 24, 131072);
}

Test(frames, requests_stay_under_the_request_limit)
{
    size_t n = 1200, starts[1201], nreq;
    uint32_t *lens = malloc(n * sizeof(*lens));

    for (size_t i = 0; i < n; i++)
        lens[i] = SL_CDC_MAX;
    nreq = sl__cl_plan_requests(lens, n, SL_UPLOAD_MAX_REQ, starts);
    /* 16 MiB / (128 KiB + 36) = 127.96: 127 full frames per request, so
     * 1200 frames make 10 requests (9 x 127 + 57). */
    cr_assert_eq(nreq, 10);
    cr_expect_eq(starts[0], 0);
    cr_expect_eq(starts[1], 127);
    cr_expect_eq(starts[9], 1143);
    cr_expect_eq(starts[10], 1200);
    for (size_t r = 0; r < nreq; r++) {
        uint64_t bytes = 0;
        for (size_t i = starts[r]; i < starts[r + 1]; i++)
            bytes += SL_FRAME_HEADER + lens[i];
        cr_expect(bytes <= SL_UPLOAD_MAX_REQ, "request %zu is %llu bytes", r,
                  (unsigned long long)bytes);
    }
    free(lens);
}

Test(frames, mixed_sizes_keep_order_and_cover_everything)
{
    size_t n = 5000, starts[5001], nreq, covered = 0;
    uint32_t *lens = malloc(n * sizeof(*lens));

    for (size_t i = 0; i < n; i++)
        lens[i] = (uint32_t)(8192 + (i * 7919) % (SL_CDC_MAX - 8192));
    nreq = sl__cl_plan_requests(lens, n, 1u << 20, starts);
    cr_expect(nreq > 1);
    for (size_t r = 0; r < nreq; r++) {
        uint64_t bytes = 0;
        cr_expect(starts[r] < starts[r + 1], "no empty request");
        for (size_t i = starts[r]; i < starts[r + 1]; i++)
            bytes += SL_FRAME_HEADER + lens[i];
        cr_expect(bytes <= 1u << 20);
        covered += starts[r + 1] - starts[r];
    }
    cr_expect_eq(covered, n);
    cr_expect_eq(sl__cl_plan_requests(lens, 0, 1u << 20, starts), 0, "nothing to upload");
    free(lens);
}
