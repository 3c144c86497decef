package boardtest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Initramfs writes a Linux initramfs: a cpio archive in the "newc" format,
// uncompressed. The kernel takes it as is, and unpacking it costs the
// emulated CPU less than inflating a compressed one would.
type Initramfs struct {
	w     *bufio.Writer
	ino   uint32
	dirs  map[string]bool
	err   error
	total int64
}

// NewInitramfs starts an archive on w; Close finishes it.
func NewInitramfs(w io.Writer) *Initramfs {
	return &Initramfs{w: bufio.NewWriterSize(w, 1<<20), ino: 1, dirs: map[string]bool{".": true, "/": true}}
}

// File adds a regular file with the given mode (permission bits), creating
// its parent directories first.
func (a *Initramfs) File(name string, mode uint32, data []byte) {
	a.parents(name)
	a.entry(name, 0o100000|mode&0o7777, data)
}

// CopyFile adds the file at src as name, keeping the permission bits given.
func (a *Initramfs) CopyFile(name string, mode uint32, src string) {
	if a.err != nil {
		return
	}
	data, err := os.ReadFile(src)
	if err != nil {
		a.err = fmt.Errorf("initramfs %s: %w", name, err)
		return
	}
	a.File(name, mode, data)
}

// Dir adds a directory and its parents.
func (a *Initramfs) Dir(name string) {
	name = clean(name)
	if a.dirs[name] {
		return
	}
	a.parents(name)
	a.dirs[name] = true
	a.entry(name, 0o040755, nil)
}

// Symlink adds name pointing to target.
func (a *Initramfs) Symlink(name, target string) {
	a.parents(name)
	a.entry(name, 0o120777, []byte(target))
}

// Size is the number of bytes written so far.
func (a *Initramfs) Size() int64 { return a.total }

// Close writes the trailer and flushes; it reports the first error of any
// earlier call.
func (a *Initramfs) Close() error {
	a.entry("TRAILER!!!", 0, nil)
	if a.err != nil {
		return a.err
	}
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

func clean(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

func (a *Initramfs) parents(name string) {
	if d := path.Dir(clean(name)); d != "." && !a.dirs[d] {
		a.Dir(d)
	}
}

// entry writes one newc header, the name and the data, each padded to 4 bytes.
func (a *Initramfs) entry(name string, mode uint32, data []byte) {
	if a.err != nil {
		return
	}
	if name != "TRAILER!!!" {
		name = clean(name)
	}
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	ino := a.ino
	a.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	a.write([]byte(hdr))
	a.write([]byte(name))
	a.write([]byte{0})
	a.pad()
	a.write(data)
	a.pad()
}

func (a *Initramfs) write(b []byte) {
	if a.err != nil {
		return
	}
	n, err := a.w.Write(b)
	a.total += int64(n)
	if err != nil {
		a.err = fmt.Errorf("initramfs: %w", err)
	}
}

func (a *Initramfs) pad() {
	if r := a.total % 4; r != 0 {
		a.write(make([]byte, 4-r))
	}
}
