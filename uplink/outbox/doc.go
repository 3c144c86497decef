// Package outbox is the gateway's durable, bounded queue of events, kept in
// one bbolt file until the station has acknowledged them.
//
// # Guarantees
//
// Durable on return. Append returns a seq only after the transaction that
// holds the event has been committed and fsynced. Power loss after that point
// loses nothing. When Append returns an error the event may or may not have
// been stored (a cancelled context does not undo a commit already under way);
// it is never stored twice by one call.
//
// Order. Every event gets the next value of a durable counter, kept in the
// same transaction as the records, so seqs are strictly increasing in the
// order the commits happen, and Peek returns records in seq order. Event.ID is
// "{gateway}/{seq}". A record leaves the queue only through Ack, through an
// overflow drop (reported, below) or through a storage reset (reported,
// below).
//
// Seq is never reused, across restarts, compaction and even after a damaged
// file has been replaced. Besides the counter in the database, a small
// sidecar file "<path>.seq" holds a reservation: a value that every seq ever
// committed is below. It is written (temp file, fsync, rename, fsync of the
// directory) 65,536 ahead of the counter, and moved on again once the
// counter is within 32,768 of it (a failure there, a full disk say, is only
// retried: the commit that reaches the reservation is the one that must
// move it), so normal operation costs about one extra fsync per 32,768
// events. A fresh database started after damage continues at the
// reservation. If both the database and the sidecar are lost, the counter
// starts again at 1 — in a new epoch.
//
// Epoch. Epoch names the sequence the seqs belong to: 64 random bits as 16
// hexadecimal digits, made with the first database on new storage, kept in
// the database (meta bucket) and on the sidecar's second line ("epoch E").
// It lives as long as either file does: a restart, a compaction, a damaged
// database (storage_reset) or a lost one all keep it; only when both are
// gone (a new SD card) does a new epoch begin, at seq 1. Every event the
// outbox stores carries it ("epoch" after "id" in its JSON), and Stats
// reports it. A sidecar from before epochs (a number only) is read fine and
// a database without one gets the sidecar's epoch, or a new one, at Open;
// its records stored before keep their bytes (no epoch).
//
// Group commit. One goroutine owns the write side. Appends (and Acks) queued
// while a commit is running are all taken into the next transaction, so a
// burst of concurrent Appends costs a handful of fsyncs, not one each. There
// is no artificial delay: a lone Append is committed at once.
//
// Bound. The database file never grows beyond Options.MaxBytes: it is passed
// to bbolt as MaxSize, which also caps the memory map. On a 32-bit board a
// map above 1 GiB does not fit beside the Go heap, so Open refuses a larger
// MaxBytes there (MaxBytesLimit). The bound really used, Stats.Bound, is
// MaxBytes capped by the data partition: measured (statfs) at Open and every
// 10 s after commits, it is what the file already holds on disk plus the
// partition's free space, less a headroom left to the rest of the gateway
// (1/32 of the partition, at most 4 MiB) and less the reserve below; never
// below MinMaxBytes. Records are allowed to use at most half of the bound
// (payload plus 24 bytes of per-record B+tree overhead); the other half is
// headroom for branch pages, the freelist and the copy-on-write pages of a
// commit. This half-and-half split is a deliberate, conservative choice:
// bbolt cannot reuse pages freed in the same transaction, so a full file
// could otherwise refuse even the commit that would make room. (Measured with 300-byte events and no payload budget, a
// 256 KiB file reached bbolt's MaxSize at about 52% payload.) Single events
// are limited to 64 KiB (MaxBytes/32 for small bounds) and one AppendBatch to
// a quarter of the payload budget; larger ones fail with ErrTooLarge.
//
// When full, the oldest records go first: in the same transaction as the new
// events, the oldest records are deleted until the new ones fit with an
// eighth of the budget to spare (so a full outbox raises one overflow event
// per many appends, not one per append), and one outbox_overflow event (attrs
// dropped, first_seq, last_seq: the exact range removed; acked seqs inside it
// are not counted in dropped) is appended with its own seq before them. When
// the drop took earlier undelivered overflow or storage_reset events with it,
// their reports are carried over: ranges lists the exact runs lost, resets
// the seqs of the dropped storage_reset events. The total dropped is
// kept durably and reported by Stats. If bbolt still reports that the file is
// full, the oldest quarter is dropped in a commit of its own, reported the
// same way, and the append is retried.
//
// Disk full. The file system may fill although the file is within its bound
// (other files, a bound above what the partition holds). Acks and drops need
// free pages too, so the outbox keeps a reserve: a file "<path>.reserve" of
// real blocks (a sixteenth of MaxBytes or of the partition, whichever is
// smaller, within 64 KiB and 4 MiB), made while there is room (one left by
// the last run, a restart with the disk full, is taken over). A commit that fails with ENOSPC deletes
// the reserve and is retried in its space, once; bbolt reuses the pages that
// commit freed from the next transaction on, so acks keep committing and the
// outbox keeps draining while the disk stays full. If a commit still fails,
// its callers get the error and the next commit that brings events first
// drops the oldest eighth in a commit of its own (a transaction cannot reuse
// the pages it frees), reported the same way. The reserve is made again once
// twice its size is free. A compaction (below) is skipped while the
// partition could not hold the file twice: its blocks would go to other
// files at once and the outbox could not grow back. Nothing is dropped
// silently and the outbox stays usable; the process never stops because the
// disk is full.
//
// Attachments. AppendAttached stores a blob (a camera snapshot) with its
// event, in the same transaction, under the event's seq in a second bucket.
// Its bytes count in the payload budget and in Stats.Bytes; it is dropped
// with its event on overflow (the overflow accounting is per event, so it is
// unchanged), removed by the Ack of its event, and checked by Open (an
// attachment without its event is damage). The event and its attachment
// together may use at most a quarter of the payload budget.
//
// Damage. Open verifies the file. First, without mapping it, the meta pages
// are read and every page reachable from them is walked with plain reads:
// bbolt trusts the offsets in its pages, and a truncated or scribbled file
// would otherwise crash the process with a memory fault (or recurse forever
// on a cycle) rather than return an error. Then bbolt's Tx.Check walks the
// file again (free pages, key order), and the buckets and counters are
// checked for sanity (the counter must be beyond every stored seq). A
// file that fails any of this is moved aside to "<path>.damaged-<UTC time>"
// (never deleted), a fresh file is started at the seq reservation, and a
// storage_reset event (attrs moved_to, reason, resumed_seq) is appended. The
// same event, with an empty moved_to, reports a database that disappeared
// while its sidecar remained. A file locked by another process is not damage:
// Open fails after one second with an error saying so.
//
// Compaction. bbolt never shrinks its file. When Acks drain the queue and the
// file is larger than Options.CompactAbove, the counters and the epoch are
// copied into "<path>.compact", which is fsynced and renamed over the
// database (the directory is fsynced too). A crash at any point leaves
// either the old or the new file complete; a stale "<path>.compact" is
// removed by Open. If the database cannot be reopened afterwards, the
// writer tries again before each request and every second; meanwhile calls
// fail with an error saying so.
//
// Health. Ping proves the writer is not stuck; after a failed commit it
// fails too, until a commit succeeds again (the writer tries one small
// commit per Ping), so a watchdog sees a disk that refuses every write.
//
// Peek, PeekLimit, Ack, Stats and Notify are safe to call from any
// goroutine while Appends run; PeekLimit also bounds the bytes read (a
// backlog of snapshots). ReadOnly opens the file for inspection without
// changing it (the gateway's "outbox stats" and "outbox dump" subcommands).
package outbox
