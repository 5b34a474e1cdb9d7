// Command sio-client is a Socket.IO client on the command line: it joins a
// namespace of a server (Node's socket.io, python-socketio, chanio's sio),
// emits each line of standard input as an event, and prints each event it
// receives on its own line, as its name and the JSON array of its
// arguments (binary arguments as base64 strings).
//
//	go run ./examples/sio-client -url http://127.0.0.1:3000/chat -auth '{"token":"abc"}'
//
// The URL's path is the namespace ("/" when it has none). A line of input
// is emitted as the event named by -event, with the line as its one string
// argument; with -json a line is a JSON array, the event's name and then
// its arguments: ["chat", "hello", {"n": 1}]. With -ack every emit asks
// for an acknowledgement, printed as "ack" and its arguments when it comes.
//
// The client reconnects when the connection drops (unless -no-reconnect),
// reporting on standard error. At the end of standard input it leaves the
// namespace (after -wait, if set, for the last answers) and exits 0; it
// also exits 0 when the server disconnects it. A refused namespace, a
// reconnection given up, or an interrupt exit 1.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/examples/internal/cli"
	"github.com/chanio/chanio/sio"
	"github.com/chanio/chanio/sio/wire"
)

func main() {
	os.Exit(run())
}

func run() int {
	rawURL := flag.String("url", "http://127.0.0.1:3000/", "server URL (http, https, ws or wss); its path is the namespace")
	auth := flag.String("auth", "", "auth payload of the CONNECT packet, a JSON object")
	mode := flag.String("transport", "upgrade", cli.TransportModes)
	path := flag.String("path", "", "Engine.IO path on the server (default /socket.io/)")
	event := flag.String("event", "message", "the event a line of input is emitted as (without -json)")
	asJSON := flag.Bool("json", false, "each line is a JSON array: the event name, then its arguments")
	ack := flag.Bool("ack", false, "ask for an acknowledgement of every emit and print it")
	wait := flag.Duration("wait", 0, "at the end of input, keep printing what arrives this long before leaving")
	noReconnect := flag.Bool("no-reconnect", false, "end when the connection drops instead of reconnecting")
	verbose := flag.Bool("v", false, "log debug messages to standard error")
	flag.Parse()

	transports, err := cli.Transports(*mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sio-client:", err)
		return 2
	}
	opts := &sio.ClientOptions{
		EngineIO:       &eio.ClientOptions{Path: *path, Transports: transports},
		NoReconnection: *noReconnect,
	}
	if *auth != "" {
		opts.Auth = json.RawMessage(*auth)
		if !json.Valid(opts.Auth.(json.RawMessage)) {
			fmt.Fprintln(os.Stderr, "sio-client: -auth is not JSON")
			return 2
		}
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	connectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := sio.Connect(connectCtx, *rawURL, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sio-client:", err)
		return 1
	}

	// Standard input is read on a goroutine of its own: a read from it
	// cannot be interrupted, and the process exit ends it. Acks are waited
	// for on goroutines that end with the client.
	lines := make(chan string)
	go cli.ReadLines(os.Stdin, lines)
	acks := make(chan string, 64)
	var waiting sync.WaitGroup // the acks waited for

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				if code, end := linger(c, acks, out, *wait); end {
					return code
				}
				return leave(c, acks, &waiting, out, 0)
			}
			name, args, err := parseLine(line, *event, *asJSON)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sio-client:", err)
				continue
			}
			if *ack {
				waiting.Add(1)
				go func() {
					defer waiting.Done()
					a, err := c.EmitWithAck(context.Background(), name, args...)
					if err != nil {
						acks <- "ack error: " + err.Error()
						return
					}
					acks <- "ack " + format(a)
				}()
			} else if err := c.Emit(name, args...); err != nil {
				fmt.Fprintln(os.Stderr, "sio-client: emit:", err)
			}
		case a := <-acks:
			fmt.Fprintln(out, a)
			_ = out.Flush()
		case ev, ok := <-c.Events():
			if !ok {
				return exitCode(c)
			}
			handle(ev, out)
			if len(c.Events()) == 0 {
				_ = out.Flush()
			}
		case <-ctx.Done():
			return leave(c, acks, &waiting, out, 1)
		}
	}
}

