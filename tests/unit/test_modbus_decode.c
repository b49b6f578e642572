/* test_modbus_decode.c - every type x every word/byte order, against register
 * images built here byte by byte from the order's definition (not with the
 * decoder's own encoder); sentinels, scale factors, scale/offset, strings. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "modbus/mb.h"

/* Big-endian bytes of v (nbytes of them), then laid out in registers per
 * the order's definition: ABCD as is; CDAB: the words in reverse order;
 * BADC: the two bytes of each word swapped; DCBA: the whole byte string
 * reversed. */
static void image(uint64_t v, unsigned nbytes, mb_order o, uint16_t *regs) {
        uint8_t be[8], lay[8];
        for (unsigned i = 0; i < nbytes; i++)
                be[i] = (uint8_t)(v >> (8 * (nbytes - 1 - i)));
        unsigned nw = nbytes / 2;
        for (unsigned w = 0; w < nw; w++) {
                switch (o) {
                case MB_O_ABCD: lay[2 * w] = be[2 * w]; lay[2 * w + 1] = be[2 * w + 1]; break;
                case MB_O_CDAB: lay[2 * w] = be[2 * (nw - 1 - w)]; lay[2 * w + 1] = be[2 * (nw - 1 - w) + 1]; break;
                case MB_O_BADC: lay[2 * w] = be[2 * w + 1]; lay[2 * w + 1] = be[2 * w]; break;
                default: lay[2 * w] = be[nbytes - 1 - 2 * w]; lay[2 * w + 1] = be[nbytes - 2 - 2 * w]; break;
                }
        }
        for (unsigned w = 0; w < nw; w++)
                regs[w] = (uint16_t)((lay[2 * w] << 8) | lay[2 * w + 1]);
}

static mb_point pt(mb_type t, mb_order o, uint16_t reg) {
        mb_point p;
        memset(&p, 0, sizeof p);
        p.fc = MB_FC_HOLDING;
        p.type = (uint8_t)t;
        p.order = (uint8_t)o;
        p.reg = reg;
        p.sf_reg = -1;
        p.scale = 1;
        p.sentinel = true;
        return p;
}

static double dec(const mb_point *p, const uint16_t *regs, size_t n, int expect_rc) {
        double v = -1;
        assert_int_equal(mb_decode_point(p, 100, regs, NULL, n, &v), expect_rc);
        return v;
}

static void test_all_types_all_orders(void **state) {
        (void)state;
        for (int o = 0; o < _MB_O_MAX; o++) {
                uint16_t r[8];
                float f32 = 1234.5f;
                double f64 = -98765.4321;
                uint32_t fb;
                uint64_t db;
                memcpy(&fb, &f32, 4);
                memcpy(&db, &f64, 8);
                struct { mb_type t; uint64_t bits; unsigned nbytes; double want; } cases[] = {
                        { MB_T_INT16, (uint16_t)-12345, 2, -12345 },
                        { MB_T_UINT16, 54321, 2, 54321 },
                        { MB_T_INT32, (uint32_t)-123456789, 4, -123456789 },
                        { MB_T_UINT32, 3000000000u, 4, 3000000000.0 },
                        { MB_T_ACC32, 90663u, 4, 90663 },
                        { MB_T_INT64, (uint64_t)INT64_C(-1234567890123), 8, -1234567890123.0 },
                        { MB_T_UINT64, UINT64_C(0x0123456789ABCDE0), 8, (double)UINT64_C(0x0123456789ABCDE0) },
                        { MB_T_FLOAT32, fb, 4, 1234.5 },
                        { MB_T_FLOAT64, db, 8, -98765.4321 },
                };
                for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                        memset(r, 0xAA, sizeof r);
                        image(cases[i].bits, cases[i].nbytes, (mb_order)o, r + 1);
                        mb_point p = pt(cases[i].t, (mb_order)o, 101);
                        double v = dec(&p, r, 8, 0);
                        if (v != cases[i].want)
                                fail_msg("%s %s: got %.17g want %.17g", mb_type_name(cases[i].t),
                                         mb_order_name((mb_order)o), v, cases[i].want);
                        /* the encoder used by simulators agrees with the definition */
                        uint16_t e[4];
                        mb_encode_raw(cases[i].bits, cases[i].nbytes / 2, (mb_order)o, e);
                        assert_memory_equal(e, r + 1, cases[i].nbytes);
                }
        }
}

