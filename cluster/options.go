package cluster

import (
	"log/slog"
	"strings"
	"time"

	"github.com/chanio/chanio/internal/quietlog"
)

// Options configures a [Node]. A nil *Options, and every zero field, means
// the documented default. Every node of a cluster should use the same
// Subject, NodeTimeout and HeartbeatInterval.
type Options struct {
	// NodeID names the node. It becomes the end of every session id the
	// node makes, so it must be 1 to 64 of [A-Za-z0-9_-] and unique among
	// live nodes ([Join] fails with [ErrNodeIDTaken] otherwise). A node
	// restarted with the same id takes its name back; its old sessions are
	// gone and answered as unknown. Zero means 11 random characters.
	NodeID string

	// Subject is the prefix of every NATS subject the cluster uses
	// (Subject+".hb", Subject+".bc", Subject+".n.<node>.rpc",
	// Subject+".n.<node>.t"). Clusters that share a NATS server need
	// different prefixes. Zero means "chanio".
	Subject string

	// NodeTimeout is how long a node may stay silent before the others
	// take it for dead: they then end the relays and forwarded requests to
	// it, answer requests for its sessions with "Session ID unknown", and
	// fail Send to them with [eio.ErrUnknownSession]. It also bounds a
	// remote call whose context has no deadline, and the opening of a
	// tunnel. Zero means 3s.
	NodeTimeout time.Duration
	// HeartbeatInterval is how often the node tells the others it is alive,
	// and how often it looks for nodes gone silent. Zero, or more than
	// NodeTimeout, means NodeTimeout/3.
	HeartbeatInterval time.Duration

	// ForwardTimeout bounds a polling request forwarded to its owner, from
	// the request sent to the response's headers: a long-poll GET is held
	// by its owner for up to the ping interval. Zero means the server's
	// PingInterval + PingTimeout + PingGrace + 5s.
	ForwardTimeout time.Duration

	// TunnelWindow bounds the bytes one direction of a tunnel (a forwarded
	// request's connection, or a relayed WebSocket) may have in flight and
	// unread: the writer waits for the reader past it, and a peer that
	// sends more is cut off. Zero means 256 KiB; less than 16 KiB means
	// 16 KiB.
	TunnelWindow int

	// Logger receives the node's logs: nodes joining and leaving (Info),
	// refused or failed forwards (Debug, Warn), broken protocol (Warn).
	// Nil logs only errors, to slog.Default().
	Logger *slog.Logger
}

// options is Options resolved: every default applied once.
type options struct {
	Options
	id       string
	subjHB   string // heartbeats, every node
	subjBC   string // broadcasts, every node
	subjNode string // Subject + ".n."
}

const (
	defaultNodeTimeout  = 3 * time.Second
	defaultTunnelWindow = 256 << 10
	minTunnelWindow     = 16 << 10
	forwardMargin       = 5 * time.Second
)

// withDefaults resolves o; ForwardTimeout stays zero if unset: Join
// derives it from the eio.Server's options.
func (o *Options) withDefaults() (options, error) {
	var r options
	if o != nil {
		r.Options = *o
	}
	if r.NodeID == "" {
		r.NodeID = randomToken(8)
	}
	if !validNodeID(r.NodeID) {
		return r, ErrBadNodeID
	}
	r.id = r.NodeID
	if r.Subject == "" {
		r.Subject = "chanio"
	}
	if !validSubject(r.Subject) {
		return r, ErrBadSubject
	}
	r.subjHB = r.Subject + ".hb"
	r.subjBC = r.Subject + ".bc"
	r.subjNode = r.Subject + ".n."
	if r.NodeTimeout <= 0 {
		r.NodeTimeout = defaultNodeTimeout
	}
	if r.HeartbeatInterval <= 0 || r.HeartbeatInterval > r.NodeTimeout {
		r.HeartbeatInterval = r.NodeTimeout / 3
	}
	if r.TunnelWindow <= 0 {
		r.TunnelWindow = defaultTunnelWindow
	}
	if r.TunnelWindow < minTunnelWindow {
		r.TunnelWindow = minTunnelWindow
	}
	if r.Logger == nil {
		r.Logger = quietlog.New()
	}
	return r, nil
}

// validSubject reports whether s is one or more NATS subject tokens
// without wildcards.
func validSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>") {
			return false
		}
	}
	return true
}

// nodeSubject returns the subject of node id's kind ("rpc" or "t").
func (o *options) nodeSubject(id, kind string) string {
	return o.subjNode + id + "." + kind
}
