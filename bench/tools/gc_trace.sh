#!/bin/bash
# bench/tools/gc_trace.sh — ftrace (sched_switch/wakeup, irq, softirq) of CPUMASK (1: the server's CPU 0; 3: both)
# during one weft GC run at SCHED_FIFO (bench/run-gc.sh), then the text dump in TRACE_DIR. Root and tracefs needed.
#   CPUMASK=3 DUR=120 TRACE_DIR=/tmp/gctrace bash bench/tools/gc_trace.sh
# (BUF_KB per CPU, 300000; EVENTS, the sched and irq ones; the environment reaches run-gc.sh: GEN_FIFO=50 ...)
#   python3 bench/tools/ftrace_waits.py /tmp/gctrace/trace-120.txt readstates 500 000   (the server on CPU 0)
#   python3 bench/tools/ftrace_waits.py /tmp/gctrace/trace-120.txt gcload 500 001       (the generator on CPU 1)
set -u
T=/sys/kernel/tracing
DUR=${DUR:-120}
mountpoint -q $T || mount -t tracefs nodev $T
echo 0 > $T/tracing_on
echo > $T/trace
echo ${CPUMASK:-1} > $T/tracing_cpumask
echo ${BUF_KB:-300000} > $T/buffer_size_kb
echo nop > $T/current_tracer
EVENTS=${EVENTS:-sched/sched_switch sched/sched_wakeup irq/irq_handler_entry irq/irq_handler_exit irq/softirq_entry irq/softirq_exit}
for e in $EVENTS; do echo 1 > $T/events/$e/enable; done
D=${TRACE_DIR:-/tmp/gctrace}; mkdir -p "$D"
cd "$(dirname "$0")/../.."
echo 1 > $T/tracing_on
PROGS=weft ROUNDS=1 DURATION=$DUR RATE=8000 SERVER_FIFO=50 OUT=$D/gc-trace-$DUR bash bench/run-gc.sh > $D/run.log 2>&1
echo 0 > $T/tracing_on
lost="CPU 0: $(awk '/^overrun/ {print $2}' $T/per_cpu/cpu0/stats), CPU 1: $(awk '/^overrun/ {print $2}' $T/per_cpu/cpu1/stats)"
cat $T/trace > $D/trace-$DUR.txt
for e in $EVENTS; do echo 0 > $T/events/$e/enable; done
echo > $T/trace
echo 1408 > $T/buffer_size_kb
echo 3 > $T/tracing_cpumask
echo "$(date) done; $(wc -l < $D/trace-$DUR.txt) lines; events lost (overrun) $lost"
