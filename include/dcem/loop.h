/* loop.h - the one event loop: file descriptors (epoll) and timers (a heap).
 *
 * The loop owns waiting. Timers are on the injected clock's monotonic time, so
 * a test drives the loop with a fake clock and dcem_loop_run_once(l, 0).
 * Collectors and publishers register their sockets here; nobody else sleeps.
 */
#ifndef DCEM_LOOP_H
#define DCEM_LOOP_H

#include <stdint.h>
#include "dcem/clock.h"

typedef struct dcem_loop dcem_loop;

#define DCEM_EV_READ  0x1u
#define DCEM_EV_WRITE 0x2u
#define DCEM_EV_ERROR 0x4u /* reported only: error or hang-up on the fd */

typedef void (*dcem_fd_cb)(dcem_loop *l, int fd, uint32_t events, void *ud);
typedef void (*dcem_timer_cb)(dcem_loop *l, uint64_t timer_id, void *ud);

/* clock is borrowed and must outlive the loop. 0, -ENOMEM or -errno of epoll_create1. */
int dcem_loop_new(const dcem_clock *clock, dcem_loop **ret);
void dcem_loop_free(dcem_loop *l); /* accepts NULL */
const dcem_clock *dcem_loop_clock(const dcem_loop *l);

/* Watch fd for events (DCEM_EV_READ|DCEM_EV_WRITE). One registration per fd:
 * -EEXIST if already watched. mod changes the events, del forgets the fd
 * (-ENOENT if unknown). Callbacks may add, modify and delete fds and timers. */
int dcem_loop_add_fd(dcem_loop *l, int fd, uint32_t events, dcem_fd_cb cb, void *ud);
int dcem_loop_mod_fd(dcem_loop *l, int fd, uint32_t events);
int dcem_loop_del_fd(dcem_loop *l, int fd);

/* Call cb once when the monotonic clock reaches when_ns. ret_id (optional)
 * gets an id for dcem_loop_cancel_timer (ids are never 0 and never reused).
 * Timers due at the same time fire in the order they were added. */
int dcem_loop_add_timer(dcem_loop *l, int64_t when_ns, dcem_timer_cb cb, void *ud, uint64_t *ret_id);
/* 0, or -ENOENT if the timer already fired or was cancelled. */
int dcem_loop_cancel_timer(dcem_loop *l, uint64_t timer_id);
/* Monotonic time of the earliest pending timer, or INT64_MAX if none. */
int64_t dcem_loop_next_timer(const dcem_loop *l);

/* Wait for fds at most max_wait_ns (or less, until the next timer; 0 = poll
 * without blocking; < 0 = no cap), then run due fd callbacks and every timer
 * whose time has come. Returns the number of callbacks run, or -errno. */
int dcem_loop_run_once(dcem_loop *l, int64_t max_wait_ns);
/* Run until dcem_loop_stop. 0 or -errno. */
int dcem_loop_run(dcem_loop *l);
void dcem_loop_stop(dcem_loop *l);

#endif
