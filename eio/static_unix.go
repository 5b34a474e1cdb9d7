//go:build unix

package eio

import "syscall"

// openNonblock makes the open of a static file return at once even if the
// file turned into a FIFO after it was checked.
const openNonblock = syscall.O_NONBLOCK
