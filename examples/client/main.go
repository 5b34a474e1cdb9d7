// Command client is an Engine.IO client on the command line: it sends each
// line of standard input as a text message and prints each message it
// receives on its own line (a binary message as "b:" and its base64).
//
//	go run ./examples/client -url http://127.0.0.1:3000 -transport upgrade
//
// At the end of standard input it closes the connection (after sending
// what was read, and after -wait, if set, for the last answers) and exits
// 0; it also exits 0 when the server closes the session. Any other end (a dropped connection, a ping timeout, a protocol
// error) or a failed connect exits 1.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/examples/internal/cli"
)

func main() {
	os.Exit(run())
}

func run() int {
	rawURL := flag.String("url", "http://127.0.0.1:3000", "server URL (http, https, ws or wss); its path, if any, is the Engine.IO path")
	mode := flag.String("transport", "upgrade", cli.TransportModes)
	path := flag.String("path", "", "Engine.IO path when the URL has none (default /engine.io/)")
	wait := flag.Duration("wait", 0, "at the end of input, keep printing received messages this long before closing")
	verbose := flag.Bool("v", false, "log debug messages to standard error")
	flag.Parse()

	transports, err := cli.Transports(*mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 2
	}
	opts := &eio.ClientOptions{Path: *path, Transports: transports}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := eio.Dial(dialCtx, *rawURL, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}

	// Standard input is read on a goroutine of its own: a read from it
	// cannot be interrupted, and the process exit ends it.
	lines := make(chan string)
	go cli.ReadLines(os.Stdin, lines)

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				lines = nil
				if code, end := linger(c, out, *wait); end {
					return code
				}
				closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := c.Close(closeCtx)
				cancel()
				if err != nil {
					fmt.Fprintln(os.Stderr, "client: close:", err)
					return drain(c, out, 1)
				}
				return drain(c, out, 0)
			}
			if err := c.Send([]byte(line)); err != nil {
				fmt.Fprintln(os.Stderr, "client: send:", err)
			}
		case ev, ok := <-c.Events():
			if !ok {
				return 1 // not reached: the disconnect comes first
			}
			if code, end := handle(ev, out); end {
				return code
			}
			if len(c.Events()) == 0 {
				_ = out.Flush()
			}
		case <-ctx.Done():
			closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.Close(closeCtx)
			cancel()
			return drain(c, out, 1)
		}
	}
}

// handle prints one event; for the disconnect it says how to exit.
func handle(ev eio.Event, out *bufio.Writer) (code int, end bool) {
	switch ev.Type {
	case eio.EventMessage:
		if ev.Binary {
			fmt.Fprintf(out, "b:%s\n", base64.StdEncoding.EncodeToString(ev.Data))
		} else {
			out.Write(ev.Data)
			out.WriteByte('\n')
		}
	case eio.EventDisconnect:
		_ = out.Flush()
		switch ev.Reason {
		case eio.ReasonClientDisconnect, eio.ReasonServerDisconnect:
			return 0, true
		}
		if ev.Err != nil {
			fmt.Fprintf(os.Stderr, "client: connection ended: %s: %v\n", ev.Reason, ev.Err)
		} else {
			fmt.Fprintf(os.Stderr, "client: connection ended: %s\n", ev.Reason)
		}
		return 1, true
	}
	return 0, false
}

// linger prints what arrives for d; end says the connection ended
// meanwhile, with the exit code.
func linger(c *eio.Client, out *bufio.Writer, d time.Duration) (code int, end bool) {
	if d <= 0 {
		return 0, false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev := <-c.Events():
			if code, end := handle(ev, out); end {
				return code, true
			}
		case <-timer.C:
			return 0, false
		}
	}
}

// drain prints what is left of the events after Close and returns code,
// or 1 if the connection did not end cleanly.
func drain(c *eio.Client, out *bufio.Writer, code int) int {
	for ev := range c.Events() {
		if got, end := handle(ev, out); end && got != 0 {
			code = got
		}
	}
	return code
}
