/* sim_snmp.h - dcem-sim's SNMP side (snmpagent.c, oids.c). */
#ifndef DCEM_SIM_SNMP_H
#define DCEM_SIM_SNMP_H

#include <stdint.h>
#include "sim_rt.h"

typedef struct sim_snmp sim_snmp;

/* Start net-snmp's agent library embedded in this process: one UDP port per
 * SNMP device on listen_addr (base_port, base_port+1, ... or free ports when
 * base_port is 0), v1/v2c with the site's community and v3 authPriv
 * (SHA/AES) with its user; state in run_dir/snmp. Serves from a thread of
 * its own. 0 and *ret, or -errno. A site without SNMP devices starts nothing. */
int sim_snmp_start(sim_rt *rt, const char *listen_addr, int base_port, const char *run_dir, sim_snmp **ret);
void sim_snmp_stop(sim_snmp *s); /* accepts NULL */

/* ---- the MIB views (oids.c, pure) ---- */

#define SIM_OID_MAX 24

typedef enum sim_val {
        SV_CONST,      /* arg */
        SV_SYSDESCR, SV_SYSOID, SV_UPTIME, SV_NAME, SV_SITE, SV_OUTLET_NAME,
        SV_POWER,      /* device power / scale */
        SV_VA,         /* apparent power / scale */
        SV_PF,         /* power factor / scale */
        SV_ENERGY,     /* device counter in units of scale Wh */
        SV_OUT_POWER,  /* outlet arg: power / scale */
        SV_OUT_ENERGY, /* outlet arg: counter in units of scale Wh */
        SV_VOLT,       /* line arg: volts / scale */
        SV_AMP,        /* line arg: amps / scale (UPS output) */
        SV_IN_AMP,     /* line arg: amps / scale (UPS input) */
        SV_LINE_POWER, /* line arg: power of one phase (UPS output line, PDU phase) / scale */
        SV_IN_LINE_POWER, /* line arg: UPS input power per line / scale */
        SV_LOAD_PCT,   /* line arg: UPS load in percent */
        SV_LINE_VA,    /* line arg: apparent power of one phase / scale */
        SV_LINE_ENERGY, /* line arg: the phase's share of the device counter, in units of scale Wh */
        SV_LINE_NAME,  /* line arg: "L1", "L2", "L3" */
        SV_FREQ,       /* Hz / scale */
        SV_RATING_W,   /* rated_kw * 1000 / scale */
} sim_val;

typedef struct sim_oid_entry {
        uint32_t oid[SIM_OID_MAX];
        uint8_t len;
        uint8_t type;   /* ASN_INTEGER, ASN_GAUGE, ASN_COUNTER, ASN_OCTET_STR, ASN_OBJECT_ID, ASN_TIMETICKS */
        uint8_t what;   /* sim_val */
        int32_t arg;
        double scale;
} sim_oid_entry;

typedef struct sim_oid_view {
        sim_oid_entry *e; /* sorted by OID */
        size_t n;
} sim_oid_view;

/* The OIDs a device of this profile with this many outlets answers, sorted.
 * 0 or -ENOMEM. Free with sim_oid_view_free. */
int sim_oid_view_build(sim_profile p, int outlets, sim_oid_view *ret);
void sim_oid_view_free(sim_oid_view *v);
/* Compare two OIDs (lexicographic, shorter first on a common prefix). */
int sim_oid_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);
/* Index of the exact entry, or -1; index of the first entry > oid, or n. */
long sim_oid_find(const sim_oid_view *v, const uint32_t *oid, size_t len);
size_t sim_oid_next(const sim_oid_view *v, const uint32_t *oid, size_t len);

/* The share of a device's power carried by phase (line) 1..3 of its
 * three-phase feed (0.98/3, 1/3, 1.02/3: a realistic imbalance); the three
 * shares add up to 1. Any other line: 0. */
double sim_phase_share(int line);

/* The value of one entry: integers into *ret_int (what the wire carries),
 * strings into buf (NUL-terminated). Faults (NaN -> -1 sentinel, range,
 * reset, wrap) applied. Returns the ASN type to send. */
int sim_oid_value(const sim_model *m, const sim_dev *d, const sim_oid_entry *e, int64_t t_ms, int64_t uptime_cs,
                  long long *ret_int, char *buf, size_t size, uint32_t *ret_oid, size_t *ret_oid_len);

#endif
