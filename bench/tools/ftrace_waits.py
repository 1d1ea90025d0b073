#!/usr/bin/env python3
"""bench/tools/ftrace_waits.py TRACE PREFIX [THRESH_US] [CPU]: read an ftrace text dump (sched_switch,
sched_wakeup, irq/softirq; bench/tools/gc_trace.sh) of one CPU and
report, for the server's threads (comm prefix given), every interval over THRESH_US
where a server thread was runnable but not running (who ran instead, which irqs),
and every on-CPU stretch over THRESH_US, and the longest irq/softirq handlers."""
import re, sys, collections
path, prefix = sys.argv[1], sys.argv[2]
thresh = float(sys.argv[3]) if len(sys.argv) > 3 else 500.0
CPU = sys.argv[4] if len(sys.argv) > 4 else '000'
line_re = re.compile(r'^\s*(.+?)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\w+):\s+(.*)$')
kv = lambda s: dict(re.findall(r'(\w+)=(\S+)', s))
waiting = {}      # pid -> wake time
oncpu = None      # (pid, comm, t_in)
ran_during = collections.defaultdict(list)
irq_open = {}
events = []
longest_irq = []
srv = set()
switch_in = {}
first = last = None
for line in open(path, errors='replace'):
    m = line_re.match(line)
    if not m:
        continue
    comm, pid, cpu, t, ev, rest = m.group(1), int(m.group(2)), m.group(3), float(m.group(4)), m.group(5), m.group(6)
    if cpu != CPU:
        continue
    first = first if first is not None else t
    last = t
    if ev == 'sched_wakeup' or ev == 'sched_waking':
        d = kv(rest)
        if d.get('comm', '').startswith(prefix) and d.get('target_cpu', CPU) == CPU:
            p = int(d['pid']); srv.add(p)
            waiting.setdefault(p, t)
    elif ev == 'sched_switch':
        a = rest.split(' ==> ')
        prev, nxt = kv(a[0]), kv(a[1])
        pp, np_ = int(prev['prev_pid']), int(nxt['next_pid'])
        if prev['prev_comm'].startswith(prefix):
            srv.add(pp)
            if pp in switch_in:
                dur = (t - switch_in.pop(pp)) * 1e6
                if dur > thresh:
                    events.append((switch_in.get(pp, t), 'ONCPU', prev['prev_comm'], pp, dur, ''))
            if prev['prev_state'].startswith('R'):   # preempted while runnable
                waiting.setdefault(pp, t)
        if nxt['next_comm'].startswith(prefix):
            srv.add(np_)
            switch_in[np_] = t
            if np_ in waiting:
                w0 = waiting.pop(np_)
                dur = (t - w0) * 1e6
                if dur > thresh:
                    who = collections.Counter(x for (x, tt) in ran_during[np_] if tt >= w0)
                    events.append((w0, 'RUNNABLE-NOT-RUNNING', nxt['next_comm'], np_, dur, dict(who.most_common(5))))
            ran_during[np_] = []
        else:
            for p in waiting:
                ran_during[p].append((nxt['next_comm'], t))
    elif ev in ('irq_handler_entry', 'softirq_entry'):
        irq_open[ev] = (t, rest)
    elif ev in ('irq_handler_exit', 'softirq_exit'):
        k = 'irq_handler_entry' if ev == 'irq_handler_exit' else 'softirq_entry'
        if k in irq_open:
            t0, what = irq_open.pop(k)
            longest_irq.append(((t - t0) * 1e6, t0, what))
print(f'trace: {first} .. {last} ({(last - first):.1f} s), server pids {sorted(srv)}')
print(f'events over {thresh:.0f} us: {len(events)}')
for e in sorted(events):
    print(f'  t={e[0]:.6f} {e[1]:22s} {e[2]}-{e[3]} {e[4]:.0f} us {e[5]}')
longest_irq.sort(reverse=True)
print(f'longest irq/softirq handlers on CPU {CPU}:')
for d, t0, what in longest_irq[:15]:
    print(f'  {d:.0f} us at {t0:.6f}: {what}')
