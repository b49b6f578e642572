"""workload - the one description of what both agents poll in the benchmark.

bench/run compares dcem with collectd on the same devices, points and interval.
The site comes from dcem-sim (its ready file: devices, protocol, port, unit,
profile); the points per device come from the tables below, the single source
from which this module writes BOTH configurations:

- dcem: profiles under RUN/profiles (modbus/bench-*.yaml, snmp/bench-*.yaml)
  and the agent config (the simulator's own --print-agent-config output with
  each device's profile swapped for its bench profile and the output set);
- collectd 5.12: collectd.conf (modbus, snmp, mqtt plugins) and a types.db
  with one type per packed SNMP GET.

Modbus: 14 points per meter (the SDM630-style map of issue 8): per-phase
voltage, current and power, frequency and the energy counters. SNMP: 6 scalar
OIDs per agent (power, energy, apparent power, power factor, ...). Only
registers and OIDs the simulator serves (docs/SIM.md) are used, so neither
agent trips on a gap.
"""
import functools
import os
import shutil

import yaml

# ---- Workload variants, set once by bench/run through configure() ----
# MODBUS_MAP: "bench14" (the 14-point map of issue 8, the default) or "full"
# (each meter's full catalog map, issue 4's "realistic meter map").
# SNMP_OUTLETS: 0 (6 scalar OIDs per agent, the default) or K > 0 (also the
# PDU's per-outlet table of K rows: issue 5's walk workload).
MODBUS_MAP = "bench14"
SNMP_OUTLETS = 0


def configure(modbus_map="bench14", snmp_outlets=0):
    """Select the workload variant; bench/run calls this before writing configs."""
    global MODBUS_MAP, SNMP_OUTLETS
    if modbus_map not in ("bench14", "full"):
        raise ValueError("modbus_map: bench14 or full")
    if not 0 <= int(snmp_outlets) <= 96:
        raise ValueError("snmp_outlets: 0..96")
    MODBUS_MAP = modbus_map
    SNMP_OUTLETS = int(snmp_outlets)


