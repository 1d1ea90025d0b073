// Go peer of weft's GC case (issue 13 C; docs/gc-case.md): Discord's
// "Read States" service. Users 1..N (default 10M) each hold a read state
// (channel, last message acked, mention count, updated at) in memory;
// GET /state/{user} answers it as JSON, POST/PUT /state/{user} with
// {"channel_id":C,"message_id":M} acks a message. Same routes, JSON,
// initial values and errors as apps/readstates (weft) and gc-rust.
//
// net/http and encoding/json, the garbage collector at its defaults (GOGC
// and GOMEMLIMIT as the environment leaves them: the run script leaves
// them unset). The store is 64 shards of map[uint64]readState behind a
// sync.RWMutex — entries by value, so the maps hold no pointers and the
// collector need not scan them, as a Go expert would write it. -ptr stores
// *readState instead (what a cache of objects, like the LRU Discord's
// service kept, looks like to the collector: 10M pointers to trace).
//
//	gc-go [-port 18701] [-users 10000000] [-ptr]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

type readState struct {
	Channel     uint64
	LastMessage uint64
	UpdatedMs   int64
	Mentions    uint32
}

type out struct {
	UserID        uint64 `json:"user_id"`
	ChannelID     uint64 `json:"channel_id"`
	LastMessageID uint64 `json:"last_message_id"`
	MentionCount  uint32 `json:"mention_count"`
	UpdatedAt     int64  `json:"updated_at"`
}

type ack struct {
	ChannelID *uint64 `json:"channel_id"`
	MessageID *uint64 `json:"message_id"`
}

const shards = 64

type shard struct {
	mu  sync.RWMutex
	val map[uint64]readState
	ptr map[uint64]*readState
}

type store struct {
	sh      [shards]shard
	pointer bool
}

func shardOf(u uint64) int { return int((u * 0x9E3779B97F4A7C15) >> 58) }

// initial is the same deterministic start as apps/readstates and gc-rust.
func initial(u uint64) readState {
	return readState{
		Channel:     1000 + (u*2654435761)%100000,
		LastMessage: 1000000000000000 + 7*u,
		Mentions:    uint32(u % 4),
		UpdatedMs:   1700000000000 + int64(u),
	}
}

func load(n uint64, pointer bool) *store {
	s := &store{pointer: pointer}
	per := int(n/shards) + 1
	for i := range s.sh {
		if pointer {
			s.sh[i].ptr = make(map[uint64]*readState, per)
		} else {
			s.sh[i].val = make(map[uint64]readState, per)
		}
	}
	for u := uint64(1); u <= n; u++ {
		sh := &s.sh[shardOf(u)]
		st := initial(u)
		if pointer {
			sh.ptr[u] = &st
		} else {
			sh.val[u] = st
		}
	}
	return s
}

func (s *store) get(u uint64) (readState, bool) {
	sh := &s.sh[shardOf(u)]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if s.pointer {
		p, ok := sh.ptr[u]
		if !ok {
			return readState{}, false
		}
		return *p, true
	}
	st, ok := sh.val[u]
	return st, ok
}

func (s *store) ack(u, channel, message uint64, now int64) (readState, bool) {
	sh := &s.sh[shardOf(u)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var st readState
	if s.pointer {
		p, ok := sh.ptr[u]
		if !ok {
			return st, false
		}
		p.Channel, p.LastMessage, p.Mentions, p.UpdatedMs = channel, message, 0, now
		return *p, true
	}
	st, ok := sh.val[u]
	if !ok {
		return st, false
	}
	st.Channel, st.LastMessage, st.Mentions, st.UpdatedMs = channel, message, 0, now
	sh.val[u] = st
	return st, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// parseUser: 1..2^63-1 in decimal, no sign, no leading zero (as weft's).
func parseUser(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil || u > 1<<63-1 {
		return 0, false
	}
	return u, true
}

func send(w http.ResponseWriter, u uint64, st readState) {
	writeJSON(w, 200, out{u, st.Channel, st.LastMessage, st.Mentions, st.UpdatedMs})
}

func main() {
	port := flag.Int("port", 18701, "TCP port on 127.0.0.1")
	users := flag.Uint64("users", 10000000, "users to load")
	pointer := flag.Bool("ptr", false, "store *readState (pointers for the collector to trace)")
	flag.Parse()
	t0 := time.Now()
	s := load(*users, *pointer)
	loadS := time.Since(t0).Seconds()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /state/{user}", func(w http.ResponseWriter, r *http.Request) {
		u, ok := parseUser(r.PathValue("user"))
		if !ok {
			fail(w, 400, "user is not a positive integer")
			return
		}
		st, ok := s.get(u)
		if !ok {
			fail(w, 404, "no such user")
			return
		}
		send(w, u, st)
	})
	ackH := func(w http.ResponseWriter, r *http.Request) {
		u, ok := parseUser(r.PathValue("user"))
		if !ok {
			fail(w, 400, "user is not a positive integer")
			return
		}
		var a ack
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&a); err != nil {
			fail(w, 400, "body: "+err.Error())
			return
		}
		if a.ChannelID == nil || a.MessageID == nil {
			fail(w, 400, "channel_id or message_id is missing")
			return
		}
		st, ok := s.ack(u, *a.ChannelID, *a.MessageID, time.Now().UnixMilli())
		if !ok {
			fail(w, 404, "no such user")
			return
		}
		send(w, u, st)
	}
	mux.HandleFunc("POST /state/{user}", ackH)
	mux.HandleFunc("PUT /state/{user}", ackH)

	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintf(os.Stderr, "gc-go: cannot listen on 127.0.0.1:%d: %v\n", *port, err)
		os.Exit(1)
	}
	kind := "entries by value"
	if *pointer {
		kind = "entries by pointer"
	}
	fmt.Fprintf(os.Stderr, "gc-go: %d users loaded in %.2f s; listening on http://127.0.0.1:%d (net/http, %s, GOGC=%q GOMEMLIMIT=%q)\n",
		*users, loadS, *port, kind, os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"))
	log.Fatal(http.Serve(ln, mux))
}
