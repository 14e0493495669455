#!/usr/bin/env python3
"""Reads a perf recording of the perf phase of bench/chat_bench_diag.erl
(sched_switch and sched_wakeup of the whole machine) and the stub VM's
thread list (FILE.tids) and prints, for the VM's scheduler threads, the
share of the window each spent on a CPU, waiting for a CPU (runnable:
preempted or woken but not yet running) and sleeping (blocked: out of
work, or a lock), what the other scheduler did while one slept, and who
had the CPUs while a scheduler waited for one.

    python3 bench/sched_idle.py /tmp/diag2_...-12.data [more .data files]
"""
import re
import subprocess
import sys
from collections import defaultdict

SW = re.compile(r"\[(\d+)\]\s+([\d.]+): sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ "
                r"prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
WK = re.compile(r"\[(\d+)\]\s+([\d.]+): sched:sched_wakeup: comm=(.*?) pid=(\d+) prio=\d+ target_cpu=(\d+)")


def analyse(data):
    tids = {}
    with open(data[:-len(".data")] + ".tids") as f:
        for line in f:
            tid, _, comm = line.strip().partition(" ")
            tids[int(tid)] = comm
    scheds = sorted((t for t, c in tids.items() if c.endswith("_scheduler")), key=lambda t: tids[t])
    out = subprocess.run(["perf", "script", "-i", data], capture_output=True, text=True).stdout
    state = {}            # tid -> "run" | "wait" | "sleep"
    oncpu = {}            # cpu -> (tid, comm)
    t0 = t_last = None
    acc = defaultdict(float)        # (sched tid, state, other sched's state) -> seconds
    thief = defaultdict(float)      # comm on the CPUs while a scheduler waits -> seconds
    other_cpu = defaultdict(float)  # comm -> CPU seconds of threads not of the VM
    woke = {}                       # scheduler tid -> time of its wake-up
    wake_lat = []                   # wake-up to running, seconds
    stacked = {}                    # scheduler tid -> woken onto the other scheduler's CPU, another idle
    stacked_lat = []                # the wake-up to running of those
    sleeps = defaultdict(list)      # scheduler tid -> lengths of its sleeps
    slept_at = {}
    cpu_use = defaultdict(float)    # "vm" / "others" / idle CPU by what the schedulers did -> CPU seconds

    def advance(t):
        nonlocal t_last
        if t_last is not None and t > t_last:
            dt = t - t_last
            for s in scheds:
                o = [x for x in scheds if x != s]
                acc[(s, state.get(s, "?"), state.get(o[0], "?") if o else "-")] += dt
                if state.get(s) == "wait":
                    for c, (tid, comm) in oncpu.items():
                        thief["vm " + tids[tid] if tid in tids else comm] += dt / max(1, len(oncpu))
            for c, (tid, comm) in oncpu.items():
                if tid not in tids and tid != 0:
                    other_cpu[comm] += dt
                if tid in tids:
                    cpu_use["vm"] += dt
                elif tid != 0:
                    cpu_use["others"] += dt
                else:
                    sts = sorted(state.get(x, "?") for x in scheds)
                    cpu_use["idle, schedulers " + "+".join(sts)] += dt
        t_last = t

    for line in out.splitlines():
        m = SW.search(line)
        if m:
            cpu, t, pcomm, ppid, pstate, ncomm, npid = m.groups()
            t = float(t)
            t0 = t0 or t
            advance(t)
            ppid, npid = int(ppid), int(npid)
            if ppid in tids:
                state[ppid] = "wait" if pstate.startswith("R") else "sleep"
                if ppid in scheds and state[ppid] == "sleep":
                    slept_at[ppid] = t
            if npid in tids:
                state[npid] = "run"
                if npid in woke:
                    wake_lat.append(t - woke.pop(npid))
                    if stacked.pop(npid, False):
                        stacked_lat.append(wake_lat[-1])
            oncpu[int(cpu)] = (npid, ncomm)
            continue
        m = WK.search(line)
        if m:
            cpu, t, comm, pid, target = m.groups()
            t = float(t)
            t0 = t0 or t
            advance(t)
            pid = int(pid)
            if pid in tids and state.get(pid) != "run":
                if pid in scheds and state.get(pid) == "sleep":
                    woke[pid] = t
                    # Woken onto the CPU that runs the other scheduler while another CPU idles?
                    busy = oncpu.get(int(target), (0, ""))[0]
                    stacked[pid] = busy in scheds and any(v[0] == 0 for c, v in oncpu.items() if c != int(target))
                    if pid in slept_at:
                        sleeps[pid].append(t - slept_at.pop(pid))
                state[pid] = "wait"
    span = (t_last - t0) if t0 else 0
    print(f"{data}: {span * 1000:.0f} ms; scheduler threads {[tids[s] for s in scheds]}")
    for s in scheds:
        tot = sum(v for (x, _, _), v in acc.items() if x == s) or 1
        by = defaultdict(float)
        for (x, st, _), v in acc.items():
            if x == s:
                by[st] += v
        print(f"  {tids[s]}: " + ", ".join(f"{k} {100 * v / tot:.1f}%" for k, v in sorted(by.items())))
        sl = {o: v for (x, st, o), v in acc.items() if x == s and st == "sleep"}
        sl_tot = sum(sl.values()) or 1
        print(f"    while it slept, the other scheduler: "
              + ", ".join(f"{k} {100 * v / sl_tot:.0f}%" for k, v in sorted(sl.items())))
    def q(xs, p):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1e6 if xs else 0
    sl = [x for v in sleeps.values() for x in v]
    print(f"  scheduler sleeps: {len(sl) / max(span, 1e-9):.0f}/s, length p50 {q(sl, .5):.0f} us, p90 {q(sl, .9):.0f} us, "
          f"sum {sum(sl) / max(span, 1e-9):.3f} cores; wake-up to running: p50 {q(wake_lat, .5):.0f} us, p90 {q(wake_lat, .9):.0f} us, "
          f"max {q(wake_lat, 1):.0f} us, sum {sum(wake_lat) / max(span, 1e-9):.3f} cores")
    print(f"  of those wake-ups, {len(stacked_lat)} of {len(wake_lat)} put the scheduler on the CPU running the other one "
          f"while another CPU idled: wake-up to running p50 {q(stacked_lat, .5):.0f} us, p90 {q(stacked_lat, .9):.0f} us, "
          f"sum {sum(stacked_lat) / max(span, 1e-9):.3f} cores")
    ct = sum(cpu_use.values()) or 1
    print(f"  the {len(oncpu)} CPUs' time (cores): " + ", ".join(f"{k} {len(oncpu) * v / ct:.3f}" for k, v in sorted(cpu_use.items(), key=lambda kv: -kv[1])))
    wt = sum(thief.values()) or 1
    print("  on the CPUs while a scheduler waited for one: "
          + ", ".join(f"{k} {100 * v / wt:.0f}%" for k, v in sorted(thief.items(), key=lambda kv: -kv[1])[:8]))
    print("  CPU of processes other than the VM: "
          + ", ".join(f"{k} {v / span:.3f} cores" for k, v in sorted(other_cpu.items(), key=lambda kv: -kv[1])[:8] if span))


for f in sys.argv[1:]:
    analyse(f)
