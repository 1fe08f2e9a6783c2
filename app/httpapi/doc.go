// Package httpapi is the HTTP JSON API of `naq-events serve`: queries of the
// store, deletes, event intake through the logger, a live stream as
// Server-Sent Events, /healthz and /metrics.
//
//	GET    /api/v1/jobs/{job}/events       the job's events, oldest first, under any environment/service
//	GET    /api/v1/types/{type}/events     events of one type
//	GET    /api/v1/events                  events matching the filters, with store sequence
//	GET    /api/v1/events/count            how many events match the filters
//	DELETE /api/v1/jobs/{job}              delete a job's events
//	POST   /api/v1/events                  log one v1.0 JSON document or JSON lines
//	GET    /api/v1/stream                  Server-Sent Events matching the filters
//	GET    /healthz                        store and NATS health, 200 or 503
//	GET    /metrics                        Prometheus text format
//
// Filters (list, count, stream): environment, service, job, type
// (repeatable or comma separated), queue, worker, since and until (RFC 3339 or
// Unix seconds; since inclusive, until exclusive). An unknown parameter is an
// error, so a typo never silently widens a query.
//
// Pages (job, type, list): limit, offset (at most event.MaxOffset matches
// skipped), and the cursor bounds after and before (stream sequences,
// exclusive); a full page carries next_after, the cursor of the next one.
//
// Errors are JSON {"error": "..."}: 400 for bad input, naming the
// parameter (an offset beyond the bound names the after= to use); 409 for
// a job id found under several environments or services (with the
// candidates); 404 for an unknown route; 422 for a filter the store would
// have to scan too much of the stream for (saying what to add); 503 when
// the store or the logger is unavailable.
//
// The stream sends each event as
//
//	id: <stream sequence>@<store epoch>
//	event: <event_type>
//	data: <v1.0 JSON document>
//
// and a comment line every heartbeat interval (15 s). A client that
// reconnects with the Last-Event-ID header (or ?last_event_id=) resumes right
// after that sequence and misses nothing still retained; an id from a
// stream since deleted and re-created (another epoch, or a sequence beyond
// the stream's last) gets a "gap" event naming the cause, then the new
// stream from its start; ?history=true starts
// with every stored event matching the filters; otherwise the stream starts
// right after the store's last sequence, read (from the store's health)
// before the response headers are sent: every event stored after the client
// has the headers is delivered, whatever the app's and the store's clocks
// say.
package httpapi
