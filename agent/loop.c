/* loop.c - the one event loop: epoll for file descriptors, a heap for timers.
 *
 * Why: dcem polls many devices and talks to brokers on a single thread; only
 * the loop waits. Timers run on the injected clock's monotonic time so tests
 * can drive everything with a fake clock and dcem_loop_run_once(l, 0).
 *
 * File descriptors: a table indexed by fd (grown on demand, so fds above 1024
 * are fine; epoll, never select). Each registration carries a generation in
 * the epoll data, so an event already fetched for an fd that a callback
 * deleted (or deleted and re-added) in the same batch is dropped, never
 * delivered to the wrong or a dead registration.
 *
 * Timers: a binary min-heap of node indices keyed (when, id); ids come from a
 * 64-bit counter (never 0, never reused) so equal times fire in insertion
 * order. An open-addressing hash maps id -> node for O(1) lookup, so add,
 * cancel and fire are O(log n). A timer callback may add timers; those due at
 * once still wait for the next dcem_loop_run_once, so one call is bounded.
 *
 * Waits: the epoll timeout is the time to the next timer, capped by the
 * caller's max_wait, rounded UP to whole milliseconds: a timer never fires
 * early and a wait of under 1 ms never becomes a busy 0 ms loop.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dcem/loop.h"

#define LOOP_EVENTS 64               /* epoll events fetched per wait */
#define LOOP_FD_MAX (1 << 24)        /* the fd table never grows past this */
#define LOOP_TIMERS_MAX (1u << 24)   /* pending timers at most */

#define TN_FREE UINT32_MAX           /* node is on the free list */
#define TN_DEFERRED (UINT32_MAX - 1) /* node is parked during the timer phase */

typedef struct fd_reg {
        dcem_fd_cb cb;
        void *ud;
        uint32_t events;
        uint32_t gen;  /* bumped at each add; travels in the epoll data */
        bool active;
} fd_reg;

typedef struct tnode {
        int64_t when;
        uint64_t id;   /* 0 when free */
        dcem_timer_cb cb;
        void *ud;
        uint32_t heap; /* index in heap[], TN_FREE or TN_DEFERRED */
        uint32_t next_free;
} tnode;

typedef struct tslot {
        uint64_t id;   /* 0 = empty */
        uint32_t node;
} tslot;

struct dcem_loop {
        const dcem_clock *clock;
        int epfd;
        bool stop;

        fd_reg *fds;
        size_t fds_cap;

        tnode *nodes;
        uint32_t nodes_cap;
        uint32_t free_head;  /* TN_FREE = none */
        uint32_t *heap;      /* capacity nodes_cap */
        uint32_t heap_len;
        tslot *tab;          /* id -> node; power-of-two size, load <= 1/2 */
        size_t tab_cap;
        size_t tab_len;
        uint64_t last_id;
        uint32_t *deferred;  /* nodes parked during the timer phase */
        size_t deferred_len, deferred_cap;
};

/* ---- id -> node hash (linear probing, backward-shift deletion) ---- */

static size_t tab_hash(const dcem_loop *l, uint64_t id)
{
        return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (l->tab_cap - 1);
}

static tslot *tab_find(const dcem_loop *l, uint64_t id)
{
        size_t i;

        if (l->tab_cap == 0 || id == 0)
                return NULL;
        for (i = tab_hash(l, id);; i = (i + 1) & (l->tab_cap - 1)) {
                if (l->tab[i].id == id)
                        return &l->tab[i];
                if (l->tab[i].id == 0)
                        return NULL;
        }
}

