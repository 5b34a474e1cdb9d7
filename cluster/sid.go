package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"strings"
)

// sidSeparator separates a session id's random part from its owner's node
// id. It is URL-safe and outside the base64url alphabet of both parts.
const sidSeparator = '.'

// maxNodeID bounds a node id's length in bytes.
const maxNodeID = 64

// validNodeID reports whether id can name a node: 1 to 64 of
// [A-Za-z0-9_-], which are URL-safe, valid in one NATS subject token, and
// never the sid separator.
func validNodeID(id string) bool {
	if id == "" || len(id) > maxNodeID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// randomToken returns n bytes from crypto/rand, URL-safe base64 without
// padding.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// randomSID is the random part of a session id: 15 bytes (120 bits) from
// crypto/rand, as eio's own ids.
func randomSID() string { return randomToken(15) }

// sidGenerator returns the eio.Options.GenerateID of node id: the random
// part from random (eio's own generator when nil), then the separator and
// id.
func sidGenerator(id string, random func() string) func() string {
	if random == nil {
		random = randomSID
	}
	suffix := string(sidSeparator) + id
	return func() string { return random() + suffix }
}

// ownerOf returns the node id a session id names, and false when sid is
// not a cluster session id.
func ownerOf(sid string) (string, bool) {
	i := strings.LastIndexByte(sid, sidSeparator)
	if i <= 0 {
		return "", false
	}
	id := sid[i+1:]
	if !validNodeID(id) {
		return "", false
	}
	return id, true
}

// randomUint64 returns 64 bits from crypto/rand.
func randomUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
