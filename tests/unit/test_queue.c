/* test_queue.c - batches (refcounts, growth, limits) and the bounded queue
 * (FIFO order across the ring's wrap, drop-oldest counting batches and
 * samples). Leaks and double frees are caught by the sanitizer build. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dcem/queue.h"
#include "dcem/sample.h"

static dcem_batch *batch_with(const char *dev, size_t nsamples)
{
        dcem_batch *b = NULL;
        size_t i;

        assert_int_equal(dcem_batch_new(dev, 0, &b), 0);
        for (i = 0; i < nsamples; i++) {
                dcem_sample s = { .value = (double)i };

                snprintf(s.point, sizeof(s.point), "p%zu", i);
                assert_int_equal(dcem_batch_add(&b, &s), 0);
        }
        return b;
}

static void test_quality_names(void **state)
{
        (void)state;
        assert_string_equal(dcem_quality_name(DCEM_Q_GOOD), "good");
        assert_string_equal(dcem_quality_name(DCEM_Q_STALE), "stale");
        assert_string_equal(dcem_quality_name(DCEM_Q_ERROR), "error");
        assert_string_equal(dcem_quality_name(DCEM_Q_ESTIMATED), "estimated");
        assert_string_equal(dcem_quality_name(_DCEM_Q_MAX), "unknown");
}

static void test_batch_grow_and_limits(void **state)
{
        char longname[DCEM_NAME_MAX + 1];
        dcem_batch *b = NULL, *keep = (dcem_batch *)0x1;
        dcem_sample s = { 0 };
        size_t i;

        (void)state;
        memset(longname, 'x', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(dcem_batch_new(longname, 4, &keep), -EINVAL);
        assert_ptr_equal(keep, (dcem_batch *)0x1); /* untouched on failure */
        longname[DCEM_NAME_MAX - 1] = '\0';        /* exactly the longest allowed */
        assert_int_equal(dcem_batch_new(longname, 4, &b), 0);
        assert_string_equal(b->device, longname);
        dcem_batch_unref(b);
        assert_int_equal(dcem_batch_new("d", DCEM_BATCH_MAX + 1, &b), -EINVAL);

        assert_int_equal(dcem_batch_new("pdu-1", 1, &b), 0);
        assert_int_equal(b->refs, 1);
        for (i = 0; i < DCEM_BATCH_MAX; i++) {
                s.value = (double)i * 0.5;
                assert_int_equal(dcem_batch_add(&b, &s), 0);
        }
        assert_int_equal(b->n, DCEM_BATCH_MAX);
        assert_int_equal(dcem_batch_add(&b, &s), -E2BIG);
        for (i = 0; i < DCEM_BATCH_MAX; i++)
                assert_true(b->samples[i].value == (double)i * 0.5);
        assert_string_equal(b->device, "pdu-1");

        /* A shared batch must not move under its other holders. */
        dcem_batch_ref(b);
        assert_int_equal(b->refs, 2);
        dcem_batch_unref(b);
        dcem_batch_unref(b);
        b = batch_with("x", 0);
        dcem_batch_ref(b);
        assert_int_equal(dcem_batch_add(&b, &s), -EBUSY);
        dcem_batch_unref(b);
        dcem_batch_unref(b);
        dcem_batch_unref(NULL);
}

static void test_queue_fifo_wrap(void **state)
{
        dcem_batch *b[8];
        dcem_queue *q = NULL;
        size_t i;

        (void)state;
        assert_int_equal(dcem_queue_new(0, &q), -EINVAL);
        assert_null(q);
        assert_int_equal(dcem_queue_new(3, &q), 0);
        assert_int_equal(dcem_queue_cap(q), 3);
        assert_null(dcem_queue_peek(q));
        assert_null(dcem_queue_pop(q));
        for (i = 0; i < 8; i++)
                b[i] = batch_with("d", i);

        /* Push and pop in a pattern that walks head around the ring twice. */
        size_t next_in = 0, next_out = 0;
        for (int round = 0; round < 4; round++) {
                while (dcem_queue_len(q) < 3 && next_in < 8) {
                        assert_int_equal(dcem_queue_push(q, b[next_in]), 0);
                        assert_int_equal(b[next_in]->refs, 2);
                        next_in++;
                }
                for (int k = 0; k < 2 && dcem_queue_len(q) > 0; k++) {
                        dcem_batch *got;

                        assert_ptr_equal(dcem_queue_peek(q), b[next_out]);
                        got = dcem_queue_pop(q);
                        assert_ptr_equal(got, b[next_out]);
                        assert_int_equal(got->n, next_out);
                        dcem_batch_unref(got);
                        assert_int_equal(b[next_out]->refs, 1);
                        next_out++;
                }
        }
        assert_int_equal(dcem_queue_dropped_batches(q), 0);
        assert_int_equal(dcem_queue_len(q), next_in - next_out);
        /* Free with batches inside: the queue's references go. */
        dcem_queue_free(q);
        for (i = 0; i < 8; i++) {
                assert_int_equal(b[i]->refs, 1);
                dcem_batch_unref(b[i]);
        }
        dcem_queue_free(NULL);
}

static void test_queue_drop_oldest(void **state)
{
        dcem_queue *q = NULL;
        dcem_batch *b[6];
        uint64_t want_samples = 0;
        size_t i;

        (void)state;
        assert_int_equal(dcem_queue_new(2, &q), 0);
        for (i = 0; i < 6; i++)
                b[i] = batch_with("d", i + 1); /* batch i holds i+1 samples */
        for (i = 0; i < 6; i++) {
                int r = dcem_queue_push(q, b[i]);

                if (i < 2) {
                        assert_int_equal(r, 0);
                } else {
                        assert_int_equal(r, 1);
                        want_samples += b[i - 2]->n; /* the oldest went */
                        assert_int_equal(b[i - 2]->refs, 1);
                }
        }
        assert_int_equal(dcem_queue_dropped_batches(q), 4);
        assert_int_equal(want_samples, 1 + 2 + 3 + 4);
        assert_int_equal(dcem_queue_dropped_samples(q), want_samples);
        assert_int_equal(dcem_queue_len(q), 2);
        assert_ptr_equal(dcem_queue_peek(q), b[4]);
        dcem_batch *got = dcem_queue_pop(q);
        assert_ptr_equal(got, b[4]);
        dcem_batch_unref(got);
        got = dcem_queue_pop(q);
        assert_ptr_equal(got, b[5]);
        dcem_batch_unref(got);
        dcem_queue_free(q);
        for (i = 0; i < 6; i++) {
                assert_int_equal(b[i]->refs, 1);
                dcem_batch_unref(b[i]);
        }
}

static void test_queue_cap_one(void **state)
{
        dcem_queue *q = NULL;
        dcem_batch *a = batch_with("a", 3), *b = batch_with("b", 5);

        (void)state;
        assert_int_equal(dcem_queue_new(1, &q), 0);
        assert_int_equal(dcem_queue_push(q, a), 0);
        assert_int_equal(dcem_queue_push(q, b), 1);
        assert_int_equal(dcem_queue_dropped_samples(q), 3);
        /* The caller's own references survive the drop. */
        dcem_batch_unref(a);
        assert_ptr_equal(dcem_queue_peek(q), b);
        dcem_batch_unref(b);
        assert_string_equal(dcem_queue_peek(q)->device, "b");
        dcem_queue_free(q); /* frees b with the last reference */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_quality_names),
                cmocka_unit_test(test_batch_grow_and_limits),
                cmocka_unit_test(test_queue_fifo_wrap),
                cmocka_unit_test(test_queue_drop_oldest),
                cmocka_unit_test(test_queue_cap_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
