// Package embeddednats runs an in-process NATS server on a loopback port:
// the one the cluster tests, the cluster benchmarks and the cluster
// example start. Production points cluster nodes at its own NATS server.
package embeddednats

import (
	"errors"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a NATS server on a random loopback port and returns once it
// accepts connections. Stop it with [Stop].
func Start() (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		Stop(ns)
		return nil, errors.New("embeddednats: the NATS server did not start")
	}
	return ns, nil
}

// Stop shuts ns down and waits until it has.
func Stop(ns *server.Server) {
	ns.Shutdown()
	ns.WaitForShutdown()
}
