module github.com/chanio/chanio

go 1.26

require (
	github.com/gobwas/ws v1.5.0
	github.com/puzpuzpuz/xsync/v3 v3.5.1
	go.uber.org/goleak v1.3.0
)

require github.com/gobwas/httphead v0.1.0
