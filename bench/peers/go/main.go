// weft-bench-go: the Go peer of bench/micro/rt.c. Same seven benchmarks, same
// sizes, same RESULT lines (see bench/run-rt.sh). Standard library only.
//
// Usage: gobench [name], name one of switch_ns, spawn_ns, pingpong_ns,
// chan_msgs_per_s, park1m, wake_ns, wake_block (default: all, in that order).
//
// Worker counts mirror the weft program: GOMAXPROCS(1) where weft runs 1
// worker, GOMAXPROCS(2) (the default on the 2-core bench machine, set
// explicitly so a bigger machine pinned with taskset matches) elsewhere.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	switchN   = 10_000_000 // total yields (both goroutines together)
	spawnN    = 1_000_000
	spawnB    = 1000
	pingN     = 1_000_000
	chanN     = 10_000_000
	chanCap   = 1024
	parkN     = 1_000_000
	wakeN     = 10_000
	wakePark  = 20_000    // ns the sender waits so the receiver is parked
	wakeCap   = 2_000_000 // ns after which the sender yields (see benchWake)
	multiProc = 2
)

func result(name string, v float64, unit string) {
	fmt.Printf("RESULT %s %.6g %s\n", name, v, unit)
}

// cpuNow: the process's CPU time (user + system, every thread) in ns, from
// getrusage(RUSAGE_SELF) like bench/micro/rt.c's cpu_now_ns. The *_cpu_ns
// results divide it by the operations, so "x Go" can use CPU time, which a
// machine shared with other work disturbs less than the wall clock.
func cpuNow() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "getrusage:", err)
		os.Exit(1)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// 1. Two goroutines calling runtime.Gosched() in a loop on one P.
