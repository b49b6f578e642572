/* accounting_priv.h - the engine's internal state, shared by agent/accounting.c
 * (which owns it) and agent/state.c (which persists and restores it). Nothing
 * else includes this header.
 */
#ifndef DCEM_ACCOUNTING_PRIV_H
#define DCEM_ACCOUNTING_PRIV_H

#include "dcem/accounting.h"

/* Readings kept per device for the real-time view: two windows' worth at the
 * device's poll interval plus slack (acct_rt_cap()), at most this many (the
 * fixed size it had before: 8 KB). */
#define ACCT_RT_CAP_MAX 256
#define ACCT_MAX_SLOTS 4096 /* open intervals at most (bounds a bridged gap) */
#define ACCT_MAX_CELLS (1u << 20) /* open intervals x devices at most (memory) */

typedef struct acct_reading {
        bool have;
        double value;   /* kWh (counters) or kW (power) */
        int64_t ts_ns;
} acct_reading;

typedef struct acct_rt_point {
        int64_t ts_ns;
        double cum_kwh;        /* energy counted into the device's account so far */
        double cum_export_kwh; /* from its export counter */
        double cum_est_kwh;    /* the estimated part of both */
} acct_rt_point;

typedef struct acct_dev {
        dcem_acct_device spec;      /* spec.name points at name */
        char name[DCEM_NAME_MAX];
        int account;                /* dcem_acct_account, or -1 (role none) */
        acct_reading imp, exp, pw;  /* last energy_kwh, energy_export_kwh, power_kw */
        bool seen_counter;          /* an energy counter was seen (AUTO: power no longer integrated) */
        bool resumed;               /* baselines come from a persisted state: the next delta bridges */
        double total_kwh, total_export_kwh, total_est_kwh; /* counted since the state began */
        int64_t last_ts_ns;         /* newest reading used (coverage for closing) */
        uint64_t events;
        acct_rt_point *rt;          /* ring of rt_cap, allocated at the first reading counted (NULL before) */
        uint32_t src;               /* compute counters: 1 + index of the compute source (a->src) */
        size_t rt_cap, rt_head, rt_n; /* oldest at rt_head */
} acct_dev;

typedef struct acct_slot_dev {
        double kwh, export_kwh, est_kwh, late_kwh;
        uint32_t taken, events;
} acct_slot_dev;

/* One open interval: per device accumulators. */
typedef struct acct_slot {
        acct_slot_dev *dev; /* ndev */
} acct_slot;

/* A compute source: a device or remote host whose counters units count. */
typedef struct acct_src {
        char name[2 * DCEM_NAME_MAX];
        int64_t poll_ns;
} acct_src;

struct dcem_acct {
        dcem_acct_conf conf;
        dcem_acct_hooks hooks;
        acct_dev *devs;
        size_t ndev, capdev;
        uint32_t *index;            /* open addressing by name hash: device index + 1, 0 = empty */
        size_t index_cap;           /* power of two, >= 2 x ndev */
        uint32_t it_categories;
        bool started;
        /* Open intervals: slots[i] covers [first_ns + i*L, first_ns + (i+1)*L). */
        acct_slot *slots;
        size_t nslots, capslots;
        int64_t first_ns;
        uint64_t seq;               /* seq of the interval starting at first_ns */
        int64_t resume_ns;          /* time the state was restored (INT64_MIN: never) */
        dcem_acct_sums last;        /* last closed interval */
        bool have_last;
        dcem_rollup rollup;
        dcem_cert_ledger ledger;
        uint64_t ev_count[_DCEM_EV_MAX];
        acct_src *src;              /* compute sources, nsrc */
        size_t nsrc, capsrc;
        double *src_scratch;        /* nsrc: taken per source while closing */
        int64_t *src_newest;        /* nsrc: newest reading per source while checking closability */
};

/* Open slots up to (and including) the one holding t. 0, -E2BIG, -ENOMEM. */
int acct_ensure_slot(dcem_acct *a, int64_t t);
/* Start the interval grid at the interval holding t (first call only). */
void acct_start(dcem_acct *a, int64_t t);
/* How many intervals may be open at once, and so the longest gap a counter
 * delta bridges: min(max_bridge, what the slot bounds allow). */
size_t acct_max_slots(const dcem_acct *a);
int64_t acct_bridge_ns(const dcem_acct *a);
/* Index of the device, or -1. */
ssize_t acct_find(const dcem_acct *a, const char *name);

#endif
