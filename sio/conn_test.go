package sio

import "testing"

func TestV3Namespace(t *testing.T) {
	for _, tc := range []struct{ in, name, auth string }{
		{"/", "/", ""},
		{"/admin", "/admin", ""},
		{"/admin?", "/admin", ""},
		{"/admin?token=abc", "/admin", `{"token":"abc"}`},
		{"/admin?b=2&a=1&a=3#frag", "/admin", `{"a":"3","b":"2"}`},
		{"/admin?bad=%zz&ok=%41", "/admin", `{"ok":"A"}`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			name, auth := v3Namespace(tc.in)
			if name != tc.name || string(auth) != tc.auth {
				t.Fatalf("v3Namespace(%q) = %q, %s; want %q, %s", tc.in, name, auth, tc.name, tc.auth)
			}
		})
	}
}