# ---- Modbus: (point name, register, type, unit, kind) per simulator profile ----
# function: SDM630 input registers, the others holding registers.
_SDM630 = [
    ("voltage_l1", 0x00, "float32", "V", "gauge"), ("voltage_l2", 0x02, "float32", "V", "gauge"),
    ("voltage_l3", 0x04, "float32", "V", "gauge"), ("current_l1", 0x06, "float32", "A", "gauge"),
    ("current_l2", 0x08, "float32", "A", "gauge"), ("current_l3", 0x0A, "float32", "A", "gauge"),
    ("power_l1_w", 0x0C, "float32", "W", "gauge"), ("power_l2_w", 0x0E, "float32", "W", "gauge"),
    ("power_l3_w", 0x10, "float32", "W", "gauge"), ("frequency_hz", 0x46, "float32", "Hz", "gauge"),
    ("energy_kwh", 0x48, "float32", "kWh", "counter"), ("energy_export_kwh", 0x4A, "float32", "kWh", "counter"),
    ("reactive_energy_import_kvarh", 0x4C, "float32", "kvarh", "counter"),
    ("reactive_energy_export_kvarh", 0x4E, "float32", "kvarh", "counter"),
]
_IEM3000 = [
    ("current_l1", 2999, "float32", "A", "gauge"), ("current_l2", 3001, "float32", "A", "gauge"),
    ("current_l3", 3003, "float32", "A", "gauge"), ("current_n", 3005, "float32", "A", "gauge"),
    ("voltage_l1", 3027, "float32", "V", "gauge"), ("voltage_l2", 3029, "float32", "V", "gauge"),
    ("voltage_l3", 3031, "float32", "V", "gauge"), ("power_l1_kw", 3053, "float32", "kW", "gauge"),
    ("power_l2_kw", 3055, "float32", "kW", "gauge"), ("power_l3_kw", 3057, "float32", "kW", "gauge"),
    ("power_kw", 3059, "float32", "kW", "gauge"), ("frequency_hz", 3109, "float32", "Hz", "gauge"),
    ("energy_wh", 3203, "int64", "Wh", "counter"), ("energy_export_wh", 3207, "int64", "Wh", "counter"),
]
# SunSpec: "SunS" at 40000, model 1 (68 registers with its header) at 40002,
# the meter model's header at 40070, its points at 40070 + offset (offsets from
# the model's ID register, as in the SunSpec model definitions).
_SS = 40070
_SUNSPEC203 = [
    ("current_l1", _SS + 3, "int16", "dA", "gauge"), ("current_l2", _SS + 4, "int16", "dA", "gauge"),
    ("current_l3", _SS + 5, "int16", "dA", "gauge"), ("voltage_l1", _SS + 8, "int16", "dV", "gauge"),
    ("voltage_l2", _SS + 9, "int16", "dV", "gauge"), ("voltage_l3", _SS + 10, "int16", "dV", "gauge"),
    ("frequency", _SS + 16, "int16", "cHz", "gauge"), ("power", _SS + 18, "int16", "W", "gauge"),
    ("power_l1", _SS + 19, "int16", "W", "gauge"), ("power_l2", _SS + 20, "int16", "W", "gauge"),
    ("power_l3", _SS + 21, "int16", "W", "gauge"), ("power_sf", _SS + 22, "int16", "1", "gauge"),
    ("energy_export_wh", _SS + 38, "uint32", "Wh", "counter"), ("energy_wh", _SS + 46, "uint32", "Wh", "counter"),
]
_SUNSPEC213 = [
    ("current", _SS + 2, "float32", "A", "gauge"), ("current_l1", _SS + 4, "float32", "A", "gauge"),
    ("current_l2", _SS + 6, "float32", "A", "gauge"), ("current_l3", _SS + 8, "float32", "A", "gauge"),
    ("voltage_l1", _SS + 12, "float32", "V", "gauge"), ("voltage_l2", _SS + 14, "float32", "V", "gauge"),
    ("voltage_l3", _SS + 16, "float32", "V", "gauge"), ("frequency_hz", _SS + 26, "float32", "Hz", "gauge"),
    ("power_w", _SS + 28, "float32", "W", "gauge"), ("power_l1_w", _SS + 30, "float32", "W", "gauge"),
    ("power_l2_w", _SS + 32, "float32", "W", "gauge"), ("power_l3_w", _SS + 34, "float32", "W", "gauge"),
    ("energy_export_wh", _SS + 60, "float32", "Wh", "counter"), ("energy_wh", _SS + 68, "float32", "Wh", "counter"),
]
# simulator profile -> (bench profile name, function, points)
MODBUS = {
    "sdm630": ("bench-sdm630", "input", _SDM630),
    "iem3000": ("bench-iem3000", "holding", _IEM3000),
    "pm5000": ("bench-iem3000", "holding", _IEM3000),
    "sunspec": ("bench-sunspec203", "holding", _SUNSPEC203),
    "sunspec-float": ("bench-sunspec213", "holding", _SUNSPEC213),
}

