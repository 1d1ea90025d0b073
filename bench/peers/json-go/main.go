// weft-bench-json-go: the Go peer of bench/micro/json.c. Parses a JSON file
// with encoding/json into interface{} (json.Unmarshal) and encodes it back
// (json.Marshal), timed the same way as the weft program, with the same
// RESULT lines (see bench/run-json.sh). Standard library only.
//
// Usage: jsonbench FILE
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"
)

const (
	targetNs = 1.5e9
	minIters = 20
	maxIters = 2000
)

func result(name string, v float64, unit string) {
	fmt.Printf("RESULT %s %.6f %s\n", name, v, unit)
}

// measure: three warm-up runs estimate the cost, then N timed runs (N so the
// whole takes ~1.5 s, clamped to [20, 2000]); returns the median ns.
func measure(fn func() error) (float64, int, error) {
	t0 := time.Now()
	for i := 0; i < 3; i++ {
		if err := fn(); err != nil {
			return 0, 0, err
		}
	}
	est := float64(time.Since(t0).Nanoseconds()) / 3
	if est < 1 {
		est = 1
	}
	n := int(targetNs / est)
	if n < minIters {
		n = minIters
	}
	if n > maxIters {
		n = maxIters
	}
	t := make([]float64, n)
	for i := range t {
		a := time.Now()
		if err := fn(); err != nil {
			return 0, 0, err
		}
		t[i] = float64(time.Since(a).Nanoseconds())
	}
	sort.Float64s(t)
	med := t[n/2]
	if n%2 == 0 {
		med = (t[n/2-1] + t[n/2]) / 2
	}
	return med, n, nil
}

func countValues(v interface{}) int {
	n := 1
	switch x := v.(type) {
	case []interface{}:
		for _, e := range x {
			n += countValues(e)
		}
	case map[string]interface{}:
		for _, e := range x {
			n += countValues(e)
		}
	}
	return n
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: jsonbench FILE")
		os.Exit(2)
	}
	doc, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "json-go:", err)
		os.Exit(1)
	}
	var root interface{}
	parse := func() error {
		root = nil
		return json.Unmarshal(doc, &root)
	}
	if err := parse(); err != nil {
		fmt.Fprintln(os.Stderr, "json-go: parse:", err)
		os.Exit(1)
	}
	fmt.Printf("# go: %s: %d bytes, %d values\n", os.Args[1], len(doc), countValues(root))
	ns, n, err := measure(parse)
	if err != nil {
		fmt.Fprintln(os.Stderr, "json-go: parse:", err)
		os.Exit(1)
	}
	result("parse_ms", ns/1e6, "ms")
	result("parse_mbps", float64(len(doc))/(ns/1e9)/1e6, "MB/s")
	fmt.Printf("# go: parse: %d runs\n", n)
	var out []byte
	encode := func() error {
		var e error
		out, e = json.Marshal(root)
		return e
	}
	ns, n, err = measure(encode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "json-go: encode:", err)
		os.Exit(1)
	}
	result("encode_ms", ns/1e6, "ms")
	result("encode_mbps", float64(len(doc))/(ns/1e9)/1e6, "MB/s")
	fmt.Printf("# go: encode: %d runs; output %d bytes\n", n, len(out))
}
