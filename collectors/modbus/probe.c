/* probe.c - `dcem-agent probe modbus://...`: identify a Modbus device and
 * print a ready-to-paste device block.
 *
 * A one-shot command, so it blocks, and uses libmodbus for both TCP
 * (modbus_new_tcp_pi: names and IPv6) and RTU: one socket, a low fd, no
 * event loop to share. The SunSpec chain is walked with the same walker the
 * collector uses (sunspec.c); without SunSpec, two known register maps are
 * recognised by plausible readings (Eastron SDM630 input registers,
 * Schneider iEM3000/PM5000 holding registers).
 */
#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <stdio.h>
#include <string.h>
#include "modbus/mb.h"
#include "modbus/modbus_probe.h"
#include "modbus/sunspec.h"
#include "modbus/transport.h"

/* Read holding (fc 3) or input (fc 4) registers: 0, -EPROTO (exception), -errno. */
static int rd(modbus_t *ctx, int fc, uint16_t start, uint16_t count, uint16_t *regs) {
        int r = fc == 4 ? modbus_read_input_registers(ctx, start, count, regs)
                        : modbus_read_registers(ctx, start, count, regs);
        if (r == count)
                return 0;
        if (r >= 0)
                return -EBADMSG;
        if (errno > MODBUS_ENOBASE && errno <= EMBXGTAR)
                return -EPROTO;
        return errno == ETIMEDOUT ? -ETIMEDOUT : -(errno > 0 && errno < MODBUS_ENOBASE ? errno : EIO);
}

static int read_float(modbus_t *ctx, int fc, uint16_t reg, double *ret) {
        uint16_t r[2];
        int e = rd(ctx, fc, reg, 2, r);
        if (e < 0)
                return e;
        mb_point p = { .fc = (uint8_t)fc, .type = MB_T_FLOAT32, .order = MB_O_ABCD, .reg = reg, .sf_reg = -1,
                       .scale = 1, .sentinel = true };
        return mb_decode_point(&p, reg, r, NULL, 2, ret);
}

static void print_address(FILE *out, const mb_addr *a) {
        if (a->kind == MB_ADDR_TCP) {
                if (strchr(a->host, ':'))
                        fprintf(out, "tcp://[%s]:%s", a->host, a->port);
                else
                        fprintf(out, "tcp://%s:%s", a->host, a->port);
        } else {
                fprintf(out, "rtu://%s?baud=%d&parity=%c&data=%d&stop=%d", a->device, a->baud, a->parity, a->data_bits,
                        a->stop_bits);
        }
}

static void print_block(FILE *out, const mb_addr *a, int unit, const char *profile) {
        fprintf(out, "devices:\n  - name: CHANGE-ME\n    role: other\n    modbus:\n      address: ");
        print_address(out, a);
        fprintf(out, "\n      unit: %d\n", unit);
        if (profile)
                fprintf(out, "      profile: %s\n", profile);
        else
                fprintf(out, "      points: []   # add points: { name, function, register, type, order, scale, unit, kind }\n");
}

static int probe_sunspec(modbus_t *ctx, FILE *out, const mb_addr *a, int unit) {
        mb_sunspec_walk w;
        uint16_t start, count, regs[MB_MAX_REGS];
        mb_sunspec_walk_init(&w);
        for (int guard = 0; guard < 3 + MB_SUNSPEC_MAX_MODELS + 2; guard++) {
                int r = mb_sunspec_walk_next(&w, &start, &count);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                int e = rd(ctx, 3, start, count, regs);
                mb_sunspec_walk_feed(&w, e, e ? NULL : regs, e ? 0 : count);
        }
        if (w.state != MB_SS_DONE)
                return -EPROTO;
        fprintf(out, "# SunSpec marker at %u; models:\n", w.base);
        for (size_t i = 0; i < w.n; i++) {
                const mb_sunspec_model *m = &w.models[i];
                fprintf(out, "#   %5u %-28s at %u, %u registers\n", m->id, mb_sunspec_model_name(m->id), m->addr, m->len);
                if (m->id == 1) {
                        /* Mn at +2 (16), Md at +18 (16), SN at +50 (16): only what the model holds */
                        static const struct { const char *label; unsigned off; } s[] = {
                                { "manufacturer", 2 }, { "model", 18 }, { "serial", 50 } };
                        for (size_t k = 0; k < 3; k++) {
                                char txt[40];
                                if (s[k].off + 16u > m->len + 2u || rd(ctx, 3, (uint16_t)(m->addr + s[k].off), 16, regs) < 0)
                                        continue;
                                (void)mb_decode_string(regs, 16, MB_O_ABCD, txt, sizeof txt);
                                if (txt[0])
                                        fprintf(out, "#         %s: %s\n", s[k].label, txt);
                        }
                }
        }
        const mb_sunspec_model *m = mb_sunspec_find_meter(&w);
        if (!m) {
                fprintf(out, "# no meter model (201-204, 211-214) in the chain\n");
                print_block(out, a, unit, NULL);
                return -ENODEV;
        }
        mb_point pts[16];
        int n = mb_sunspec_meter_points(m, pts, 16);
        fprintf(out, "# readings of the meter model %u (what profile sunspec-meter publishes):\n", m->id);
        for (int i = 0; i < n; i++) {
                uint32_t s, e;
                double v;
                mb_point_span(&pts[i], &s, &e);
                if (rd(ctx, 3, (uint16_t)s, (uint16_t)(e - s), regs) == 0 &&
                    mb_decode_point(&pts[i], (uint16_t)s, regs, NULL, e - s, &v) == 0)
                        fprintf(out, "#   %-18s %.6g %s\n", pts[i].name, v, pts[i].unit);
                else
                        fprintf(out, "#   %-18s (not implemented)\n", pts[i].name);
        }
        print_block(out, a, unit, "sunspec-meter");
        return 0;
}

