// Go peer of weft's WebSocket benchmark (bench/run-ws.sh): gorilla/websocket
// on net/http, run with GOMAXPROCS=1 for "one core".
//
//	/echo  every message comes back (ReadMessage / WriteMessage, as gorilla's
//	       echo example)
//	/sub   a subscriber of the fan-out; /pub  a publisher: each message it
//	       sends goes to every subscriber
//	/idle  a connection that is only read (for memory per idle connection)
//
// The fan-out is gorilla's chat example: one hub goroutine owns the set of
// clients and hands each message to every client's buffered send channel; a
// writePump goroutine per client writes them. A client whose channel is full
// is dropped, as in the example. The message is a websocket.PreparedMessage,
// gorilla's API for broadcast (the frame is encoded once and shared by every
// connection). Compression is off (gorilla's default). The upgrader uses the
// chat example's 1 KiB buffers and a write buffer pool, which gorilla
// documents for many connections with a modest volume of writes each.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	WriteBufferPool: &sync.Pool{},
}

type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage
}

type hub struct {
	clients    map[*client]bool
	broadcast  chan *websocket.PreparedMessage
	register   chan *client
	unregister chan *client
}

func (h *hub) run() {
	for {
		select {
		case c := <-h.register:
			h.clients[c] = true
		case c := <-h.unregister:
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.send)
			}
		case m := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- m:
				default: // a slow client is dropped, as in gorilla's chat example
					close(c.send)
					delete(h.clients, c)
				}
			}
		}
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		op, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(op, msg); err != nil {
			return
		}
	}
}

func idle(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	discardReads(conn)
}

// discardReads reads (and so answers pings and notices the close) until the
// connection fails.
func discardReads(conn *websocket.Conn) {
	for {
		if _, _, err := conn.NextReader(); err != nil {
			return
		}
	}
}

func (h *hub) sub(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, 256)}
	h.register <- c
	go func() { // writePump
		defer conn.Close()
		for m := range c.send {
			if err := conn.WritePreparedMessage(m); err != nil {
				return
			}
		}
		conn.WriteMessage(websocket.CloseMessage, []byte{})
	}()
	go func() { // readPump
		defer func() { h.unregister <- c; conn.Close() }()
		discardReads(conn)
	}()
}

func (h *hub) pub(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		op, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		pm, err := websocket.NewPreparedMessage(op, msg)
		if err != nil {
			return
		}
		h.broadcast <- pm
	}
}

func main() {
	port := flag.Int("port", 18201, "port on 127.0.0.1")
	flag.Parse()
	h := &hub{
		clients:    map[*client]bool{},
		broadcast:  make(chan *websocket.PreparedMessage),
		register:   make(chan *client),
		unregister: make(chan *client),
	}
	go h.run()
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/idle", idle)
	mux.HandleFunc("/sub", h.sub)
	mux.HandleFunc("/pub", h.pub)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "ws-go:", err)
		os.Exit(1)
	}
	fmt.Printf("ws-go listening on %s\n", ln.Addr())
	if err := http.Serve(ln, mux); err != nil {
		fmt.Fprintln(os.Stderr, "ws-go:", err)
		os.Exit(1)
	}
}
