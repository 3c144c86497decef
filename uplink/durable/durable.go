// Package durable holds what the module's stores (the gateway's outbox,
// recorder and clip uploader, the station's clip store) need to make a
// file system change survive a power cut.
package durable

import "os"

// SyncDir flushes dir itself to the disk, so that entries created,
// renamed or removed in it survive a power cut: fsync of a file makes its
// data durable, not its name. The error of the close is reported too,
// after the sync's.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
