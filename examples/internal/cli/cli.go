// Package cli is what the command-line examples (examples/client and
// examples/sio-client) share: the modes of their -transport flag and
// reading standard input by line.
package cli

import (
	"bufio"
	"fmt"
	"io"

	"github.com/chanio/chanio/eio"
)

// TransportModes lists the values of a -transport flag.
const TransportModes = "polling, websocket, or upgrade (polling, then WebSocket)"

// Transports returns the eio.ClientOptions.Transports of a -transport
// value: "polling", "websocket" or "upgrade" (nil, eio's default).
func Transports(mode string) ([]string, error) {
	switch mode {
	case "polling":
		return []string{eio.TransportPolling}, nil
	case "websocket":
		return []string{eio.TransportWebSocket}, nil
	case "upgrade":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown -transport %q (want polling, websocket or upgrade)", mode)
}

// ReadLines sends each line of r (up to 16 MiB long) on lines, and closes
// lines at the end of r. Run it on a goroutine of its own: a read from
// standard input cannot be interrupted, and the process's exit ends it.
func ReadLines(r io.Reader, lines chan<- string) {
	defer close(lines)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		lines <- sc.Text()
	}
}