static void test_sentinels(void **state) {
        (void)state;
        uint16_t r[4];
        struct { mb_type t; uint64_t bits; unsigned nbytes; } s[] = {
                { MB_T_INT16, 0x8000u, 2 },
                { MB_T_UINT16, 0xFFFFu, 2 },
                { MB_T_INT32, 0x80000000u, 4 },
                { MB_T_UINT32, 0xFFFFFFFFu, 4 },
                { MB_T_INT64, UINT64_C(0x8000000000000000), 8 },
                { MB_T_UINT64, UINT64_MAX, 8 },
        };
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
                image(s[i].bits, s[i].nbytes, MB_O_ABCD, r);
                mb_point p = pt(s[i].t, MB_O_ABCD, 100);
                dec(&p, r, 4, -ERANGE);
                p.sentinel = false; /* a device where the pattern is a value */
                double v = dec(&p, r, 4, 0);
                assert_false(isnan(v));
        }
        /* NaN and infinity are never values */
        float nanf_ = NAN, inff = INFINITY;
        uint32_t b;
        memcpy(&b, &nanf_, 4);
        image(b, 4, MB_O_CDAB, r);
        mb_point p = pt(MB_T_FLOAT32, MB_O_CDAB, 100);
        p.sentinel = false;
        dec(&p, r, 4, -ERANGE);
        memcpy(&b, &inff, 4);
        image(b, 4, MB_O_CDAB, r);
        dec(&p, r, 4, -ERANGE);
        /* acc32 zero is a value (SunSpec's "0 = not accumulated" would hide a real zero) */
        image(0, 4, MB_O_ABCD, r);
        p = pt(MB_T_ACC32, MB_O_ABCD, 100);
        assert_true(dec(&p, r, 4, 0) == 0.0);
}

static void test_scale_factor(void **state) {
        (void)state;
        /* registers 100..107: A=5348 at 100, A_SF=-2 at 105 */
        uint16_t r[8] = { 5348, 0, 0, 0, 0, 0xFFFE, 0, 0 };
        mb_point p = pt(MB_T_INT16, MB_O_ABCD, 100);
        p.sf_reg = 105;
        assert_true(dec(&p, r, 8, 0) == 53.48);
        r[5] = 3;
        assert_true(dec(&p, r, 8, 0) == 5348000.0);
        r[5] = 0x8000; /* scale factor not implemented */
        dec(&p, r, 8, -ERANGE);
        r[5] = 11; /* outside -10..10 */
        dec(&p, r, 8, -ERANGE);
        r[5] = 0;
        p.sf_reg = 110; /* not inside the data */
        dec(&p, r, 8, -EINVAL);
        /* a sunssf point of its own */
        mb_point sf = pt(MB_T_SUNSSF, MB_O_ABCD, 101);
        r[1] = 0xFFFD;
        assert_true(dec(&sf, r, 8, 0) == -3.0);
        r[1] = 0x8000;
        dec(&sf, r, 8, -ERANGE);
}

static void test_scale_offset_bool(void **state) {
        (void)state;
        uint16_t r[2] = { 100, 7 };
        mb_point p = pt(MB_T_UINT16, MB_O_ABCD, 100);
        p.scale = 0.1;
        p.offset = -5;
        assert_true(fabs(dec(&p, r, 2, 0) - 5.0) < 1e-12);
        mb_point b = pt(MB_T_BOOL, MB_O_ABCD, 101);
        assert_true(dec(&b, r, 2, 0) == 1.0);
        r[1] = 0;
        assert_true(dec(&b, r, 2, 0) == 0.0);
        /* coils: one byte per bit */
        uint8_t bits[3] = { 0, 1, 0 };
        mb_point c = pt(MB_T_BOOL, MB_O_ABCD, 11);
        c.fc = MB_FC_COIL;
        double v = -1;
        assert_int_equal(mb_decode_point(&c, 10, NULL, bits, 3, &v), 0);
        assert_true(v == 1.0);
        c.reg = 13;
        assert_int_equal(mb_decode_point(&c, 10, NULL, bits, 3, &v), -EINVAL);
        /* a point past the data */
        mb_point f = pt(MB_T_FLOAT32, MB_O_ABCD, 101);
        dec(&f, r, 2, -EINVAL);
}

