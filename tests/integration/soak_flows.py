#!/usr/bin/python3
"""Soak: 100,000 concurrent connections (200,000 directions) in a generated
capture. With --max-flows 262144 mbx must record every request exactly
(generator truth) within the documented memory cap (docs/architecture.md,
"Memory bounds": 256 MiB resident for this run). With the default
--max-flows (65,536 directions) it must still finish within the cap and
report the evictions (flows_evicted), never grow.

Usage: soak_flows.py MBX GENCAP WORKDIR"""
import json
import shutil
import os
import subprocess
import sys
import tempfile

CAP_MIB = 256


def run_measured(args):
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(args[0], args)
    _, status, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s exited %d" % (args[:2], os.waitstatus_to_exitcode(status)))
    return ru.ru_maxrss / 1024.0


def main():
    mbx, gencap = sys.argv[1:3]
    work = tempfile.mkdtemp(prefix="mbx-soak-", dir=sys.argv[3] if len(sys.argv) > 3 else None)
    try:
        run(mbx, gencap, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(mbx, gencap, work):
    here = os.path.dirname(os.path.abspath(__file__))
    cap = os.path.join(work, "soak.pcap")
    truth = os.path.join(work, "truth.json")
    subprocess.run([gencap, "-o", cap, "-t", truth, "--conns", "100000", "--requests", "300000",
                    "--no-acks"], check=True, capture_output=True)
    prof = os.path.join(work, "soak.mbx")
    rss = run_measured([mbx, "record", cap, "-o", prof, "--max-flows", "262144", "-q",
                        "--summary-json", os.path.join(work, "s1.json")])
    s1 = json.load(open(os.path.join(work, "s1.json")))
    print("max-flows 262144: %d events, %d connections, max RSS %.0f MiB" %
          (s1["events"], s1["counters"]["conns"], rss))
    if rss > CAP_MIB:
        sys.exit("resident memory %.0f MiB over the %d MiB cap" % (rss, CAP_MIB))
    aj = os.path.join(work, "a.json")
    subprocess.run([mbx, "analyze", prof, "--json", aj, "--no-text"], check=True)
    subprocess.run(["/usr/bin/python3", os.path.join(here, "check_truth.py"), truth, aj], check=True)

    rss2 = run_measured([mbx, "record", cap, "-o", prof, "-q",
                         "--summary-json", os.path.join(work, "s2.json")])
    s2 = json.load(open(os.path.join(work, "s2.json")))
    ev = s2["counters"]["flows_evicted"]
    print("default max-flows: %d events, flows_evicted %d, max RSS %.0f MiB" % (s2["events"], ev, rss2))
    if ev == 0:
        sys.exit("200,000 directions through a 65,536-entry table must evict")
    if rss2 > CAP_MIB:
        sys.exit("resident memory %.0f MiB over the %d MiB cap" % (rss2, CAP_MIB))
    print("PASS soak_flows")


if __name__ == "__main__":
    main()
