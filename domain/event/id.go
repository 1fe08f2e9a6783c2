package event

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// crockford is the Crockford base32 alphabet used by ULIDs: it sorts in byte
// order and has no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDLen is the length of an id made by NewID.
const IDLen = 26

// MaxIDLen is the longest event id Validate accepts, in bytes. Ids of other
// producers need not be ULIDs, but they travel as the Nats-Msg-Id header and
// must stay short.
const MaxIDLen = 64

var (
	// idEntropy is the per-process random part of every id, fixed at start.
	idEntropy = rand.Uint64()
	// idClock is the last issued (millisecond << 16 | sequence). Packing both
	// in one word lets a compare-and-swap hand out strictly increasing
	// values without a lock, even when the wall clock steps backwards.
	idClock atomic.Uint64
)

// NewID returns a 26-character, ULID-shaped identifier: 48 bits of Unix
// milliseconds, a 16-bit sequence, then 64 bits drawn at random once per
// process.
//
// Ids sort by creation time across processes (to the millisecond) and
// strictly increase, in call order, within one process: the millisecond part
// never goes backwards even when the wall clock does, and when one
// millisecond's 65536 sequence values are used up the id borrows the next
// millisecond. Two processes produce the same id only if their 64-bit random
// parts are equal and they issue the same (millisecond, sequence) pair. NewID
// allocates only the returned string and never blocks.
func NewID() string {
	now := uint64(max(time.Now().UnixMilli(), 0)) & (1<<48 - 1)
	var next uint64
	for {
		prev := idClock.Load()
		if now > prev>>16 {
			next = now << 16
		} else {
			next = prev + 1 // same or earlier millisecond: next sequence, carrying into ms
		}
		if idClock.CompareAndSwap(prev, next) {
			break
		}
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], next)
	binary.BigEndian.PutUint64(b[8:16], idEntropy)
	return encodeULID(b)
}

// deriveID makes the id of an event that arrived without one (a document of
// a producer that predates event ids): the event time in milliseconds
// followed by 80 bits of a digest of its content, so the same document always
// gets the same id and a re-published copy de-duplicates.
func deriveID(t time.Time, digest [32]byte) string {
	ms := uint64(max(t.UnixMilli(), 0))
	if ms >= 1<<48 {
		ms = 1<<48 - 1
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	copy(b[6:16], digest[:10])
	return encodeULID(b)
}

// encodeULID writes 128 bits as 26 base32 characters (the first carries 3
// bits), as the ULID spec does.
func encodeULID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [IDLen]byte
	for i := IDLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// IDTime returns the creation time, to the millisecond, of an id made by
// NewID (or derived by Decode). The error wraps ErrInvalid when id is not a
// 26-character Crockford base32 ULID.
func IDTime(id string) (time.Time, error) {
	if len(id) != IDLen || id[0] > '7' {
		return time.Time{}, fmt.Errorf("%w: event_id %q is not a %d-character ULID", ErrInvalid, id, IDLen)
	}
	var ms uint64
	for i := range 10 { // the first 10 characters carry the 48 bits of time (3 + 9×5)
		v := indexCrockford(id[i])
		if v < 0 {
			return time.Time{}, fmt.Errorf("%w: event_id %q has %q at byte %d, not a Crockford base32 digit", ErrInvalid, id, id[i], i)
		}
		ms = ms<<5 | uint64(v)
	}
	for i := 10; i < IDLen; i++ {
		if indexCrockford(id[i]) < 0 {
			return time.Time{}, fmt.Errorf("%w: event_id %q has %q at byte %d, not a Crockford base32 digit", ErrInvalid, id, id[i], i)
		}
	}
	return time.UnixMilli(int64(ms)), nil
}

func indexCrockford(c byte) int {
	for i := range len(crockford) {
		if crockford[i] == c {
			return i
		}
	}
	return -1
}