func benchSwitch() {
	var wg sync.WaitGroup
	per := switchN / 2
	wg.Add(2)
	t0, c0 := time.Now(), cpuNow()
	for i := 0; i < 2; i++ {
		go func() {
			for j := 0; j < per; j++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el, cel := time.Since(t0), cpuNow()-c0
	result("switch_ns", float64(el.Nanoseconds())/float64(switchN), "ns")
	result("switch_cpu_ns", float64(cel)/float64(switchN), "ns")
}

// 2. Spawn+exit of trivial goroutines in batches of 1000, one P.
func benchSpawn() {
	var wg sync.WaitGroup
	t0, c0 := time.Now(), cpuNow()
	for b := 0; b < spawnN/spawnB; b++ {
		wg.Add(spawnB)
		for i := 0; i < spawnB; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	el, cel := time.Since(t0), cpuNow()-c0
	result("spawn_ns", float64(el.Nanoseconds())/float64(spawnN), "ns")
	result("spawn_cpu_ns", float64(cel)/float64(spawnN), "ns")
}

// 3. Unbuffered channel round trip, one P.
func benchPingPong() {
	ping := make(chan int)
	pong := make(chan int)
	done := make(chan struct{})
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(done)
	}()
	t0, c0 := time.Now(), cpuNow()
	for i := 0; i < pingN; i++ {
		ping <- i
		if r := <-pong; r != i+1 {
			fmt.Fprintln(os.Stderr, "pingpong: bad value")
			os.Exit(1)
		}
	}
	el, cel := time.Since(t0), cpuNow()-c0
	close(ping)
	<-done
	result("pingpong_ns", float64(el.Nanoseconds())/float64(pingN), "ns")
	result("pingpong_cpu_ns", float64(cel)/float64(pingN), "ns")
}

// 4. Buffered (cap 1024) channel of int64, one producer, one consumer, 2 Ps.
func benchChan() {
	ch := make(chan int64, chanCap)
	var sum int64
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		for i := int64(0); i < chanN; i++ {
			ch <- i
		}
		close(ch)
	}()
	go func() {
		var s int64
		for v := range ch {
			s += v
		}
		sum = s
		close(done)
	}()
	<-done
	el := time.Since(t0)
	if sum != int64(chanN)*(chanN-1)/2 {
		fmt.Fprintln(os.Stderr, "chan: bad sum")
		os.Exit(1)
	}
	result("chan_msgs_per_s", float64(chanN)/el.Seconds(), "msgs/s")
}

// RSS from /proc/self/statm (resident pages * page size); runtime.ReadMemStats
// is not RSS.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

// 5. 1M goroutines parked on one shared WaitGroup: time from the first spawn
// until every goroutine has started (and is about to block), then RSS growth
// per goroutine; then release them all and wait for them to end.
func benchPark() {
	runtime.GC()
	var release, exited sync.WaitGroup
	var started atomic.Int64
	release.Add(1)
	exited.Add(parkN)
	rss0 := rssBytes()
	t0, c0 := time.Now(), cpuNow()
	for i := 0; i < parkN; i++ {
		go func() {
			started.Add(1)
			release.Wait()
			exited.Done()
		}()
	}
	for started.Load() < parkN {
		runtime.Gosched()
	}
	el, cel := time.Since(t0), cpuNow()-c0
	time.Sleep(20 * time.Millisecond) // let the last ones actually park
	rss1 := rssBytes()
	t1 := time.Now()
	release.Done()
	exited.Wait()
	rel := time.Since(t1)
	result("park1m_spawn_ms", float64(el.Nanoseconds())/1e6, "ms")
	result("park1m_spawn_cpu_ms", float64(cel)/1e6, "ms")
	result("park1m_rss_per_task_bytes", float64(rss1-rss0)/float64(parkN), "B")
	fmt.Printf("# park1m: rss before %d B, after %d B; release+exit of all %.1f ms\n",
		rss0, rss1, float64(rel.Nanoseconds())/1e6)
}

// 6, 7. Cross-worker wake-up latency, 2 Ps. The receiver R is parked in a
// recv on an unbuffered channel; the sender S stamps t0 and sends it. Sample
// = R's clock on resume - t0. wake_ns: S then keeps its P busy (spinning)
// until R reports it ran, so R has to be resumed by the other (idle) P; if R
// has not run after 2 ms (the runtime left it queued behind the busy
// sender), S yields so the benchmark ends; such samples count as they are.
// wake_block: S then blocks in a recv of R's acknowledgement (a second
// unbuffered channel), freeing its P.
func runWake(block bool) {
	base := time.Now()
	now := func() int64 { return int64(time.Since(base)) }
	ch := make(chan int64)
	ack := make(chan struct{})
	var ready, got atomic.Int64
	samples := make([]int64, wakeN)
	done := make(chan struct{})
	go func() { // R
		for i := 0; i < wakeN; i++ {
			ready.Store(int64(i + 1))
			t0 := <-ch
			samples[i] = now() - t0
			got.Store(int64(i + 1))
			if block {
				ack <- struct{}{}
			}
		}
		close(done)
	}()
	go func() { // S
		for i := 0; i < wakeN; i++ {
			for ready.Load() != int64(i+1) {
				runtime.Gosched()
			}
			// R announced it is about to recv; give it time to park.
			for s := now(); now()-s < wakePark; {
			}
			ch <- now()
			if block {
				<-ack
				continue
			}
			s := now()
			for got.Load() != int64(i+1) {
				if now()-s > wakeCap {
					runtime.Gosched()
				}
			}
		}
	}()
	<-done
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	prefix := "wake"
	if block {
		prefix = "wake_block"
	}
	reportWake(prefix, samples, !block)
}

// reportWake: RESULT <prefix>_ns (the median of the sorted samples) and the
// share of samples under 10 us, 100 us and 1 ms (<prefix>_lt10us_pct ...): a
// distribution, never a figure divided by the cap.
func reportWake(prefix string, v []int64, spin bool) {
	n := len(v)
	result(prefix+"_ns", float64(v[n/2]), "ns")
	for _, l := range []struct {
		lim int64
		tag string
	}{{10_000, "10us"}, {100_000, "100us"}, {1_000_000, "1ms"}} {
		under := 0
		for _, x := range v {
			if x < l.lim {
				under++
			}
		}
		result(prefix+"_lt"+l.tag+"_pct", 100*float64(under)/float64(n), "%")
	}
	fmt.Printf("# %s: p10 %d p90 %d p99 %d max %d ns", prefix, v[n/10], v[n*9/10], v[n*99/100], v[n-1])
	if spin {
		capped := 0
		for _, x := range v {
			if x >= wakeCap {
				capped++
			}
		}
		fmt.Printf("; %d of %d samples at or past the %d ns point where the sender starts yielding", capped, n, wakeCap)
	}
	fmt.Println()
}

func benchWake()      { runWake(false) }
func benchWakeBlock() { runWake(true) }

var benches = []struct {
	name  string
	procs int // GOMAXPROCS, = weft's worker count for the benchmark
	fn    func()
}{
	{"switch_ns", 1, benchSwitch},
	{"spawn_ns", 1, benchSpawn},
	{"pingpong_ns", 1, benchPingPong},
	{"chan_msgs_per_s", multiProc, benchChan},
	{"park1m", multiProc, benchPark},
	{"wake_ns", multiProc, benchWake},
	{"wake_block", multiProc, benchWakeBlock},
}

func main() {
	filter := ""
	if len(os.Args) > 1 {
		filter = os.Args[1]
	}
	ran := false
	for _, b := range benches {
		if filter == "" || filter == b.name || strings.HasPrefix(filter, b.name+"_") {
			runtime.GOMAXPROCS(b.procs)
			fmt.Printf("# go: %s, GOMAXPROCS %d\n", runtime.Version(), b.procs)
			b.fn()
			ran = true
		}
	}
	if !ran {
		fmt.Fprintf(os.Stderr, "unknown benchmark %q\n", filter)
		os.Exit(2)
	}
}
