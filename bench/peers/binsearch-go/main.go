// Command binsearch is the Go peer of bench/micro/binsearch.c: the same
// array (10,000,000 sorted uint64, a[i] = 2*i+1), the same 1,000,000
// splitmix64 keys, the same 5 timed passes and the same output lines. The
// search is the standard library's slices.BinarySearch, as a Go programmer
// would write it.
package main

import (
	"fmt"
	"slices"
	"time"
)

const (
	n      = 10_000_000
	q      = 1_000_000
	passes = 5
)

func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func main() {
	a := make([]uint64, n)
	for i := range a {
		a[i] = 2*uint64(i) + 1
	}
	keys := make([]uint64, q)
	seed := uint64(42)
	for i := range keys {
		keys[i] = splitmix64(&seed) % (2*n + 2)
	}

	ns := make([]float64, passes)
	var found, sum uint64
	for p := range ns {
		var f, s uint64
		t0 := time.Now()
		for _, k := range keys {
			if at, ok := slices.BinarySearch(a, k); ok {
				f++
				s += uint64(at)
			}
		}
		ns[p] = float64(time.Since(t0).Nanoseconds()) / q
		found, sum = f, s
	}
	slices.Sort(ns)
	fmt.Printf("RESULT lookup_ns %.3f ns\n", ns[passes/2])
	fmt.Printf("RESULT lookup_ns_min %.3f ns\n", ns[0])
	fmt.Printf("RESULT lookup_ns_max %.3f ns\n", ns[passes-1])
	fmt.Printf("RESULT found %d count\n", found)
	fmt.Printf("RESULT checksum %d sum\n", sum)
}
