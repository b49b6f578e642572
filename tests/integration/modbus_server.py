"""modbus_server - an independent Modbus TCP server for dcem's tests, on
Debian's pymodbus (3.0.x API): `python3 modbus_server.py SPEC.json PORT LOG`.
With PORT = "rtu", a Modbus RTU server on a pseudo-terminal instead: two
pty pairs bridged by a thread (a null-modem cable); the client's end, a
/dev/pts path, is logged as {"rtu": PATH}.

SPEC: {"units": {"1": {"hr": {"100": 7, ...}, "ir": {...}, "co": {...},
"di": {...}}}}. Only listed addresses exist (a sparse store): reading any
other answers exception 2 (illegal data address). Unit ids not listed get
no answer at all (the client times out). Every request is logged to LOG as
a JSON line {"unit", "fc", "addr", "count", "ok"}, every accepted TCP
connection as {"conn": 1}, so tests count what went over the wire.
"""
import json
import logging
import os
import select
import sys
import threading
import tty

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server import StartTcpServer
from pymodbus.server import async_io

FC = {"c": 1, "d": 2, "h": 3, "i": 4}


def null_modem():
    """Two pty pairs whose masters are bridged: returns the two /dev/pts paths."""
    ma, sa = os.openpty()
    mb, sb = os.openpty()
    for fd in (sa, sb):
        tty.setraw(fd)

    def pump():
        while True:
            r, _, _ = select.select([ma, mb], [], [])
            for src, dst in ((ma, mb), (mb, ma)):
                if src in r:
                    try:
                        data = os.read(src, 4096)
                    except OSError:
                        data = b""
                    if data:
                        os.write(dst, data)

    threading.Thread(target=pump, daemon=True).start()
    return os.ttyname(sa), os.ttyname(sb)


def main():
    spec_path, port_arg, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
    port = int(port_arg) if port_arg != "rtu" else 0
    with open(spec_path) as f:
        spec = json.load(f)
    log = open(log_path, "a", buffering=1)

    class LoggedContext(ModbusSlaveContext):
        def __init__(self, unit, **kw):
            super().__init__(zero_mode=True, **kw)
            self.unit = unit

        def validate(self, fc_as_hex, address, count=1):
            ok = super().validate(fc_as_hex, address, count)
            log.write(json.dumps({"unit": self.unit, "fc": FC.get(self.decode(fc_as_hex), fc_as_hex),
                                  "addr": address, "count": count, "ok": bool(ok)}) + "\n")
            return ok

    slaves = {}
    for unit, tables in spec["units"].items():
        blocks = {}
        for key in ("hr", "ir", "co", "di"):
            values = {int(a): v for a, v in tables.get(key, {}).items()}
            # an empty sparse block refuses everything; pymodbus needs at least one value
            blocks[key] = ModbusSparseDataBlock(values if values else {65535: 0})
        slaves[int(unit)] = LoggedContext(int(unit), **blocks)
    context = ModbusServerContext(slaves=slaves, single=False)

    orig_made = async_io.ModbusConnectedRequestHandler.connection_made

    def connection_made(self, transport):
        log.write(json.dumps({"conn": 1}) + "\n")
        return orig_made(self, transport)

    async_io.ModbusConnectedRequestHandler.connection_made = connection_made
    logging.basicConfig(level=logging.CRITICAL)
    if port_arg == "rtu":
        from pymodbus.framer.rtu_framer import ModbusRtuFramer
        from pymodbus.server import StartSerialServer
        server_path, client_path = null_modem()
        log.write(json.dumps({"rtu": client_path}) + "\n")
        StartSerialServer(context=context, framer=ModbusRtuFramer, port=server_path, baudrate=9600,
                          ignore_missing_slaves=True)
        return
    StartTcpServer(context=context, address=("127.0.0.1", port), ignore_missing_slaves=True,
                   allow_reuse_address=True)


if __name__ == "__main__":
    main()
