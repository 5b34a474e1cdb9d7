//go:build !linux

package transport

import "errors"

// Poller parks idle connections; on this platform it does nothing and
// [NewPoller] fails, so readers keep waiting on their own goroutine.
type Poller struct{}

// ErrNotPollable is returned by [WebSocket.Park] for a connection that
// cannot be parked.
var ErrNotPollable = errors.New("transport: connection cannot be parked")

// NewPoller fails on this platform.
func NewPoller() (*Poller, error) { return nil, errors.ErrUnsupported }

// Run returns at once.
func (p *Poller) Run() error { return nil }

// Close does nothing.
func (p *Poller) Close() error { return nil }

func (p *Poller) park(*connReader, func()) error { return ErrNotPollable }

func (p *Poller) fire(uint64) {}
