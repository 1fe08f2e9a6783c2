package jsstore

// SetJobBatch sets how many messages Job's direct gets ask for (0: single
// gets), so the benchmark can compare the two.
func SetJobBatch(s *Store, n int) { s.jobBatch = n }

// SetCountByDirectGet makes Count use direct get headers instead of a
// consumer's pending count.
func SetCountByDirectGet(s *Store, on bool) { s.countByDirectGet = on }