int dcem_modbus_probe(const char *url, FILE *out, char *errbuf, size_t errlen) {
        mb_addr a;
        const char *why = "";
        modbus_t *ctx;
        int r;

        if (mb_addr_parse(url, &a, &why) < 0) {
                snprintf(errbuf, errlen, "%s: %s", url ? url : "", why);
                return -EINVAL;
        }
        int unit = a.unit >= 0 ? a.unit : 1;
        if (a.kind == MB_ADDR_TCP)
                ctx = modbus_new_tcp_pi(a.host, a.port);
        else
                ctx = modbus_new_rtu(a.device, a.baud, a.parity, a.data_bits, a.stop_bits);
        if (!ctx) {
                snprintf(errbuf, errlen, "%s: %s", url, modbus_strerror(errno));
                return -EINVAL;
        }
        (void)modbus_set_response_timeout(ctx, 2, 0);
        (void)modbus_set_slave(ctx, unit);
        if (modbus_connect(ctx) < 0) {
                r = -errno;
                snprintf(errbuf, errlen, "cannot connect to %s: %s", url, modbus_strerror(errno));
                modbus_free(ctx);
                return r;
        }
        if (a.kind == MB_ADDR_RTU && a.rs485)
                (void)modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485);
        fprintf(out, "# dcem-agent probe ");
        print_address(out, &a);
        fprintf(out, " unit %d\n", unit);
        r = probe_sunspec(ctx, out, &a, unit);
        if (r == -ENOENT || r == -EPROTO) {
                double v, f;
                fprintf(out, "# no SunSpec marker at 40000, 0 or 50000\n");
                if (read_float(ctx, 4, 0x0000, &v) == 0 && v > 80 && v < 300 && read_float(ctx, 4, 0x0046, &f) == 0 &&
                    f > 45 && f < 66) {
                        fprintf(out, "# looks like an Eastron SDM630: %.1f V, %.2f Hz in input registers 0x0000/0x0046\n", v, f);
                        print_block(out, &a, unit, "sdm630");
                        r = 0;
                } else if (read_float(ctx, 3, 3109, &f) == 0 && f > 45 && f < 66) {
                        fprintf(out, "# looks like a Schneider iEM3000/PM5000 map: %.2f Hz at holding 3109 "
                                     "(use profile pm5000 for a PM5xxx)\n", f);
                        print_block(out, &a, unit, "iem3000");
                        r = 0;
                } else {
                        fprintf(out, "# no known register map recognised\n");
                        print_block(out, &a, unit, NULL);
                        snprintf(errbuf, errlen, "no SunSpec chain and no known meter at %s unit %d", url, unit);
                        r = -ENODEV;
                }
        } else if (r < 0 && r != -ENODEV) {
                snprintf(errbuf, errlen, "reading %s: %s", url, strerror(-r));
        } else if (r == -ENODEV) {
                snprintf(errbuf, errlen, "SunSpec chain without a meter model at %s", url);
        }
        modbus_close(ctx);
        modbus_free(ctx);
        return r;
}
