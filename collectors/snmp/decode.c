/* decode.c - varbind values to numbers, text, unwrapped counters (decode.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "snmp/decode.h"

int snmp_parse_decimal(const char *s, double *ret) {
        while (*s == ' ' || *s == '\t')
                s++;
        bool neg = false;
        if (*s == '+' || *s == '-')
                neg = *s++ == '-';
        double v = 0;
        size_t digits = 0;
        while (*s >= '0' && *s <= '9') {
                v = v * 10 + (*s++ - '0');
                digits++;
        }
        if (*s == '.') {
                s++;
                double f = 0.1;
                while (*s >= '0' && *s <= '9') {
                        v += f * (*s++ - '0');
                        f /= 10;
                        digits++;
                }
        }
        if (!digits || digits > 40)
                return -EINVAL;
        if (*s == 'e' || *s == 'E') {
                s++;
                bool eneg = false;
                if (*s == '+' || *s == '-')
                        eneg = *s++ == '-';
                int e = 0, ed = 0;
                while (*s >= '0' && *s <= '9' && ed < 4) {
                        e = e * 10 + (*s++ - '0');
                        ed++;
                }
                if (!ed)
                        return -EINVAL;
                v *= pow(10, eneg ? -e : e);
        }
        while (*s == ' ' || *s == '\t')
                s++;
        if (*s || !isfinite(v))
                return -EINVAL;
        *ret = neg ? -v : v;
        return 0;
}

int snmp_value_number(const sval *v, double *ret, const char **ret_why) {
        const char *why = NULL;
        double x = 0;
        switch (v->t) {
        case SV_INTEGER:
                x = (double)v->i;
                break;
        case SV_UNSIGNED:
        case SV_COUNTER32:
        case SV_COUNTER64:
        case SV_TIMETICKS:
                x = (double)v->u;
                break;
        case SV_FLOAT:
                x = v->f;
                if (!isfinite(x)) {
                        if (ret_why)
                                *ret_why = "the agent sent a float that is not finite";
                        return -ERANGE;
                }
                break;
        case SV_STRING:
                if (snmp_parse_decimal(v->s, &x) < 0)
                        why = "an OCTET STRING that is not a number";
                break;
        case SV_NOSUCHOBJECT:
                why = "noSuchObject (the agent does not implement this object)";
                break;
        case SV_NOSUCHINSTANCE:
                why = "noSuchInstance (no such row on this device)";
                break;
        case SV_ENDOFMIBVIEW:
                why = "endOfMibView";
                break;
        case SV_NONE:
                why = "no answer";
                break;
        default:
                why = "a value of a type that is not a number";
                break;
        }
        if (why) {
                if (ret_why)
                        *ret_why = why;
                return -EINVAL;
        }
        *ret = x;
        return 0;
}

unsigned snmp_value_width(const sval *v) {
        switch (v->t) {
        case SV_COUNTER32:
        case SV_UNSIGNED:
                return 32;
        case SV_COUNTER64:
                return 64;
        case SV_INTEGER:
                return 31;
        default:
                return 0;
        }
}

char *snmp_value_text(const sval *v, char *buf, size_t len) {
        if (!len)
                return buf;
        switch (v->t) {
        case SV_INTEGER:
                snprintf(buf, len, "%lld", (long long)v->i);
                break;
        case SV_UNSIGNED:
        case SV_COUNTER32:
        case SV_COUNTER64:
        case SV_TIMETICKS:
                snprintf(buf, len, "%llu", (unsigned long long)v->u);
                break;
        case SV_FLOAT:
                snprintf(buf, len, "%.17g", v->f);
                break;
        case SV_STRING:
        case SV_OID:
        case SV_IPADDR: {
                snprintf(buf, len, "%s", v->s);
                size_t n = strlen(buf);
                while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
                        buf[--n] = 0;
                break;
        }
        default:
                buf[0] = 0;
                break;
        }
        return buf;
}

snmp_counter_event snmp_counter_update(snmp_counter *c, uint64_t raw, unsigned width, uint64_t *ret_ext) {
        if (width < 1 || width > 64)
                width = 64;
        uint64_t range_top = width == 64 ? UINT64_MAX : (UINT64_C(1) << width) - 1;
        if (raw > range_top)
                raw &= range_top;
        snmp_counter_event ev = SNMP_COUNTER_OK;
        if (!c->have) {
                c->have = true;
                c->offset = 0;
                ev = SNMP_COUNTER_FIRST;
        } else if (raw < c->last) {
                uint64_t quarter = range_top / 4;
                if (width < 64 && c->last >= range_top - quarter && raw <= quarter) {
                        c->offset += range_top + 1;
                        ev = SNMP_COUNTER_WRAP;
                } else {
                        c->offset = 0;
                        ev = SNMP_COUNTER_RESET;
                }
        }
        c->last = raw;
        *ret_ext = c->offset + raw;
        return ev;
}