static void tab_put_raw(tslot *tab, size_t cap, const dcem_loop *l, uint64_t id, uint32_t node)
{
        size_t i = (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (cap - 1);

        (void)l;
        while (tab[i].id != 0)
                i = (i + 1) & (cap - 1);
        tab[i].id = id;
        tab[i].node = node;
}

/* Make room for one more entry. 0 or -ENOMEM. */
static int tab_reserve(dcem_loop *l)
{
        size_t ncap, i;
        tslot *nt;

        if ((l->tab_len + 1) * 2 <= l->tab_cap)
                return 0;
        ncap = l->tab_cap ? l->tab_cap * 2 : 64;
        nt = calloc(ncap, sizeof(*nt));
        if (!nt)
                return -ENOMEM;
        for (i = 0; i < l->tab_cap; i++)
                if (l->tab[i].id != 0)
                        tab_put_raw(nt, ncap, l, l->tab[i].id, l->tab[i].node);
        free(l->tab);
        l->tab = nt;
        l->tab_cap = ncap;
        return 0;
}

static void tab_del(dcem_loop *l, tslot *slot)
{
        size_t mask = l->tab_cap - 1;
        size_t i = (size_t)(slot - l->tab);
        size_t j = i;

        /* Backward-shift: pull later members of the probe run into the hole. */
        for (;;) {
                size_t home;

                j = (j + 1) & mask;
                if (l->tab[j].id == 0)
                        break;
                home = tab_hash(l, l->tab[j].id);
                /* Move j into i unless home lies cyclically in (i, j]. */
                if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
                        l->tab[i] = l->tab[j];
                        i = j;
                }
        }
        l->tab[i].id = 0;
        l->tab_len--;
}

/* ---- the heap ---- */

static bool tless(const tnode *a, const tnode *b)
{
        return a->when < b->when || (a->when == b->when && a->id < b->id);
}

static void heap_set(dcem_loop *l, uint32_t i, uint32_t node)
{
        l->heap[i] = node;
        l->nodes[node].heap = i;
}

static void heap_up(dcem_loop *l, uint32_t i)
{
        uint32_t node = l->heap[i];

        while (i > 0) {
                uint32_t parent = (i - 1) / 2;

                if (!tless(&l->nodes[node], &l->nodes[l->heap[parent]]))
                        break;
                heap_set(l, i, l->heap[parent]);
                i = parent;
        }
        heap_set(l, i, node);
}

static void heap_down(dcem_loop *l, uint32_t i)
{
        uint32_t node = l->heap[i];

        for (;;) {
                uint32_t c = 2 * i + 1;

                if (c >= l->heap_len)
                        break;
                if (c + 1 < l->heap_len && tless(&l->nodes[l->heap[c + 1]], &l->nodes[l->heap[c]]))
                        c++;
                if (!tless(&l->nodes[l->heap[c]], &l->nodes[node]))
                        break;
                heap_set(l, i, l->heap[c]);
                i = c;
        }
        heap_set(l, i, node);
}

static void heap_push(dcem_loop *l, uint32_t node)
{
        l->heap[l->heap_len] = node;
        l->heap_len++;
        heap_up(l, l->heap_len - 1);
}

static void heap_remove(dcem_loop *l, uint32_t i)
{
        uint32_t last = l->heap[--l->heap_len];

        if (i == l->heap_len)
                return;
        l->heap[i] = last;
        l->nodes[last].heap = i;
        if (i > 0 && tless(&l->nodes[last], &l->nodes[l->heap[(i - 1) / 2]]))
                heap_up(l, i);
        else
                heap_down(l, i);
}

/* ---- nodes ---- */

/* Grow the node and heap arrays together. 0, -ENOMEM or -ENOSPC. */
static int nodes_grow(dcem_loop *l)
{
        uint32_t ncap, i;
        tnode *nn;
        uint32_t *nh;

        if (l->nodes_cap >= LOOP_TIMERS_MAX)
                return -ENOSPC;
        ncap = l->nodes_cap ? l->nodes_cap * 2 : 64;
        nn = realloc(l->nodes, (size_t)ncap * sizeof(*nn));
        if (!nn)
                return -ENOMEM;
        l->nodes = nn;
        nh = realloc(l->heap, (size_t)ncap * sizeof(*nh));
        if (!nh)
                return -ENOMEM;
        l->heap = nh;
        /* Chain the new nodes onto the free list. */
        for (i = ncap; i-- > l->nodes_cap;) {
                memset(&l->nodes[i], 0, sizeof(l->nodes[i]));
                l->nodes[i].heap = TN_FREE;
                l->nodes[i].next_free = l->free_head;
                l->free_head = i;
        }
        l->nodes_cap = ncap;
        return 0;
}