# ---- Modbus, MODBUS_MAP "full": each meter's whole catalog map (issue 4) ----
# dcem polls with the catalog profile itself (conf/profiles/modbus/NAME.yaml,
# copied into the bench's profiles_dir); collectd gets one <Data> per numeric
# point of the same map. Every register of these maps is one dcem-sim serves
# (tools/sim/regs.c: sdm630_addrs, iem_points, the SunSpec image). SunSpec is
# discovered by dcem (profile sunspec: the meter model's 10 canonical points
# with their scale factors, and the common model's 4 identity strings); for
# collectd it is written out at the simulator's addresses: the 10 values and,
# for model 203, the 5 scale-factor registers they need (collectd cannot read
# strings, so the identity strings are dcem's alone).
_CATALOG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conf", "profiles", "modbus")
_SS203_FULL = [
    ("energy_wh", _SS + 46, "uint32", "Wh", "counter"), ("energy_export_wh", _SS + 38, "uint32", "Wh", "counter"),
    ("power", _SS + 18, "int16", "W", "gauge"), ("frequency", _SS + 16, "int16", "Hz", "gauge"),
    ("voltage_l1", _SS + 8, "int16", "V", "gauge"), ("voltage_l2", _SS + 9, "int16", "V", "gauge"),
    ("voltage_l3", _SS + 10, "int16", "V", "gauge"), ("current_l1", _SS + 3, "int16", "A", "gauge"),
    ("current_l2", _SS + 4, "int16", "A", "gauge"), ("current_l3", _SS + 5, "int16", "A", "gauge"),
    ("energy_sf", _SS + 54, "int16", "1", "gauge"), ("power_sf", _SS + 22, "int16", "1", "gauge"),
    ("frequency_sf", _SS + 17, "int16", "1", "gauge"), ("voltage_sf", _SS + 15, "int16", "1", "gauge"),
    ("current_sf", _SS + 6, "int16", "1", "gauge"),
]
_SS213_FULL = [
    ("energy_wh", _SS + 68, "float32", "Wh", "counter"), ("energy_export_wh", _SS + 60, "float32", "Wh", "counter"),
    ("power_w", _SS + 28, "float32", "W", "gauge"), ("frequency_hz", _SS + 26, "float32", "Hz", "gauge"),
    ("voltage_l1", _SS + 12, "float32", "V", "gauge"), ("voltage_l2", _SS + 14, "float32", "V", "gauge"),
    ("voltage_l3", _SS + 16, "float32", "V", "gauge"), ("current_l1", _SS + 4, "float32", "A", "gauge"),
    ("current_l2", _SS + 6, "float32", "A", "gauge"), ("current_l3", _SS + 8, "float32", "A", "gauge"),
]
# simulator profile -> catalog profile (dcem's) and the explicit points for collectd (None: from the catalog file)
MODBUS_FULL = {
    "sdm630": ("sdm630", None),
    "iem3000": ("iem3000", None),
    "pm5000": ("pm5000", None),
    "sunspec": ("sunspec", ("holding", _SS203_FULL)),
    "sunspec-float": ("sunspec", ("holding", _SS213_FULL)),
}


@functools.lru_cache(maxsize=None)
def _catalog_points(name):
    """(function, [(point, register, type, unit, kind)]) of a catalog profile's numeric points
    (read once: bench/run asks for every collectd message)."""
    with open(os.path.join(_CATALOG, name + ".yaml")) as f:
        doc = yaml.safe_load(f)
    fns = {p.get("function", "holding") for p in doc["points"]}
    if len(fns) != 1:
        raise ValueError("%s: one function code per bench map" % name)
    pts = [(p["name"], int(p["register"]), p.get("type", "uint16"), p.get("unit", ""), p.get("kind", "gauge"))
           for p in doc["points"] if p.get("type", "uint16") != "string"]
    return fns.pop(), pts


def modbus_map(sim_profile):
    """(dcem profile name, function, points) polled on a meter of this simulator profile
    under the current MODBUS_MAP; points are what collectd reads, one <Data> each."""
    if MODBUS_MAP != "full":
        return MODBUS[sim_profile]
    name, explicit = MODBUS_FULL[sim_profile]
    fn, pts = explicit if explicit else _catalog_points(name)
    return (name, fn, pts)


