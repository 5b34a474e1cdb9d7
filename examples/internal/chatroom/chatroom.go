// Package chatroom is the room behind the chat page of examples/chat and
// examples/cluster: who is in it, and what the server tells each page.
package chatroom

import (
	"encoding/json"

	"github.com/chanio/chanio/eio"
)

// Note is what the server sends a page, as JSON.
type Note struct {
	Type  string `json:"type"` // "welcome", "join", "leave", "chat"
	Name  string `json:"name"`
	Text  string `json:"text,omitempty"`
	Count int    `json:"count"`          // people in the room (on Node, when set)
	Node  string `json:"node,omitempty"` // the cluster node of the person named
}

// Room runs a chat room over a server's events: it names each session,
// welcomes it, tells everyone who joined and left, passes every chat line
// to everyone, and sends binary messages back to their sender.
type Room struct {
	// Node, when set, names the cluster node the room runs on; notes carry
	// it, and Count is then the people on this node.
	Node string
	// Send delivers a message to one session. Required.
	Send func(sid string, data []byte, binary bool) error
	// Broadcast delivers a text message to everyone in the room. Nil sends
	// it to each session the events reported, as on a single server.
	Broadcast func(data []byte) error
	// Disconnect ends a session from the server's side: a page that says
	// "/leave" is shown out. Nil ignores the command.
	Disconnect func(sid string) error
}

// leaveCommand is the chat line that asks the server to end the session.
const leaveCommand = "/leave"

// Run runs the room until events is closed.
func (r *Room) Run(events <-chan eio.Event) {
	names := map[string]string{}
	broadcast := func(n Note) {
		n.Count, n.Node = len(names), r.Node
		data, _ := json.Marshal(n)
		if r.Broadcast != nil {
			_ = r.Broadcast(data)
			return
		}
		for sid := range names {
			_ = r.Send(sid, data, false)
		}
	}
	for ev := range events {
		switch ev.Type {
		case eio.EventConnect:
			name := "guest-" + ev.SID[:4]
			names[ev.SID] = name
			data, _ := json.Marshal(Note{Type: "welcome", Name: name, Count: len(names), Node: r.Node})
			_ = r.Send(ev.SID, data, false)
			broadcast(Note{Type: "join", Name: name})
		case eio.EventDisconnect:
			name := names[ev.SID]
			delete(names, ev.SID)
			broadcast(Note{Type: "leave", Name: name, Text: ev.Reason.String()})
		case eio.EventMessage:
			if ev.Binary {
				_ = r.Send(ev.SID, ev.Data, true)
				continue
			}
			if string(ev.Data) == leaveCommand && r.Disconnect != nil {
				_ = r.Disconnect(ev.SID)
				continue
			}
			broadcast(Note{Type: "chat", Name: names[ev.SID], Text: string(ev.Data)})
		}
	}
}
