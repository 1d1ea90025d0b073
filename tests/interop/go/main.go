// tests/interop/go — weft's WebSocket server against a Go client we did not
// write (github.com/coder/websocket).
//
//	go run . PORT
//
// PORT: a running build/examples/ws_echo. Against /echo, with
// permessage-deflate negotiated: text, empty text, UTF-8, 70 KB binary, 100 KB
// compressible text, ping/pong, close 1000; against /chat: two clients, one
// room. Ends with "ws_go: N passed, N failed".
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"
)

var passed, failed int

func result(name string, ok bool, why string) {
	if ok {
		passed++
		fmt.Printf("  ok   %s\n", name)
	} else {
		failed++
		fmt.Printf("  FAIL %s: %s\n", name, why)
	}
}

func echo(ctx context.Context, base string) {
	c, resp, err := websocket.Dial(ctx, base+"/echo", &websocket.DialOptions{
		CompressionMode: websocket.CompressionContextTakeover,
	})
	if err != nil {
		result("go client: dial /echo", false, err.Error())
		return
	}
	c.SetReadLimit(1 << 21)
	ext := resp.Header.Get("Sec-WebSocket-Extensions")
	result("go client: permessage-deflate negotiated", strings.Contains(ext, "permessage-deflate"), ext)
	big := make([]byte, 70000)
	rand.Read(big)
	cases := []struct {
		name string
		typ  websocket.MessageType
		data []byte
	}{
		{"text", websocket.MessageText, []byte("hello")},
		{"empty text", websocket.MessageText, []byte{}},
		{"utf-8 text", websocket.MessageText, []byte("κόσμε 😀")},
		{"binary 70 KB", websocket.MessageBinary, big},
		{"compressible text 100 KB", websocket.MessageText, []byte(strings.Repeat("compress me ", 8334))},
	}
	for _, k := range cases {
		if err := c.Write(ctx, k.typ, k.data); err != nil {
			result("go client: echo "+k.name, false, err.Error())
			continue
		}
		typ, got, err := c.Read(ctx)
		ok := err == nil && typ == k.typ && bytes.Equal(got, k.data)
		why := fmt.Sprintf("err %v, %d bytes vs %d", err, len(got), len(k.data))
		result("go client: echo "+k.name, ok, why)
	}
	// a ping needs a reader running to see the pong
	readErr := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	go func() { _, _, err := c.Read(rctx); readErr <- err }()
	err = c.Ping(ctx)
	result("go client: ping answered", err == nil, fmt.Sprint(err))
	cancel()
	<-readErr
	c2, _, err := websocket.Dial(ctx, base+"/echo", nil)
	if err != nil {
		result("go client: second dial", false, err.Error())
		return
	}
	err = c2.Close(websocket.StatusNormalClosure, "bye")
	result("go client: clean close", err == nil, fmt.Sprint(err))
}

// readUntil reads c until the message want, skipping the room's others:
// want, or the last message seen and the error that ended the wait.
func readUntil(ctx context.Context, c *websocket.Conn, want string) (string, error) {
	last := ""
	for {
		_, got, err := c.Read(ctx)
		if err != nil {
			return last, err
		}
		last = string(got)
		if last == want {
			return last, nil
		}
	}
}

func chat(ctx context.Context, base string) {
	a, _, err1 := websocket.Dial(ctx, base+"/chat", nil)
	b, _, err2 := websocket.Dial(ctx, base+"/chat", nil)
	if err1 != nil || err2 != nil {
		result("go clients: chat room", false, fmt.Sprint(err1, err2))
		return
	}
	// b is in the room once its own message comes back: the server
	// subscribes a connection after the 101, before it reads from it (a
	// 200 ms sleep stood here, short on a loaded machine); a's message is
	// read by a's own server task after it subscribed
	b.Write(ctx, websocket.MessageText, []byte("b here"))
	jb, ej := readUntil(ctx, b, "b here")
	a.Write(ctx, websocket.MessageText, []byte("hi from a"))
	ga, ea := readUntil(ctx, a, "hi from a")
	gb, eb := readUntil(ctx, b, "hi from a")
	result("go clients: chat room", ej == nil && ea == nil && eb == nil && ga == "hi from a" && gb == "hi from a",
		fmt.Sprintf("%q %q %q %v %v %v", jb, ga, gb, ej, ea, eb))
	a.Close(websocket.StatusNormalClosure, "")
	b.Close(websocket.StatusNormalClosure, "")
}

func main() {
	if len(os.Args) != 2 {
		fmt.Println("usage: ws_go PORT")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := "ws://127.0.0.1:" + os.Args[1]
	echo(ctx, base)
	chat(ctx, base)
	fmt.Printf("ws_go: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
