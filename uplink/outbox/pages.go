package outbox

import (
	"encoding/binary"
	"fmt"
	"io"
)

// walkPages checks the structure of every page reachable from the meta page
// by reading the file, before bbolt maps it. bbolt trusts the offsets inside
// its pages: a damaged one sends it (and Tx.Check, which runs on a goroutine
// of its own) outside the mapping, which is a fatal fault, not a panic, and a
// cycle between pages recurses until the stack limit kills the process. Here
// every page is read once, every element must lie inside its page, and every
// child must be a page not seen before.
func walkPages(f io.ReaderAt, m diskMeta) error {
	ne := binary.NativeEndian
	seen := make(map[uint64]bool)
	// Freelist: its ids must fit in its pages.
	if m.freelist != ^uint64(0) {
		p, err := readPage(f, m, m.freelist, seen)
		if err != nil {
			return err
		}
		count, start := int64(ne.Uint16(p[10:])), int64(pageHeaderSize)
		if count == 0xFFFF {
			if len(p) < pageHeaderSize+8 {
				return fmt.Errorf("freelist page %d too short", m.freelist)
			}
			count, start = int64(ne.Uint64(p[pageHeaderSize:])), pageHeaderSize+8
		}
		if count < 0 || count > (int64(len(p))-start)/8 {
			return fmt.Errorf("freelist page %d claims %d ids", m.freelist, count)
		}
	}
	stack := []uint64{m.root}
	var inline [][]byte // inline bucket pages, checked within their value
	for len(stack) > 0 || len(inline) > 0 {
		var p []byte
		var id uint64
		if len(inline) > 0 {
			p, inline = inline[len(inline)-1], inline[:len(inline)-1]
		} else {
			id, stack = stack[len(stack)-1], stack[:len(stack)-1]
			var err error
			if p, err = readPage(f, m, id, seen); err != nil {
				return err
			}
		}
		if len(p) < pageHeaderSize {
			return fmt.Errorf("inline page too short")
		}
		flags, count := ne.Uint16(p[8:]), int(ne.Uint16(p[10:]))
		if flags != 0x01 && flags != 0x02 {
			return fmt.Errorf("page %d has type %#x in the tree", id, flags)
		}
		if pageHeaderSize+count*16 > len(p) {
			return fmt.Errorf("page %d: %d elements do not fit", id, count)
		}
		for i := range count {
			off := pageHeaderSize + i*16
			e := p[off : off+16]
			var pos, ksize, vsize uint64
			if flags == 0x01 {
				pos, ksize = uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
			} else {
				pos, ksize, vsize = uint64(ne.Uint32(e[4:])), uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
			}
			start := uint64(off) + pos
			if start+ksize+vsize > uint64(len(p)) {
				return fmt.Errorf("page %d element %d lies outside the page", id, i)
			}
			if flags == 0x01 {
				stack = append(stack, ne.Uint64(e[8:]))
				continue
			}
			if ne.Uint32(e[0:])&0x01 == 0 { // not a bucket
				continue
			}
			v := p[start+ksize : start+ksize+vsize]
			if len(v) < 16 {
				return fmt.Errorf("page %d element %d: bucket header too short", id, i)
			}
			if root := ne.Uint64(v); root != 0 {
				stack = append(stack, root)
			} else {
				inline = append(inline, v[16:])
			}
		}
		if len(seen) > int(m.pgid) {
			return fmt.Errorf("more pages reachable than the file holds")
		}
	}
	return nil
}

// readPage reads page id with its overflow pages, checking its header.
func readPage(f io.ReaderAt, m diskMeta, id uint64, seen map[uint64]bool) ([]byte, error) {
	if id < 2 || id >= m.pgid {
		return nil, fmt.Errorf("page %d outside the file's %d pages", id, m.pgid)
	}
	if seen[id] {
		return nil, fmt.Errorf("page %d reachable twice", id)
	}
	ps := int64(m.pageSize)
	h := make([]byte, pageHeaderSize)
	if _, err := f.ReadAt(h, int64(id)*ps); err != nil {
		return nil, fmt.Errorf("page %d: %v", id, err)
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(h); got != id {
		return nil, fmt.Errorf("page %d claims to be page %d", id, got)
	}
	over := uint64(ne.Uint32(h[12:]))
	if id+over >= m.pgid {
		return nil, fmt.Errorf("page %d overflows past the end", id)
	}
	for i := id; i <= id+over; i++ {
		seen[i] = true
	}
	p := make([]byte, int64(over+1)*ps)
	if _, err := f.ReadAt(p, int64(id)*ps); err != nil {
		return nil, fmt.Errorf("page %d: %v", id, err)
	}
	return p, nil
}
