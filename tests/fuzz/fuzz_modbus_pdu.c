/* fuzz_modbus_pdu.c - libFuzzer target for the Modbus response decoder: a
 * device's answer (the PDU after the MBAP header) for a request chosen by
 * the first bytes, then every point type and order decoded over whatever
 * registers it yielded, and the SunSpec walker fed the same registers.
 *
 * Input: [fc][start hi][start lo][count hi][count lo][point type][order][sf]
 *        then the PDU bytes.
 *   clang: build-fuzz/bin/fuzz_modbus_pdu -max_total_time=60 tests/fuzz/corpus/modbus_pdu
 *   any compiler: fuzz_modbus_replay tests/fuzz/corpus/modbus_pdu (a ctest)
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "modbus/mb.h"
#include "modbus/sunspec.h"
#include "modbus/transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 8)
                return 0;
        mb_xfer_req r = {
                .unit = 1,
                .fc = (uint8_t)(data[0] % 4 + 1),
                .start = (uint16_t)((data[1] << 8) | data[2]),
                .count = (uint16_t)((data[3] << 8) | data[4]),
        };
        uint8_t type = (uint8_t)(data[5] % _MB_T_MAX), order = (uint8_t)(data[6] % _MB_O_MAX);
        int8_t sfoff = (int8_t)data[7];
        static uint16_t regs[MB_MAX_REGS];
        static uint8_t bits[MB_MAX_BITS];
        size_t n = 0;
        int exc = 0;
        int rc = mb_pdu_parse(data + 8, size - 8, &r, regs, bits, &n, &exc);
        if (rc == -EPROTO && (exc < 0 || exc > 255))
                __builtin_trap();
        if (rc != 0)
                return 0;
        if (n != r.count)
                __builtin_trap();
        /* decode a point at every offset of the answer */
        for (size_t off = 0; off < n; off++) {
                mb_point p;
                memset(&p, 0, sizeof p);
                p.fc = r.fc;
                p.type = (r.fc <= 2) ? MB_T_BOOL : type;
                if (p.type == MB_T_STRING)
                        p.type = MB_T_UINT16;
                p.order = order;
                p.reg = (uint16_t)(r.start + off);
                p.sf_reg = (r.fc > 2 && sfoff != 0) ? (int32_t)r.start + (int32_t)((off + (size_t)(uint8_t)sfoff) % n)
                                                    : -1;
                p.scale = 1;
                p.sentinel = true;
                double v;
                int d = mb_decode_point(&p, r.start, r.fc > 2 ? regs : NULL, r.fc <= 2 ? bits : NULL, n, &v);
                if (d == 0 && v != v)
                        __builtin_trap(); /* a NaN must never be a value */
        }
        if (r.fc > 2) {
                char s[2 * MB_MAX_REGS + 1];
                (void)mb_decode_string(regs, (unsigned)n, (mb_order)order, s, sizeof s);
                /* feed the registers to the SunSpec walker as successive answers */
                mb_sunspec_walk w;
                mb_sunspec_walk_init(&w);
                for (size_t i = 0; i + 2 <= n; i += 2) {
                        uint16_t st, cnt;
                        if (mb_sunspec_walk_next(&w, &st, &cnt) != 1)
                                break;
                        mb_sunspec_walk_feed(&w, 0, regs + i, 2);
                }
                const mb_sunspec_model *m = mb_sunspec_find_meter(&w);
                if (m) {
                        mb_point pts[16];
                        (void)mb_sunspec_meter_points(m, pts, 16);
                }
        }
        return 0;
}
