// Package dashboard is the web UI of `naq-events serve`, mounted at / of the
// HTTP server (see httpapi.WithUI):
//
//	/                 overview: events/s by type, failure rate, duration
//	                  percentiles per queue, queues with their depth, workers
//	/live             the live feed (EventSource on /api/v1/stream)
//	/jobs/{id}        a job's timeline as a waterfall, with its raw documents
//	/failures         failures grouped by error type and normalised message
//	/failures/{group} a group's failing jobs, newest first, paged by cursor
//	/search?q=        jump to a job by id
//	/assets/{v}/...   the stylesheet, script and icon, versioned by content
//
// Every page is server-rendered from html/template with its charts as inline
// SVG; the one script (plain JavaScript, no framework) adds the live feed,
// keyboard shortcuts and auto-submitting filters. Everything is embedded in
// the binary (embed.FS): nothing is fetched from outside at build or run
// time, and the Content-Security-Policy header forbids it in the browser.
//
// The overview and failures pages read the service's rollups through
// rollup.Reader only (one computation shared by every viewer); a failure
// group's page reads the store's failed events where the rollups located
// the group (rollup.FailureLocator), within a scan budget; the job page
// reads the store (ports.Reader.List by job id, so a job of any environment
// and service); the live feed is the API's stream. Filters live in the URL.
//
// The dashboard has no destructive actions, so read-only mode has nothing
// to hide; authentication wraps it with the rest of the API, because it is
// served through the API's handler.
package dashboard
