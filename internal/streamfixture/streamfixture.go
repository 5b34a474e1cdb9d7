// Package streamfixture reads the WebTransport stream frames that the real
// engine.io-parser wrote (codec/testdata/stream/engineio-parser.json), for
// the codec's tests and for the interop test that checks them against
// engine.io-parser itself.
//
// Each case names a packet as interop/js/stream-frames.js takes it (a type
// name and a text, base64 or fill body) and the bytes the encoder stream
// produced for it: the whole frame in hex, or, for a large one, its first
// bytes, its length and its SHA-256.
package streamfixture

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/chanio/chanio/codec"
)

// Spec is a packet as stream-frames.js reads it.
type Spec struct {
	Type   string  `json:"type"`
	Text   *string `json:"text,omitempty"`
	Base64 *string `json:"base64,omitempty"`
	Fill   string  `json:"fill,omitempty"`
	N      int     `json:"n,omitempty"`
	Binary bool    `json:"binary,omitempty"`
}

// Case is one packet and the frame engine.io-parser encoded it to.
type Case struct {
	Name   string `json:"name"`
	Packet Spec   `json:"packet"`
	Wire   string `json:"wire,omitempty"`   // the frame in hex, for small ones
	Head   string `json:"head,omitempty"`   // for large ones: the first bytes in hex,
	Len    int    `json:"len,omitempty"`    // the length
	SHA256 string `json:"sha256,omitempty"` // and the SHA-256 in hex
}

// File is the fixture file.
type File struct {
	About string `json:"about"`
	Cases []Case `json:"cases"`
}

// maxInline is the largest frame kept whole in the file.
const maxInline = 512

// Path is the fixture file's path.
func Path() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "codec", "testdata", "stream", "engineio-parser.json")
}

// Load reads the fixture file.
func Load() (*File, error) {
	b, err := os.ReadFile(Path())
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", Path(), err)
	}
	return &f, nil
}

// Save writes f to the fixture file.
func Save(f *File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(Path(), append(b, '\n'), 0o644)
}

var types = map[string]codec.Type{
	"open": codec.Open, "close": codec.Close, "ping": codec.Ping, "pong": codec.Pong,
	"message": codec.Message, "upgrade": codec.Upgrade, "noop": codec.Noop,
}

// Packet returns the packet s describes.
func (s Spec) Packet() (codec.Packet, error) {
	t, ok := types[s.Type]
	if !ok {
		return codec.Packet{}, fmt.Errorf("streamfixture: unknown type %q", s.Type)
	}
	switch {
	case s.Base64 != nil:
		data, err := base64.StdEncoding.DecodeString(*s.Base64)
		if err != nil {
			return codec.Packet{}, err
		}
		return codec.Packet{Type: t, Data: data, Binary: true}, nil
	case s.Fill != "":
		return codec.Packet{Type: t, Data: []byte(strings.Repeat(s.Fill, s.N)), Binary: s.Binary}, nil
	case s.Text != nil:
		return codec.Packet{Type: t, Data: []byte(*s.Text)}, nil
	}
	return codec.Packet{Type: t}, nil
}

// SpecOf returns the spec of p as stream-frames.js prints a decoded packet:
// a text body as text, a binary one as base64.
func SpecOf(p codec.Packet) Spec {
	s := Spec{Type: p.Type.String()}
	switch {
	case p.Binary:
		b := base64.StdEncoding.EncodeToString(p.Data)
		s.Base64 = &b
	case len(p.Data) > 0:
		t := string(p.Data)
		s.Text = &t
	}
	return s
}

// Record sets c's frame to wire, whole or summed up by its size.
func (c *Case) Record(wire []byte) {
	c.Wire, c.Head, c.Len, c.SHA256 = "", "", 0, ""
	if len(wire) <= maxInline {
		c.Wire = hex.EncodeToString(wire)
		return
	}
	sum := sha256.Sum256(wire)
	c.Head = hex.EncodeToString(wire[:16])
	c.Len = len(wire)
	c.SHA256 = hex.EncodeToString(sum[:])
}

// Check reports whether wire is c's frame.
func (c *Case) Check(wire []byte) error {
	var want Case
	want.Record(wire)
	if want.Wire != c.Wire || want.Head != c.Head || want.Len != c.Len || want.SHA256 != c.SHA256 {
		return fmt.Errorf("%s: frame %s, engine.io-parser's %s", c.Name, summary(&want), summary(c))
	}
	return nil
}

// Frame returns c's frame when the file holds it whole.
func (c *Case) Frame() ([]byte, bool) {
	if c.Wire == "" {
		return nil, false
	}
	b, err := hex.DecodeString(c.Wire)
	return b, err == nil
}

func summary(c *Case) string {
	if c.Wire != "" {
		return c.Wire
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s... (%d bytes, sha256 %s)", c.Head, c.Len, c.SHA256)
	return b.String()
}
