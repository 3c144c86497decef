// Package store is the station's durable record of what gateways send:
// events, their snapshots, the gaps between events and notices about the
// gateways, in one bbolt file. It is the station's acknowledgement point:
// a gateway is told an event is delivered only after this package has
// committed it.
//
// What it promises:
//   - Writes go through one goroutine that owns the write side (group
//     commit): Submit queues a request, the writer takes everything queued
//     into one bbolt transaction, commits it (fsync) and only then calls
//     each request's done, in submission order. A done called without an
//     error means the payload is on disk: power loss after that point loses
//     nothing. Submit blocks while the queue is full (bounded in requests
//     and in payload bytes, Options), so a slow disk slows the publishers
//     instead of growing memory.
//   - A payload that can never be stored (not JSON, an id that is not the
//     topic's gateway, a bad seq or epoch, an empty or oversized snapshot)
//     is answered at once with an error wrapping ErrInvalid and never joins
//     a batch. A commit that fails fails every request of its batch: none of
//     them is stored, so each caller must have the gateway send it again.
//   - Events are kept per (gateway, epoch): seqs are counted, deduplicated
//     and checked for gaps within one epoch (wire.Event.Epoch; the empty
//     epoch is an older gateway's). An event (gateway, epoch, seq) is stored
//     once; a second copy is a Duplicate and changes nothing. When a gateway
//     that already had an epoch sends an event under an epoch never seen
//     before (its storage was replaced and it started again at seq 1), a
//     durable storage_replaced notice records the old epoch, its last seq
//     and the new one; the new epoch's gaps start at its seq 1. The one
//     exception is a gateway upgraded to epochs: from epoch "" to a new
//     epoch whose first seq is above the old epoch's last, the new epoch
//     continues the old one (an epoch_started notice, gaps from the next
//     seq).
//   - Every seq the station has not seen below the highest one seen of an
//     epoch is in exactly one gap; a gap opens when a seq jumps, shrinks or
//     splits when a late event fills it, and becomes explained when an
//     outbox_overflow event covers it (before or after the gap is seen) or a
//     storage_reset event follows it; an outbox_overflow event whose resets
//     name a storage_reset event it dropped explains the gap before that one
//     the same way. The first event of an epoch opens a gap from seq 1 if it
//     is not seq 1.
//   - A snapshot (the JPEG on snapshot/{seq}) is stored in the same file and
//     the same commit machinery as events. It belongs to the gateway's
//     current epoch: the epoch of the latest event stored from that gateway.
//     That is right because a gateway publishes a snapshot only after its
//     event, on the same ordered connection, and both go through the one
//     writer in order. A snapshot whose event is not stored (yet) is still
//     stored; it is found by its event whenever that arrives, since both are
//     keyed by (gateway, epoch, seq). Snapshots are kept within a total byte
//     bound and an age bound (Options); the oldest go first. Events are
//     never deleted.
//   - Every stored record (event, snapshot, notice, gap opened or
//     explained) gets a station-wide arrival number, strictly increasing
//     and never reused; a gap a late event fills is told by that event's
//     record (Late). Duplicates and invalid payloads add no record.
//     Readers page through records "after N" and wait on Changed: they read
//     from the file, never from an in-memory queue, so a slow reader falls
//     behind but loses nothing.
//   - Gaps, explanations, counters and the arrival index are committed with
//     the events, so a restart resumes exactly. A file of the previous
//     layout (package eventlog's) is migrated when it is opened: its events
//     become epoch "" and get arrival numbers in (gateway, seq) order.
//
// What it costs: one fsync per batch, not per event, so latency is one
// commit (plus the queue); the file only grows (bbolt reuses freed pages but
// never shrinks the file), and with snapshots it stays near the snapshot
// bound plus the events.
//
// Gateway status and last telemetry are kept in memory only: the broker's
// retained status gives them back after a restart.
package store
