/* transport.h - the Modbus transport seam: a const table of function
 * pointers per backend (TCP on the loop, RTU in a per-port worker thread,
 * a fake in the tests). The device engine (device.c) never knows which one
 * it drives.
 *
 * A transport is shared: every device with the same address (a TCP gateway,
 * a serial bus) gets the same one from mb_transport_get, reference counted,
 * so one serial port has one owner and a gateway a capped set of connections.
 */
#ifndef DCEM_MODBUS_TRANSPORT_H
#define DCEM_MODBUS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dcem/loop.h"

/* One read request. */
typedef struct mb_xfer_req {
        uint8_t unit;
        uint8_t fc;               /* 1..4 */
        uint16_t start, count;
        int64_t timeout_ns;       /* for the answer, from when the request goes out */
        bool cont;                /* its poll has had an answer already: served
                                   * before requests of polls not started yet
                                   * (TCP), so a poll under way finishes first */
} mb_xfer_req;

/* The outcome of a request, called exactly once per submitted request that
 * was not cancelled, from the loop (never from inside submit).
 * status: 0 with regs (fc 3/4) or bits (fc 1/2, one byte per bit) of n
 * values; -EPROTO with exception = the Modbus exception code; -ETIMEDOUT;
 * -EBADMSG (a malformed answer: wrong length, unit, function); or another
 * -errno of the connection. Data is borrowed for the call. */
typedef void (*mb_xfer_cb)(void *ud, int status, int exception, const uint16_t *regs, const uint8_t *bits,
                           size_t n);

typedef struct mb_transport_ops {
        const char *name;
        /* Queue a request. 0 and *ret_id (never 0), or -ENOBUFS (queue full),
         * -EINVAL, -ENOMEM. */
        int (*submit)(void *impl, const mb_xfer_req *req, mb_xfer_cb cb, void *ud, uint64_t *ret_id);
        /* Forget a request: its callback will not be called. Unknown ids are ignored. */
        void (*cancel)(void *impl, uint64_t id);
        /* Close idle connections now (devices that allow a single master). */
        void (*release)(void *impl);
        void (*free)(void *impl);
} mb_transport_ops;

/* Options of a transport, taken from the first device that opens it. */
typedef struct mb_transport_opts {
        int64_t connect_timeout_ns;
        int64_t connect_delay_ns;   /* wait after connecting before the first request */
        int64_t inter_frame_ns;     /* RTU: silence between transactions on the bus */
        unsigned max_connections;   /* TCP: connection cap towards this address (>= 1) */
        unsigned queue_cap;         /* requests waiting, >= 1 */
} mb_transport_opts;

typedef struct mb_transport {
        const mb_transport_ops *ops;
        void *impl;
        /* registry */
        char *key;
        unsigned refs;
        dcem_loop *loop;
        struct mb_transport *next;
} mb_transport;

/* A parsed device address. */
typedef enum mb_addr_kind { MB_ADDR_TCP, MB_ADDR_RTU } mb_addr_kind;
typedef struct mb_addr {
        mb_addr_kind kind;
        char host[256];      /* TCP: name or address (IPv6 without brackets) */
        char port[8];        /* TCP: "502" by default */
        char device[256];    /* RTU: /dev/ttyUSB0 */
        int baud;            /* RTU: 9600 by default */
        char parity;         /* 'N', 'E', 'O' */
        int data_bits;       /* 5..8 */
        int stop_bits;       /* 1, 2 */
        bool rs485;          /* RTU: switch the port to RS-485 mode */
        int unit;            /* -1, or ?unit=N (probe URLs) */
} mb_addr;

/* Parse tcp://HOST[:PORT], tcp://[v6]:PORT, modbus://... (as tcp), or
 * rtu:///dev/X?baud=9600&parity=E&data=8&stop=1&rs485=1; ?unit=N is accepted
 * on every form. 0, or -EINVAL with a static reason in *ret_why. */
int mb_addr_parse(const char *url, mb_addr *ret, const char **ret_why);

/* The transport for an address, created on first use. 0 or -errno with a
 * message in errbuf. Release with mb_transport_put. */
int mb_transport_get(dcem_loop *loop, const mb_addr *a, const mb_transport_opts *o, mb_transport **ret,
                     char *errbuf, size_t errlen);
void mb_transport_put(mb_transport *t); /* accepts NULL */

/* Backends (tcp.c, rtu.c). Each returns 0 and an impl, or -errno. */
int mb_tcp_new(dcem_loop *loop, const mb_addr *a, const mb_transport_opts *o, void **ret, char *errbuf,
               size_t errlen);
extern const mb_transport_ops mb_tcp_ops;
int mb_rtu_new(dcem_loop *loop, const mb_addr *a, const mb_transport_opts *o, void **ret, char *errbuf,
               size_t errlen);
extern const mb_transport_ops mb_rtu_ops;

/* MBAP framing, pure (tcp.c): build a read request into buf (12 bytes), and
 * check an answer's PDU. */
size_t mb_mbap_request(uint8_t buf[12], uint16_t tid, const mb_xfer_req *r);
/* Parse the PDU (after the 7-byte MBAP header) of an answer to r. Returns
 * 0 with values in regs/bits (n of them), -EPROTO with *ret_exception, or
 * -EBADMSG if malformed (wrong function, byte count, length). */
int mb_pdu_parse(const uint8_t *pdu, size_t len, const mb_xfer_req *r, uint16_t *regs, uint8_t *bits,
                 size_t *ret_n, int *ret_exception);

#endif