# ---- SNMP: 6 scalar OIDs (point name, OID) per simulator profile ----
_APC = "1.3.6.1.4.1.318.1.1.26.4.3.1"
_RAR = "1.3.6.1.4.1.13742.6.5.2.3.1.4.1.1"
_ST4 = "1.3.6.1.4.1.1718.4.1.3.3.1"
_EAT = "1.3.6.1.4.1.534.6.6.7"
_UPS = "1.3.6.1.2.1.33.1.4.4.1"
SNMP = {
    "apc-rpdu2": ("bench-apc-rpdu2", [
        ("power", _APC + ".5.1"), ("energy", _APC + ".9.1"), ("apparent_power", _APC + ".16.1"),
        ("power_factor", _APC + ".17.1"), ("load_state", _APC + ".4.1"), ("module", _APC + ".2.1")]),
    "raritan-pdu2": ("bench-raritan-pdu2", [
        ("current", _RAR + ".1"), ("voltage", _RAR + ".4"), ("power", _RAR + ".5"),
        ("apparent_power", _RAR + ".6"), ("power_factor", _RAR + ".7"), ("energy", _RAR + ".8")]),
    "sentry4": ("bench-sentry4", [
        ("power", _ST4 + ".3.1.1"), ("apparent_power", _ST4 + ".5.1.1"), ("power_factor", _ST4 + ".8.1.1"),
        ("energy", _ST4 + ".10.1.1"), ("frequency", _ST4 + ".11.1.1"), ("state", _ST4 + ".1.1.1")]),
    "eaton-epdu": ("bench-eaton-epdu", [
        ("apparent_power", _EAT + ".3.5.1.3.0.1"), ("power", _EAT + ".3.5.1.4.0.1"),
        ("energy", _EAT + ".3.5.1.5.0.1"), ("energy_since", _EAT + ".3.5.1.6.0.1"),
        ("power_factor", _EAT + ".3.5.1.7.0.1"), ("outlet_current", _EAT + ".6.5.1.3.0.1")]),
    "ups-mib": ("bench-ups-mib", [
        ("voltage_l1", _UPS + ".2.1"), ("voltage_l2", _UPS + ".2.2"), ("voltage_l3", _UPS + ".2.3"),
        ("power_l1", _UPS + ".4.1"), ("power_l2", _UPS + ".4.2"), ("power_l3", _UPS + ".4.3")]),
}

# ---- SNMP walk workload (SNMP_OUTLETS > 0): the per-outlet table of each PDU ----
# (point name, column OID) of the outlet columns a PDU profile really reads, the
# same OIDs dcem-sim serves (tools/sim/oids.c) and the real MIBs define:
# - APC PowerNet-MIB rPDU2OutletMeteredStatusTable .318.1.1.26.9.4.3.1, index outlet:
#   .7 power (W), .11 energy (tenths of kWh);
# - Raritan PDU2-MIB measurementsOutletSensorValue .13742.6.5.4.3.1.4, index
#   pdu.outlet.sensorType (5 activePower W, 8 activeEnergy Wh): one column, two rows per outlet;
# - EATON-EPDU-MIB outletPowerTable .534.6.6.7.6.5.1, index strap.outlet: .3 W, .4 Wh.
# Sentry4 and UPS agents have no outlet table in the simulator: unchanged. Both agents walk
# every row the agent serves (dcem-sim --scale: 8 outlets per APC, Raritan and Eaton PDU).
SNMP_OUTLET_COLUMNS = {
    "apc-rpdu2": [("outlet_power", "1.3.6.1.4.1.318.1.1.26.9.4.3.1.7"),
                  ("outlet_energy", "1.3.6.1.4.1.318.1.1.26.9.4.3.1.11")],
    "raritan-pdu2": [("outlet_sensor", "1.3.6.1.4.1.13742.6.5.4.3.1.4")],
    "eaton-epdu": [("outlet_power", _EAT + ".6.5.1.3"), ("outlet_energy", _EAT + ".6.5.1.4")],
}


def snmp_outlet_columns(sim_profile):
    """The outlet columns walked for this simulator profile ([] when SNMP_OUTLETS is 0)."""
    return SNMP_OUTLET_COLUMNS.get(sim_profile, []) if SNMP_OUTLETS > 0 else []


