//go:build unix

package eio

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestStaticSpecialFiles: a FIFO, or a link to one, in a served folder
// is answered 404 at once and never opened. Opening a FIFO blocks until a
// writer comes: each GET used to hold an OS thread and a descriptor for
// good, and 10,100 of them stopped a server. The requests run in
// parallel, and goleak (TestMain) checks that none stays behind.
func TestStaticSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	if err := os.Symlink("pipe", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ok.txt"), []byte("fine"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(nil)
	defer srv.Close()
	site := httptest.NewServer(srv.Handler(StaticFiles{"/files": {Path: dir}}, nil))
	defer site.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()

	get := func(path string) (int, string, time.Duration) {
		start := time.Now()
		resp, err := client.Get(site.URL + path)
		if err != nil {
			return 0, err.Error(), time.Since(start)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), time.Since(start)
	}
	for _, path := range []string{"/files/pipe", "/files/link"} {
		const parallel = 20
		type answer struct {
			status int
			body   string
			took   time.Duration
		}
		answers := make(chan answer, parallel)
		for i := 0; i < parallel; i++ {
			go func() {
				status, body, took := get(path)
				answers <- answer{status, body, took}
			}()
		}
		var slowest time.Duration
		for i := 0; i < parallel; i++ {
			a := <-answers
			if a.status != http.StatusNotFound {
				t.Fatalf("GET %s: %d %q, want 404 at once", path, a.status, a.body)
			}
			slowest = max(slowest, a.took)
		}
		t.Logf("%d GETs of %s answered 404, the slowest in %v", parallel, path, slowest.Round(time.Microsecond))
	}
	if status, body, _ := get("/files/ok.txt"); status != http.StatusOK || body != "fine" {
		t.Fatalf("regular file: %d %q", status, body)
	}
	// A HEAD takes the same path.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodHead, site.URL+"/files/pipe", nil)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD of a FIFO: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}
