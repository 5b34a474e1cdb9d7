package transport_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chanio/chanio/actor"
	"github.com/chanio/chanio/codec"
	"github.com/chanio/chanio/transport"
)

// roundTrip is an http.RoundTripper from a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// postReport is what a POST's report found: whether the transport already
// showed room when it told the endpoint how the POST went.
type postReport struct {
	err  error // End's; nil for Ready
	room transport.Room
}

// roomReceiver records the PollClient's Room at the moment each POST is
// reported, as the endpoint's actor could read it right then.
type roomReceiver struct {
	pc      *transport.PollClient
	reports chan postReport
}

func (r *roomReceiver) Receive(transport.Conn, codec.Packet) error { return nil }
func (r *roomReceiver) Idle(transport.Conn)                        {}
func (r *roomReceiver) End(_ transport.Conn, err error) {
	r.reports <- postReport{err: err, room: r.pc.Room()}
}
func (r *roomReceiver) Ready(_ transport.Conn, reading bool) {
	if !reading {
		r.reports <- postReport{room: r.pc.Room()}
	}
}

// TestPollClientRoomWaitsForPostHeard: a POST keeps Room empty until the
// endpoint has heard how it went (PostHeard), not merely until the request
// is back. Otherwise the endpoint could see room, write again or switch an
// upgrade to the probe, and then drop the POST's failure as coming from a
// transport it no longer uses: messages lost without an error.
func TestPollClientRoomWaitsForPostHeard(t *testing.T) {
	for _, fail := range []bool{false, true} {
		g := actor.NewGroup(nil)
		httpc := &http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) {
			if fail {
				return nil, errors.New("connection reset")
			}
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("ok")), Header: http.Header{}}, nil
		})}
		rec := &roomReceiver{reports: make(chan postReport, 1)}
		post := transport.Room{Packets: 16, Bytes: 1000}
		rec.pc = transport.NewPollClient(transport.PollClientOptions{
			HTTP: httpc, URL: "http://example.invalid/engine.io/?EIO=4&transport=polling&sid=x",
			PollTimeout: time.Minute, PostTimeout: time.Minute,
			Post: post, Group: g, Receiver: rec,
		})
		if err := rec.pc.Write([]transport.Outgoing{{Packet: codec.Packet{Type: codec.Message, Data: []byte("hi")}}}); err != nil {
			t.Fatal(err)
		}
		rep := <-rec.reports
		if (rep.err != nil) != fail {
			t.Fatalf("fail=%v: reported err %v", fail, rep.err)
		}
		if rep.room != (transport.Room{}) {
			t.Errorf("fail=%v: Room was %+v when the POST was reported; want empty until PostHeard", fail, rep.room)
		}
		if got := rec.pc.Room(); got != (transport.Room{}) {
			t.Errorf("fail=%v: Room %+v after the report, before PostHeard; want empty", fail, got)
		}
		rec.pc.PostHeard()
		if got := rec.pc.Room(); got != post {
			t.Errorf("fail=%v: Room %+v after PostHeard; want %+v", fail, got, post)
		}
		_ = rec.pc.CloseAs(transport.CloseNormal)
		g.Stop()
		g.Wait()
	}
}