# The first point of each map is the one whose collectd stream counts polls.
def key_point(sim_profile):
    """collectd type instance of the message that marks one device-poll."""
    if sim_profile in MODBUS:
        return "gauge-" + modbus_map(sim_profile)[2][0][0]
    return "bench%d" % len(SNMP[sim_profile][1])


def write_dcem_profiles(root):
    """Write the bench profiles (dcem's profile format) under root/modbus and root/snmp."""
    os.makedirs(os.path.join(root, "modbus"), exist_ok=True)
    os.makedirs(os.path.join(root, "snmp"), exist_ok=True)
    done = set()
    for sim, (name, fn, pts) in MODBUS.items():
        if MODBUS_MAP == "full":
            cat = MODBUS_FULL[sim][0]
            if cat not in done:
                done.add(cat)
                shutil.copyfile(os.path.join(_CATALOG, cat + ".yaml"), os.path.join(root, "modbus", cat + ".yaml"))
            continue
        if name in done:
            continue
        done.add(name)
        doc = {"description": "bench workload for simulator profile %s (bench/workload.py)" % sim,
               "points": [{"name": p, "function": fn, "register": r, "type": t, "unit": u, "kind": k}
                          for (p, r, t, u, k) in pts]}
        with open(os.path.join(root, "modbus", name + ".yaml"), "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)
    for sim, (name, pts) in SNMP.items():
        doc = {"profile": name, "description": "bench workload for simulator profile %s (bench/workload.py)" % sim,
               "points": [{"name": p, "oid": o} for (p, o) in pts]
               + [{"name": p + ".{index}", "column": c} for (p, c) in snmp_outlet_columns(sim)]}
        with open(os.path.join(root, "snmp", name + ".yaml"), "w") as f:
            yaml.safe_dump(doc, f, sort_keys=False)


def write_dcem_config(sim_config_path, ready, path, profiles_dir, state_dir, interval_s, output,
                      max_connections=1):
    """Rewrite the simulator's agent config for the bench: bench profiles, state, interval, output.

    output: a dict for the `output:` block (e.g. {"mqtt": {"url": ...}} or {"stdout": True})."""
    with open(sim_config_path) as f:
        cfg = yaml.safe_load(f)
    by_name = {d["name"]: d for d in ready["devices"]}
    cfg["interval"] = "%gs" % interval_s if interval_s >= 1 else "%dms" % round(interval_s * 1000)
    cfg["profiles_dir"] = profiles_dir
    cfg["state_dir"] = state_dir
    cfg["log_level"] = "notice"
    for d in cfg.get("devices", []):
        sim = by_name[d["name"]]["profile"]
        if "modbus" in d:
            d["modbus"]["profile"] = modbus_map(sim)[0]
            if max_connections > 1:
                d["modbus"]["max_connections"] = max_connections
        elif "snmp" in d:
            d["snmp"]["profile"] = SNMP[sim][0]
    cfg["output"] = output
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)


_CD_TYPES = {"float32": "Float", "int16": "Int16", "uint16": "Uint16", "int32": "Int32", "uint32": "Uint32",
             "int64": "Int64", "uint64": "Uint64", "acc32": "Uint32", "sunssf": "Int16"}