static void node_free(dcem_loop *l, uint32_t n)
{
        l->nodes[n].id = 0;
        l->nodes[n].cb = NULL;
        l->nodes[n].ud = NULL;
        l->nodes[n].heap = TN_FREE;
        l->nodes[n].next_free = l->free_head;
        l->free_head = n;
}

/* ---- public ---- */

/* A loop on clock (borrowed). 0, -EINVAL, -ENOMEM or -errno of epoll_create1. */
int dcem_loop_new(const dcem_clock *clock, dcem_loop **ret)
{
        dcem_loop *l;

        if (!clock || !ret)
                return -EINVAL;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->clock = clock;
        l->free_head = TN_FREE;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (l->epfd < 0) {
                int r = -errno;

                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

/* Free the loop: pending timers are dropped without being called, watched
 * fds are forgotten (not closed). Accepts NULL. Not from inside a callback. */
void dcem_loop_free(dcem_loop *l)
{
        if (!l)
                return;
        if (l->epfd >= 0)
                close(l->epfd);
        free(l->fds);
        free(l->nodes);
        free(l->heap);
        free(l->deferred);
        free(l->tab);
        free(l);
}

const dcem_clock *dcem_loop_clock(const dcem_loop *l)
{
        return l->clock;
}

static uint32_t to_epoll(uint32_t events)
{
        return ((events & DCEM_EV_READ) ? EPOLLIN : 0) | ((events & DCEM_EV_WRITE) ? EPOLLOUT : 0);
}

static uint32_t from_epoll(uint32_t ev)
{
        return ((ev & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)) ? DCEM_EV_READ : 0) |
               ((ev & EPOLLOUT) ? DCEM_EV_WRITE : 0) | ((ev & (EPOLLERR | EPOLLHUP)) ? DCEM_EV_ERROR : 0);
}

static fd_reg *fd_lookup(const dcem_loop *l, int fd)
{
        if (fd < 0 || (size_t)fd >= l->fds_cap || !l->fds[fd].active)
                return NULL;
        return &l->fds[fd];
}

/* Watch fd. -EINVAL (no cb, events other than READ|WRITE), -EBADF (fd < 0),
 * -EEXIST (already watched), -EMFILE (fd beyond the table cap), -ENOMEM, or
 * the -errno of epoll_ctl (e.g. -EPERM for a regular file). */
int dcem_loop_add_fd(dcem_loop *l, int fd, uint32_t events, dcem_fd_cb cb, void *ud)
{
        struct epoll_event ev = { 0 };
        fd_reg *reg;

        if (!cb || (events & ~(DCEM_EV_READ | DCEM_EV_WRITE)))
                return -EINVAL;
        if (fd < 0)
                return -EBADF;
        if (fd >= LOOP_FD_MAX)
                return -EMFILE;
        if (fd_lookup(l, fd))
                return -EEXIST;
        if ((size_t)fd >= l->fds_cap) {
                size_t ncap = l->fds_cap ? l->fds_cap : 64;
                fd_reg *nf;

                while (ncap <= (size_t)fd)
                        ncap *= 2;
                nf = realloc(l->fds, ncap * sizeof(*nf));
                if (!nf)
                        return -ENOMEM;
                memset(nf + l->fds_cap, 0, (ncap - l->fds_cap) * sizeof(*nf));
                l->fds = nf;
                l->fds_cap = ncap;
        }
        reg = &l->fds[fd];
        ev.events = to_epoll(events);
        ev.data.u64 = ((uint64_t)(reg->gen + 1) << 32) | (uint32_t)fd;
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        reg->gen++;
        reg->cb = cb;
        reg->ud = ud;
        reg->events = events;
        reg->active = true;
        return 0;
}

/* Change the events watched (no system call when they are the same).
 * -ENOENT (not watched), -EINVAL, or -errno. */
int dcem_loop_mod_fd(dcem_loop *l, int fd, uint32_t events)
{
        struct epoll_event ev = { 0 };
        fd_reg *reg = fd_lookup(l, fd);

        if (!reg)
                return -ENOENT;
        if (events & ~(DCEM_EV_READ | DCEM_EV_WRITE))
                return -EINVAL;
        if (events == reg->events)
                return 0; /* unchanged: no system call (Modbus TCP asks after every request) */
        ev.events = to_epoll(events);
        ev.data.u64 = ((uint64_t)reg->gen << 32) | (uint32_t)fd;
        if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
                return -errno;
        reg->events = events;
        return 0;
}

/* Forget fd: 0, or -ENOENT if not watched. An event for it already fetched in
 * the current batch is not delivered. If the fd was closed already, the
 * kernel dropped it on its own; that is not an error. */
int dcem_loop_del_fd(dcem_loop *l, int fd)
{
        fd_reg *reg = fd_lookup(l, fd);

        if (!reg)
                return -ENOENT;
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        reg->active = false;
        reg->cb = NULL;
        reg->ud = NULL;
        return 0;
}

/* Add a one-shot timer. 0, -EINVAL (no cb), -ENOMEM or -ENOSPC (more than
 * LOOP_TIMERS_MAX pending). *ret_id untouched on failure. */
int dcem_loop_add_timer(dcem_loop *l, int64_t when_ns, dcem_timer_cb cb, void *ud, uint64_t *ret_id)
{
        uint32_t n;
        int r;

        if (!cb)
                return -EINVAL;
        if (l->free_head == TN_FREE) {
                r = nodes_grow(l);
                if (r < 0)
                        return r;
        }
        r = tab_reserve(l);
        if (r < 0)
                return r;
        n = l->free_head;
        l->free_head = l->nodes[n].next_free;
        l->nodes[n].when = when_ns;
        l->nodes[n].id = ++l->last_id;
        l->nodes[n].cb = cb;
        l->nodes[n].ud = ud;
        heap_push(l, n);
        tab_put_raw(l->tab, l->tab_cap, l, l->nodes[n].id, n);
        l->tab_len++;
        if (ret_id)
                *ret_id = l->nodes[n].id;
        return 0;
}

/* Cancel a pending timer: 0, or -ENOENT if it fired, was cancelled or never
 * existed. */
int dcem_loop_cancel_timer(dcem_loop *l, uint64_t timer_id)
{
        tslot *slot = tab_find(l, timer_id);
        uint32_t n;

        if (!slot)
                return -ENOENT;
        n = slot->node;
        tab_del(l, slot);
        if (l->nodes[n].heap != TN_DEFERRED)
                heap_remove(l, l->nodes[n].heap);
        /* A deferred node is skipped when the deferred list is replayed: its
         * id no longer matches once freed. */
        node_free(l, n);
        return 0;
}

int64_t dcem_loop_next_timer(const dcem_loop *l)
{
        return l->heap_len ? l->nodes[l->heap[0]].when : INT64_MAX;
}

/* Fire the timers due at now that existed when this phase began. */
static int run_timers(dcem_loop *l, int64_t now)
{
        uint64_t first_new = l->last_id + 1;
        int count = 0;
        size_t i;

        l->deferred_len = 0;
        while (l->heap_len > 0) {
                uint32_t n = l->heap[0];
                tnode *t = &l->nodes[n];
                dcem_timer_cb cb;
                uint64_t id;
                void *ud;

                if (t->when > now)
                        break;
                if (t->id >= first_new) {
                        /* Added by a callback of this phase: park it until the
                         * next run_once, so one call always ends. (Out of
                         * memory for the parking list: end the phase here; the
                         * rest runs at the next call.) */
                        if (l->deferred_len == l->deferred_cap) {
                                size_t ncap = l->deferred_cap ? l->deferred_cap * 2 : 16;
                                uint32_t *nd = realloc(l->deferred, ncap * sizeof(*nd));

                                if (!nd)
                                        break;
                                l->deferred = nd;
                                l->deferred_cap = ncap;
                        }
                        heap_remove(l, 0);
                        t->heap = TN_DEFERRED;
                        l->deferred[l->deferred_len++] = n;
                        continue;
                }
                cb = t->cb;
                ud = t->ud;
                id = t->id;
                heap_remove(l, 0);
                tab_del(l, tab_find(l, id));
                node_free(l, n);
                cb(l, id, ud);
                count++;
        }
        for (i = 0; i < l->deferred_len; i++) {
                uint32_t n = l->deferred[i];

                /* Cancelled meanwhile (freed, maybe reused by a newer timer that
                 * is in the heap or parked itself later in this list). */
                if (l->nodes[n].heap == TN_DEFERRED)
                        heap_push(l, n);
        }
        l->deferred_len = 0;
        return count;
}

/* How long to wait, in ms for epoll_wait: -1 = forever. Rounded up. */
static int wait_ms(const dcem_loop *l, int64_t max_wait_ns)
{
        int64_t next = dcem_loop_next_timer(l);
        int64_t wait = -1;
        int64_t ms;

        if (next != INT64_MAX) {
                int64_t now = dcem_clock_mono(l->clock);

                if (next <= now)
                        wait = 0;
                else if (__builtin_sub_overflow(next, now, &wait))
                        wait = INT64_MAX;
        }
        if (max_wait_ns >= 0 && (wait < 0 || max_wait_ns < wait))
                wait = max_wait_ns;
        if (wait < 0)
                return -1;
        ms = wait / DCEM_NS_PER_MS + (wait % DCEM_NS_PER_MS != 0);
        return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Wait (see loop.h) and dispatch. A signal interrupting the wait is not an
 * error: due timers still run and the count is returned. Returns the number
 * of callbacks run, or -errno of epoll_wait. */
int dcem_loop_run_once(dcem_loop *l, int64_t max_wait_ns)
{
        struct epoll_event evs[LOOP_EVENTS];
        int n, i, count = 0;

        n = epoll_wait(l->epfd, evs, LOOP_EVENTS, wait_ms(l, max_wait_ns));
        if (n < 0) {
                if (errno != EINTR)
                        return -errno;
                n = 0;
        }
        for (i = 0; i < n; i++) {
                int fd = (int)(uint32_t)(evs[i].data.u64 & 0xffffffffu);
                uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
                fd_reg *reg = fd_lookup(l, fd);

                /* Deleted (or deleted and re-added) by an earlier callback of
                 * this batch: the event belongs to a registration that is gone. */
                if (!reg || reg->gen != gen)
                        continue;
                reg->cb(l, fd, from_epoll(evs[i].events), reg->ud);
                count++;
        }
        count += run_timers(l, dcem_clock_mono(l->clock));
        return count;
}

/* Run until dcem_loop_stop. A stop requested before the call makes it return
 * at once; the request is consumed on return. With nothing to watch and no
 * timer it blocks (the agent always watches its signalfd). 0 or -errno. */
int dcem_loop_run(dcem_loop *l)
{
        while (!l->stop) {
                int r = dcem_loop_run_once(l, -1);

                if (r < 0) {
                        l->stop = false;
                        return r;
                }
        }
        l->stop = false;
        return 0;
}

/* Ask dcem_loop_run to return once the current callback is done. */
void dcem_loop_stop(dcem_loop *l)
{
        l->stop = true;
}