// parseLine turns a line of input into an event.
func parseLine(line, event string, asJSON bool) (string, []any, error) {
	if !asJSON {
		return event, []any{line}, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(line), &arr); err != nil || len(arr) == 0 {
		return "", nil, fmt.Errorf("want a JSON array [name, args...]: %q", line)
	}
	var name string
	if err := json.Unmarshal(arr[0], &name); err != nil {
		return "", nil, fmt.Errorf("the event name is not a string: %s", arr[0])
	}
	args := make([]any, len(arr)-1)
	for i, a := range arr[1:] {
		args[i] = a
	}
	return name, args, nil
}

// handle prints one event: the server's on standard output, the rest on
// standard error.
func handle(ev sio.ClientEvent, out *bufio.Writer) {
	switch ev.Type {
	case sio.ClientMessage:
		fmt.Fprintf(out, "%s %s\n", ev.Name, format(ev.Args))
	case sio.ClientConnect:
		fmt.Fprintf(os.Stderr, "sio-client: connected, sid %s (recovered %v)\n", ev.SID, ev.Recovered)
	case sio.ClientDisconnect:
		fmt.Fprintf(os.Stderr, "sio-client: disconnected: %s\n", ev.Reason)
	case sio.ClientReconnectAttempt:
		fmt.Fprintf(os.Stderr, "sio-client: reconnecting, attempt %d after %v\n", ev.Attempt, ev.Delay)
	case sio.ClientReconnectError:
		fmt.Fprintf(os.Stderr, "sio-client: attempt %d failed: %v\n", ev.Attempt, ev.Err)
	case sio.ClientReconnect:
		fmt.Fprintf(os.Stderr, "sio-client: reconnected after %d attempts\n", ev.Attempt)
	case sio.ClientConnectError, sio.ClientReconnectFailed:
		fmt.Fprintf(os.Stderr, "sio-client: %s: %v\n", ev.Type, ev.Err)
	}
}

// format writes arguments as one JSON array, binary ones as base64.
func format(a wire.Args) string {
	vs, err := a.Values()
	if err != nil {
		return string(a.JSON())
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return string(a.JSON())
	}
	return string(b)
}

// linger prints what arrives for d; end says the client ended meanwhile,
// with the exit code.
func linger(c *sio.Client, acks <-chan string, out *bufio.Writer, d time.Duration) (code int, end bool) {
	if d <= 0 {
		return 0, false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case a := <-acks:
			fmt.Fprintln(out, a)
		case ev, ok := <-c.Events():
			if !ok {
				return exitCode(c), true
			}
			handle(ev, out)
		case <-timer.C:
			return 0, false
		}
	}
}

// leave leaves the namespace, prints what is left of the events and the
// acks (which end with the client), and returns code.
func leave(c *sio.Client, acks chan string, waiting *sync.WaitGroup, out *bufio.Writer, code int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Close waits for room in Events: read them meanwhile.
	closed := make(chan error, 1)
	go func() { closed <- c.Close(ctx) }()
	events := c.Events()
	for events != nil {
		select {
		case a := <-acks:
			fmt.Fprintln(out, a)
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			handle(ev, out)
		}
	}
	go func() {
		waiting.Wait()
		close(acks)
	}()
	for a := range acks {
		fmt.Fprintln(out, a)
	}
	if err := <-closed; err != nil {
		fmt.Fprintln(os.Stderr, "sio-client: close:", err)
		return 1
	}
	return code
}

// exitCode says how a client that ended by itself exits: 0 when the
// server disconnected it, 1 otherwise.
func exitCode(c *sio.Client) int {
	if errors.Is(c.Err(), sio.ErrClientClosed) {
		return 0
	}
	fmt.Fprintln(os.Stderr, "sio-client:", c.Err())
	return 1
}