def write_collectd_config(ready, path, types_path, workdir, interval_s, mqtt_port, read_threads=50,
                          units_per_host=16, qos=1, write_threads=5):
    """Write collectd.conf (+ types.db for packed SNMP) polling the simulator's devices.

    Modbus: collectd sends one request per <Data> block, so 14 per device-poll;
    devices behind one gateway port are split into <Host> blocks of
    units_per_host slaves, each its own connection and read callback, so up to
    read_threads of them poll in parallel. SNMP: one <Host> per agent, its six
    OIDs in one <Data> of a six-valued type: one GET per device-poll (collectd's
    best packed configuration)."""
    L = []
    a = L.append
    a('Hostname "bench"')
    a("FQDNLookup false")
    a('BaseDir "%s"' % workdir)
    a('PIDFile "%s/collectd.pid"' % workdir)
    a('PluginDir "/usr/lib/collectd"')
    a('TypesDB "/usr/share/collectd/types.db" "%s"' % types_path)
    a("AutoLoadPlugin false")
    a("Interval %g" % interval_s)
    a("Timeout 2")
    a("ReadThreads %d" % read_threads)
    a("WriteThreads %d" % write_threads)
    a("LoadPlugin logfile")
    a('<Plugin logfile>\n  LogLevel "warning"\n  File "%s/collectd.log"\n  Timestamp true\n</Plugin>' % workdir)
    for p in ("modbus", "snmp", "mqtt"):
        a("LoadPlugin " + p)
    mb = [d for d in ready["devices"] if d["protocol"] == "modbus"]
    sn = [d for d in ready["devices"] if d["protocol"] == "snmp"]
    if mb:
        a("<Plugin modbus>")
        used = sorted({d["profile"] for d in mb})
        for sim in used:
            name, fn, pts = modbus_map(sim)
            for (p, r, t, _u, _k) in pts:
                a('  <Data "%s-%s">\n    RegisterBase %d\n    RegisterType %s\n    RegisterCmd %s\n'
                  '    Type "gauge"\n    Instance "%s"\n  </Data>'
                  % (sim, p, r, _CD_TYPES[t], "ReadInput" if fn == "input" else "ReadHolding", p))
        by_port = {}
        for d in mb:
            by_port.setdefault(d["port"], []).append(d)
        for port, devs in sorted(by_port.items()):
            for k in range(0, len(devs), units_per_host):
                a('  <Host "gw%d-%d">\n    Address "127.0.0.1"\n    Port "%d"\n    Interval %g'
                  % (port, k // units_per_host, port, interval_s))
                for d in devs[k:k + units_per_host]:
                    a('    <Slave %d>\n      Instance "%s"' % (d["unit"], d["name"]))
                    for (p, *_rest) in modbus_map(d["profile"])[2]:
                        a('      Collect "%s-%s"' % (d["profile"], p))
                    a("    </Slave>")
                a("  </Host>")
        a("</Plugin>")
    widths = set()
    if sn:
        a("<Plugin snmp>")
        for sim in sorted({d["profile"] for d in sn}):
            name, pts = SNMP[sim]
            widths.add(len(pts))
            a('  <Data "%s">\n    Type "bench%d"\n    Table false\n    Values %s\n  </Data>'
              % (sim, len(pts), " ".join('"%s"' % o for (_p, o) in pts)))
            cols = snmp_outlet_columns(sim)
            if cols:
                # The same outlet columns, walked as a table (collectd: one GETNEXT per row).
                widths.add(len(cols))
                a('  <Data "%s-outlets">\n    Type "bench%d"\n    Table true\n    Values %s\n  </Data>'
                  % (sim, len(cols), " ".join('"%s"' % c for (_p, c) in cols)))
        for d in sn:
            collect = '"%s"' % d["profile"]
            if snmp_outlet_columns(d["profile"]):
                collect += ' "%s-outlets"' % d["profile"]
            a('  <Host "%s">\n    Address "udp:127.0.0.1:%d"\n    Version 2\n    Community "public"\n'
              '    Collect %s\n    Interval %g\n    Timeout 1\n    Retries 0\n  </Host>'
              % (d["name"], d["port"], collect, interval_s))
        a("</Plugin>")
    a('<Plugin mqtt>\n  <Publish "bench">\n    Host "127.0.0.1"\n    Port "%d"\n    ClientId "collectd-bench"\n'
      '    Prefix "collectd"\n    QoS %d\n    Retain false\n    StoreRates false\n  </Publish>\n</Plugin>'
      % (mqtt_port, qos))
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")
    with open(types_path, "w") as f:
        for w in sorted(widths):
            f.write("bench%d %s\n" % (w, ", ".join("v%d:GAUGE:U:U" % i for i in range(1, w + 1))))
