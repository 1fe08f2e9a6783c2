// Package rollup keeps pre-aggregated views of the event stream — counts per
// time bucket and series, duration sketches, failure groups, queues and
// workers last seen — so that stats, counts and the dashboard cost
// O(buckets), not O(events). It is pure: the service feeds it records and
// persists its state through an adapter.
package rollup
