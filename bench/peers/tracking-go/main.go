// Go peer of the arena's tracking hot path (bench/run-tracking.sh, issue 13
// part D): the same minimal service as apps/tracking (weft) and
// bench/peers/tracking-rust.
//
//   - GET /?id=..&lat=..&lon=..&timestamp=..&speed=.. (OsmAnd, what fleet-sim
//     sends; other parameters ignored): the device's latest position replaced
//     in memory, 200 with an empty body; 400 when id, lat or lon is missing
//     or not a number.
//   - GET /socket (WebSocket, github.com/coder/websocket): first every
//     device's latest position, then at every tick (TICK_MS, 250 by default)
//     the devices that reported since the last one, each once with its latest
//     fix: {"positions":[{"id":"sim-0001","fixTime":<Unix ms>,"lat":..,"lon":..,"speed":..}]}.
//
// The fan-out is coder/websocket's own chat example's pattern: a subscriber
// set under a mutex, each subscriber a buffered channel of messages and a
// goroutine writing them; the ticker encodes once (encoding/json) and offers
// the same []byte to every channel without blocking; a subscriber whose
// buffer (64 messages) is full is closed as too slow (StatusPolicyViolation),
// as weft fleet closes a socket whose queue is full (1008).
//
// net/http, default settings; the arena runs it with GOMAXPROCS=1 on one CPU.
// Listens on 127.0.0.1:PORT (argv[1] or $PORT, 0 = any) and prints
// "listening on 127.0.0.1:<port>".
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

type pos struct {
	ID      string  `json:"id"`
	FixTime int64   `json:"fixTime"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Speed   float64 `json:"speed"`
}

type update struct {
	Positions []*pos `json:"positions"`
}

type subscriber struct {
	msgs      chan []byte
	closeSlow func()
}

type server struct {
	mu      sync.Mutex
	latest  map[string]*pos
	changed []string
	pending map[string]bool

	subMu sync.Mutex
	subs  map[*subscriber]struct{}
}

func (s *server) ingest(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("id")
	lat, err1 := strconv.ParseFloat(q.Get("lat"), 64)
	lon, err2 := strconv.ParseFloat(q.Get("lon"), 64)
	if id == "" || err1 != nil || err2 != nil {
		http.Error(w, "id, lat and lon are required", http.StatusBadRequest)
		return
	}
	t, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	if err != nil {
		t = time.Now().UnixMilli()
	} else if t < 100_000_000_000 {
		t *= 1000 // seconds
	}
	speed, _ := strconv.ParseFloat(q.Get("speed"), 64)
	p := &pos{ID: id, FixTime: t, Lat: lat, Lon: lon, Speed: speed}
	s.mu.Lock()
	if !s.pending[id] {
		s.pending[id] = true
		s.changed = append(s.changed, id)
	}
	s.latest[id] = p
	s.mu.Unlock()
}

func (s *server) encode(ids []string) []byte {
	u := update{Positions: make([]*pos, 0, len(ids))}
	for _, id := range ids {
		if p := s.latest[id]; p != nil {
			u.Positions = append(u.Positions, p)
		}
	}
	b, _ := json.Marshal(u)
	return b
}

func (s *server) socket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(64 * 1024)
	sub := &subscriber{msgs: make(chan []byte, 64), closeSlow: func() {
		c.Close(websocket.StatusPolicyViolation, "connection too slow to keep up with messages")
	}}
	s.subMu.Lock()
	s.subs[sub] = struct{}{} // before the snapshot: nothing falls in between
	s.subMu.Unlock()
	defer func() {
		s.subMu.Lock()
		delete(s.subs, sub)
		s.subMu.Unlock()
	}()
	s.mu.Lock()
	ids := make([]string, 0, len(s.latest))
	for id := range s.latest {
		ids = append(ids, id)
	}
	snap := s.encode(ids)
	s.mu.Unlock()
	ctx := c.CloseRead(r.Context()) // clients send nothing we act on
	if err := write(ctx, c, snap); err != nil {
		return
	}
	for {
		select {
		case m := <-sub.msgs:
			if err := write(ctx, c, m); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func write(ctx context.Context, c *websocket.Conn, m []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, m)
}

func (s *server) ticker(tick time.Duration) {
	for range time.Tick(tick) {
		s.mu.Lock()
		if len(s.changed) == 0 {
			s.mu.Unlock()
			continue
		}
		ids := s.changed
		s.changed = nil
		clear(s.pending)
		m := s.encode(ids)
		s.mu.Unlock()
		s.subMu.Lock()
		for sub := range s.subs {
			select {
			case sub.msgs <- m:
			default:
				go sub.closeSlow()
			}
		}
		s.subMu.Unlock()
	}
}

func main() {
	port := os.Getenv("PORT")
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	if port == "" {
		port = "0"
	}
	tick := 250
	if t, err := strconv.Atoi(os.Getenv("TICK_MS")); err == nil && t > 0 {
		tick = t
	}
	s := &server{latest: map[string]*pos{}, pending: map[string]bool{}, subs: map[*subscriber]struct{}{}}
	go s.ticker(time.Duration(tick) * time.Millisecond)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.ingest)
	mux.HandleFunc("GET /socket", s.socket)
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on 127.0.0.1:%d\n", ln.Addr().(*net.TCPAddr).Port)
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
