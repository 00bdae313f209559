"""runone.py - runs one benchmark process for bench/compare.sh and records what else the machine
was doing meanwhile.

Usage: python3 bench/runone.py --out RAW.jsonl --tag key=value ... [--wait-quiet SECONDS] -- CMD...
  Waits (up to --wait-quiet seconds, default 0) until the machine is quiet: less than 0.15 of a
  core busy over half a second. Then runs CMD (its environment is this process's), parses the
  last line of its stdout as a JSON object, adds the tags (numbers where they parse), and
  "foreign_cpu": the average number of cores that OTHER processes kept busy while CMD ran
  (busy CPU time of the whole machine from /proc/stat minus CMD's own user+system time), then
  appends the object as one line to RAW.jsonl. A benchmark that shared its cores with other work
  is thus visible in the results instead of silently slow. Exit status: CMD's, or 1 if its output
  had no JSON. Standard library only; Linux (/proc/stat).
"""
import json
import os
import resource
import subprocess
import sys
import time

QUIET_CORES = 0.15


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, total


def busy_cores(interval):
    b0, _ = cpu_jiffies()
    time.sleep(interval)
    b1, _ = cpu_jiffies()
    return (b1 - b0) / os.sysconf("SC_CLK_TCK") / interval


def wait_quiet(limit):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if busy_cores(0.5) < QUIET_CORES:
            return True
        time.sleep(1.0)
    return limit <= 0


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit("runone.py: usage: runone.py --out FILE [--tag k=v]... [--wait-quiet S] -- CMD")
    cut = args.index("--")
    opts, cmd = args[:cut], args[cut + 1:]
    out, tags, wait = None, {}, 0.0
    i = 0
    while i < len(opts):
        if opts[i] == "--out":
            out = opts[i + 1]
        elif opts[i] == "--tag":
            k, _, v = opts[i + 1].partition("=")
            try:
                tags[k] = int(v)
            except ValueError:
                tags[k] = v
        elif opts[i] == "--wait-quiet":
            wait = float(opts[i + 1])
        else:
            sys.exit(f"runone.py: unknown option {opts[i]}")
        i += 2
    quiet = wait_quiet(wait)
    hz = os.sysconf("SC_CLK_TCK")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, _ = cpu_jiffies()
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    b1, _ = cpu_jiffies()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    foreign = max(0.0, ((b1 - b0) / hz - own) / wall) if wall > 0 else 0.0
    if p.returncode != 0:
        print(f"runone.py: {' '.join(cmd)} exited {p.returncode}", file=sys.stderr)
        return p.returncode
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    try:
        rec = json.loads(lines[-1])
    except (IndexError, ValueError):
        print(f"runone.py: no JSON in the output of {' '.join(cmd)}:\n{p.stdout}", file=sys.stderr)
        return 1
    rec.update(tags)
    rec["foreign_cpu"] = round(foreign, 3)
    rec["started_quiet"] = quiet
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
