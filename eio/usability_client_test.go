package eio_test

import (
	"errors"
	"testing"

	"github.com/chanio/chanio/eio"
	"github.com/chanio/chanio/internal/clienttest"
)

// TestClientSendInvalidUTF8: the client refuses a text message that is not
// UTF-8 with ErrInvalidUTF8, sends nothing, and the connection goes on.
func TestClientSendInvalidUTF8(t *testing.T) {
	for _, m := range clienttest.Modes {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			e := clStartEcho(t, nil, true)
			c := clienttest.Dial(t, e.url, clOpts(m.Transports))
			if err := c.Send([]byte("ok\xff")); !errors.Is(err, eio.ErrInvalidUTF8) {
				t.Fatalf("Send of invalid UTF-8: %v, want ErrInvalidUTF8", err)
			}
			if err := c.Send([]byte("next")); err != nil {
				t.Fatalf("Send after the refusal: %v", err)
			}
			if ev := e.nextReceived(t); string(ev.Data) != "next" {
				t.Fatalf("the server received %q first, want \"next\"", ev.Data)
			}
			clienttest.ExpectText(t, c, "next")
		})
	}
}
