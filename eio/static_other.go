//go:build !unix

package eio

// openNonblock is zero where files cannot be opened non-blocking; the
// check before the open still refuses what is not a regular file.
const openNonblock = 0
