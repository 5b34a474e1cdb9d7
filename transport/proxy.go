package transport

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// dialProxy opens a tunnel to addr through an http:// proxy with CONNECT,
// within ctx, dialing the proxy with dial.
func dialProxy(ctx context.Context, dial func(ctx context.Context, network, addr string) (net.Conn, error), proxy *url.URL, addr string) (net.Conn, error) {
	if proxy.Scheme != "http" {
		return nil, fmt.Errorf("transport: a connection through a %q proxy is not supported (only http://)", proxy.Scheme)
	}
	paddr := proxy.Host
	if _, _, err := net.SplitHostPort(paddr); err != nil {
		paddr = net.JoinHostPort(paddr, "80")
	}
	conn, err := dial(ctx, "tcp", paddr)
	if err != nil {
		return nil, fmt.Errorf("transport: dialing proxy %s: %w", paddr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: make(http.Header),
	}
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		req.Header.Set("Proxy-Authorization",
			"Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	err = req.Write(conn)
	var resp *http.Response
	br := bufio.NewReader(conn)
	if err == nil {
		resp, err = http.ReadResponse(br, req)
	}
	if !stop() && err == nil {
		err = ctx.Err()
	}
	switch {
	case err != nil:
	case resp.StatusCode != http.StatusOK:
		err = fmt.Errorf("transport: proxy %s refused CONNECT %s: %s", paddr, addr, resp.Status)
	case br.Buffered() > 0:
		err = fmt.Errorf("transport: proxy %s sent data after its CONNECT answer", paddr)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}