static void test_strings_and_names(void **state) {
        (void)state;
        uint16_t r[4] = { ('V' << 8) | 'e', ('r' << 8) | 'i', ('s' << 8) | ' ', 0 };
        char buf[16];
        assert_int_equal(mb_decode_string(r, 4, MB_O_ABCD, buf, sizeof buf), 0);
        assert_string_equal(buf, "Veris");
        uint16_t s[2] = { ('e' << 8) | 'V', ('i' << 8) | 'r' };
        assert_int_equal(mb_decode_string(s, 2, MB_O_BADC, buf, sizeof buf), 0);
        assert_string_equal(buf, "Veri");
        assert_int_equal(mb_decode_string(r, 4, MB_O_ABCD, buf, 3), -ENOSPC);
        assert_string_equal(buf, "Ve");
        /* control bytes become '?', bytes from 0x80 are kept (the JSON
         * encoders repair invalid UTF-8); the text ends at the first NUL */
        uint16_t c[4] = { ('a' << 8) | 0x01, (0x7f << 8) | 0xc3, (0xa9 << 8) | 0x1b, ('z' << 8) | 0 };
        assert_int_equal(mb_decode_string(c, 4, MB_O_ABCD, buf, sizeof buf), 0);
        assert_string_equal(buf, "a??\xc3\xa9?z");
        uint16_t e[3] = { ('A' << 8) | 'B', 0, ('C' << 8) | 'D' };
        assert_int_equal(mb_decode_string(e, 3, MB_O_ABCD, buf, sizeof buf), 0);
        assert_string_equal(buf, "AB");
        for (int t = 0; t < _MB_T_MAX; t++)
                assert_int_equal(mb_type_from_name(mb_type_name((mb_type)t)), t);
        assert_int_equal(mb_order_from_name("CDAB"), MB_O_CDAB);
        assert_int_equal(mb_order_from_name("xyz"), -EINVAL);
        assert_int_equal(mb_type_from_name("float16"), -EINVAL);
}

/* mb_decode_text: a string point inside a request's data; order per
 * point (byte order only); empty = not implemented when sentinels apply. */
static void test_decode_text(void **state) {
        (void)state;
        /* registers 200..205: "SN" "12" "34" | "eV" "ir" 0 */
        uint16_t r[6] = { ('S' << 8) | 'N', ('1' << 8) | '2', ('3' << 8) | '4', ('e' << 8) | 'V', ('i' << 8) | 'r', 0 };
        char buf[DCEM_TEXT_MAX];
        mb_point p = pt(MB_T_STRING, MB_O_ABCD, 200);
        p.nregs = 3;
        assert_int_equal(mb_decode_text(&p, 200, r, 6, buf, sizeof buf), 0);
        assert_string_equal(buf, "SN1234");
        p.order = MB_O_CDAB; /* word order does not apply to text */
        assert_int_equal(mb_decode_text(&p, 200, r, 6, buf, sizeof buf), 0);
        assert_string_equal(buf, "SN1234");
        mb_point q = pt(MB_T_STRING, MB_O_BADC, 203);
        q.nregs = 3;
        assert_int_equal(mb_decode_text(&q, 200, r, 6, buf, sizeof buf), 0);
        assert_string_equal(buf, "Veri");
        q.order = MB_O_DCBA;
        assert_int_equal(mb_decode_text(&q, 200, r, 6, buf, sizeof buf), 0);
        assert_string_equal(buf, "Veri");
        /* a cut: the buffer's size */
        assert_int_equal(mb_decode_text(&p, 200, r, 6, buf, 4), 0);
        assert_string_equal(buf, "SN1");
        /* all NULs: not implemented, unless sentinels are off */
        mb_point z = pt(MB_T_STRING, MB_O_ABCD, 205);
        z.nregs = 1;
        assert_int_equal(mb_decode_text(&z, 200, r, 6, buf, sizeof buf), -ERANGE);
        z.sentinel = false;
        assert_int_equal(mb_decode_text(&z, 200, r, 6, buf, sizeof buf), 0);
        assert_string_equal(buf, "");
        /* outside the data, or not a string */
        p.nregs = 7;
        assert_int_equal(mb_decode_text(&p, 200, r, 6, buf, sizeof buf), -EINVAL);
        mb_point n = pt(MB_T_UINT16, MB_O_ABCD, 200);
        assert_int_equal(mb_decode_text(&n, 200, r, 6, buf, sizeof buf), -EINVAL);
        double v;
        p.nregs = 3;
        assert_int_equal(mb_decode_point(&p, 200, r, NULL, 6, &v), -EINVAL); /* text is not a number */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_all_types_all_orders),
                cmocka_unit_test(test_sentinels),
                cmocka_unit_test(test_scale_factor),
                cmocka_unit_test(test_scale_offset_bool),
                cmocka_unit_test(test_strings_and_names),
                cmocka_unit_test(test_decode_text),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
