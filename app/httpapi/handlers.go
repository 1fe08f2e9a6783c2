package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/naq-go/events/domain/event"
	"github.com/naq-go/events/domain/logger"
	"github.com/naq-go/events/ports"
)

// pageBody is the answer of the job and type queries.
type pageBody struct {
	Events []json.RawMessage `json:"events"`
	Count  int               `json:"count"`
	Limit  int               `json:"limit"`
	Offset int               `json:"offset"`
	After  uint64            `json:"after,omitempty"`
	Before uint64            `json:"before,omitempty"`
	// NextAfter is the cursor of the next page (the last event's sequence:
	// ask again with after=NextAfter), set when the page is full.
	NextAfter uint64 `json:"next_after,omitempty"`
	// Environment and Service say where a job's events were found.
	Environment string `json:"environment,omitempty"`
	Service     string `json:"service,omitempty"`
}

// recordBody is one event of GET /api/v1/events with where it is stored.
type recordBody struct {
	Seq         uint64          `json:"seq"`
	Environment string          `json:"environment"`
	Service     string          `json:"service"`
	Event       json.RawMessage `json:"event"`
}

type listBody struct {
	Records   []recordBody `json:"records"`
	Count     int          `json:"count"`
	Limit     int          `json:"limit"`
	Offset    int          `json:"offset"`
	After     uint64       `json:"after,omitempty"`
	Before    uint64       `json:"before,omitempty"`
	NextAfter uint64       `json:"next_after,omitempty"`
}

// ambiguousBody is the 409 of a job id found under several environments or
// services when the request names neither.
type ambiguousBody struct {
	Error      string          `json:"error"`
	Candidates []candidateBody `json:"candidates"`
}

type candidateBody struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	Events      int    `json:"events"`
}

func bad(w http.ResponseWriter, err error) { writeError(w, http.StatusBadRequest, err.Error()) }

// nextAfter is the cursor after recs when the page is full.
func nextAfter(recs []event.Record, page event.Page) uint64 {
	if page.Limit > 0 && len(recs) == page.Limit {
		return recs[len(recs)-1].Seq
	}
	return 0
}

// readError answers a failed read: an offset beyond event.MaxOffset is a
// 400 naming the cursor to use, a query over the store's scan bound a 422
// saying what to add; the rest as storeError says.
func (a *API) readError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if oe, ok := errors.AsType[*event.OffsetError](err); ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf(
			"parameter offset=%d is beyond the bound of offset paging (%d): page by sequence with after=%d (and offset=%d), then with each answer's next_after",
			oe.Offset, event.MaxOffset, oe.After, oe.Offset-event.MaxOffset))
		return
	}
	if se, ok := errors.AsType[*ports.ScanError](err); ok {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%s: %s", what, se.Describe()))
		return
	}
	a.storeError(w, r, what, err)
}

// jobEvents answers GET /api/v1/jobs/{job}/events. With environment and
// service it reads there; otherwise it finds the job under every
// environment and service (the store's index, no events read) narrowed by
// whichever of the two is given: one place is read and named in the
// answer, several are a 409 listing them.
func (a *API) jobEvents(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	if err := event.CheckToken("job", job); err != nil {
		bad(w, badf("job %q in the path: %v", job, err))
		return
	}
	q := r.URL.Query()
	if err := checkParams(q, pageParams, placeParams); err != nil {
		bad(w, err)
		return
	}
	page, err := parsePage(q)
	if err != nil {
		bad(w, err)
		return
	}
	f, err := parsePlace(q)
	if err != nil {
		bad(w, err)
		return
	}
	f.JobID = job
	if f.Environment == "" || f.Service == "" {
		locs, err := ports.FindJob(r.Context(), a.store, job)
		if err != nil {
			a.readError(w, r, "find job "+job, err)
			return
		}
		locs = slices.DeleteFunc(locs, func(l ports.JobLocation) bool {
			return (f.Environment != "" && l.Environment != f.Environment) || (f.Service != "" && l.Service != f.Service)
		})
		switch len(locs) {
		case 0:
			writeJSON(w, http.StatusOK, pageBody{Events: []json.RawMessage{}, Limit: page.Limit, Offset: page.Offset, After: page.After, Before: page.Before})
			return
		case 1:
			f.Environment, f.Service = locs[0].Environment, locs[0].Service
		default:
			body := ambiguousBody{Error: fmt.Sprintf("job %s has events under %d environments/services; name one with environment= and service=", job, len(locs))}
			for _, l := range locs {
				body.Candidates = append(body.Candidates, candidateBody(l))
			}
			writeJSON(w, http.StatusConflict, body)
			return
		}
	}
	recs, err := a.store.List(r.Context(), f, page)
	if err != nil {
		a.readError(w, r, "read job "+job, err)
		return
	}
	a.writeRecords(w, r, recs, page, f.Environment, f.Service)
}

func (a *API) typeEvents(w http.ResponseWriter, r *http.Request) {
	t, err := event.ParseType(r.PathValue("type"))
	if err != nil {
		bad(w, badf("event type %q in the path: unknown; want one of %s", r.PathValue("type"), typeList()))
		return
	}
	page, err := pageOf(r)
	if err != nil {
		bad(w, err)
		return
	}
	named, ok := a.store.(ports.Named)
	if !ok {
		// A store without names: no sequences, so no cursor.
		evs, err := a.store.ByType(r.Context(), t, page)
		if err != nil {
			a.readError(w, r, "read events of type "+string(t), err)
			return
		}
		ds, err := docs(evs)
		if err != nil {
			a.storeError(w, r, "encode", err)
			return
		}
		writeJSON(w, http.StatusOK, pageBody{Events: ds, Count: len(ds), Limit: page.Limit, Offset: page.Offset, After: page.After, Before: page.Before})
		return
	}
	env, svc := named.Names()
	recs, err := a.store.List(r.Context(), event.Filter{Environment: env, Service: svc, Types: []event.JobEventType{t}}, page)
	if err != nil {
		a.readError(w, r, "read events of type "+string(t), err)
		return
	}
	a.writeRecords(w, r, recs, page, "", "")
}

// pageOf reads the query of a request that takes only page parameters.
func pageOf(r *http.Request) (event.Page, error) {
	q := r.URL.Query()
	if err := checkParams(q, pageParams); err != nil {
		return event.Page{}, err
	}
	return parsePage(q)
}

// writeRecords answers a job or type query with the events of recs.
func (a *API) writeRecords(w http.ResponseWriter, r *http.Request, recs []event.Record, page event.Page, env, svc string) {
	body := pageBody{Events: make([]json.RawMessage, 0, len(recs)), Count: len(recs), Limit: page.Limit, Offset: page.Offset,
		After: page.After, Before: page.Before, NextAfter: nextAfter(recs, page), Environment: env, Service: svc}
	for i := range recs {
		b, err := recs[i].Event.AppendJSON(nil)
		if err != nil {
			a.storeError(w, r, "encode", fmt.Errorf("encode event %s: %w", recs[i].Event.ID, err))
			return
		}
		body.Events = append(body.Events, b)
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, pageParams, filterParams); err != nil {
		bad(w, err)
		return
	}
	page, err := parsePage(q)
	if err != nil {
		bad(w, err)
		return
	}
	f, err := parseFilter(q)
	if err != nil {
		bad(w, err)
		return
	}
	recs, err := a.store.List(r.Context(), f, page)
	if err != nil {
		a.readError(w, r, "list events", err)
		return
	}
	body := listBody{Records: make([]recordBody, 0, len(recs)), Count: len(recs), Limit: page.Limit, Offset: page.Offset,
		After: page.After, Before: page.Before, NextAfter: nextAfter(recs, page)}
	for i := range recs {
		b, err := recs[i].Event.AppendJSON(nil)
		if err != nil {
			a.storeError(w, r, "encode", err)
			return
		}
		body.Records = append(body.Records, recordBody{Seq: recs[i].Seq, Environment: recs[i].Environment, Service: recs[i].Service, Event: b})
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *API) count(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, filterParams); err != nil {
		bad(w, err)
		return
	}
	f, err := parseFilter(q)
	if err != nil {
		bad(w, err)
		return
	}
	n, err := a.countEvents(r.Context(), f)
	if err != nil {
		a.readError(w, r, "count events", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
}

// countEvents answers a count. This is the seam for counts from rollups:
// a filter the rollups cover is answered there (O(buckets)); the rest by
// the store, which answers what its index selects and refuses a scan over
// its bound with a *ports.ScanError (a 422 naming what to add).
func (a *API) countEvents(ctx context.Context, f event.Filter) (int, error) {
	if n, ok := a.countFromRollups(ctx, f); ok { // stats.go
		return int(n), nil
	}
	return a.store.Count(ctx, f)
}

func (a *API) deleteJob(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	if err := event.CheckToken("job", job); err != nil {
		bad(w, badf("job %q in the path: %v", job, err))
		return
	}
	if err := checkParams(r.URL.Query()); err != nil {
		bad(w, err)
		return
	}
	n, err := a.store.DeleteJob(r.Context(), job)
	if err != nil {
		a.storeError(w, r, "delete job "+job, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"job_id": job, "deleted": n})
}

// lineError is the failure of one document of a POST body; Line counts from 1.
type lineError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

type postBody struct {
	Accepted int         `json:"accepted"`
	Errors   []lineError `json:"errors"`
}

// post logs one JSON document or JSON lines. Every valid line is logged even
// when others fail; 202 if at least one was accepted or none failed, 400 if
// every line failed, 503 if the logger is closed.
func (a *API) post(w http.ResponseWriter, r *http.Request) {
	if a.log == nil {
		writeError(w, http.StatusServiceUnavailable, "event intake is not enabled on this server")
		return
	}
	if err := checkParams(r.URL.Query()); err != nil {
		bad(w, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes; send fewer lines per request", MaxBody))
			return
		}
		bad(w, fmt.Errorf("read body: %w", err))
		return
	}
	res := postBody{Errors: []lineError{}}
	logOne := func(line int, doc []byte) (stop bool) {
		ev, err := event.Decode(doc)
		if err != nil {
			res.Errors = append(res.Errors, lineError{Line: line, Error: err.Error()})
			return false
		}
		switch err := a.log.Log(ev); {
		case err == nil:
			res.Accepted++
		case errors.Is(err, logger.ErrClosed):
			return true
		default:
			res.Errors = append(res.Errors, lineError{Line: line, Error: err.Error()})
		}
		return false
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		bad(w, errors.New("empty body: send one v1.0 JSON document or JSON lines"))
		return
	}
	if json.Valid(trimmed) {
		// One document, possibly spread over several lines.
		if logOne(1, trimmed) {
			writeError(w, http.StatusServiceUnavailable, "the server is shutting down; retry on another instance")
			return
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(make([]byte, 0, 64<<10), MaxLine)
		for line := 1; sc.Scan(); line++ {
			doc := bytes.TrimSpace(sc.Bytes())
			if len(doc) == 0 {
				continue
			}
			if logOne(line, doc) {
				writeError(w, http.StatusServiceUnavailable, fmt.Sprintf(
					"the server is shutting down after accepting %d lines; retry from line %d", res.Accepted, line))
				return
			}
		}
		if err := sc.Err(); err != nil {
			res.Errors = append(res.Errors, lineError{Line: -1, Error: fmt.Sprintf("%v (a line longer than %d bytes?)", err, MaxLine)})
		}
	}
	status := http.StatusAccepted
	if res.Accepted == 0 && len(res.Errors) > 0 {
		status = http.StatusBadRequest
	}
	writeJSON(w, status, res)
}

// healthBody is the answer of /healthz.
type healthBody struct {
	Status string     `json:"status"` // "ok" or "unavailable"
	Store  storeState `json:"store"`
	NATS   *natsState `json:"nats,omitempty"`
}

type storeState struct {
	OK      bool           `json:"ok"`
	Backend string         `json:"backend,omitempty"`
	RTTMS   float64        `json:"rtt_ms"`
	Detail  map[string]any `json:"detail,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// natsState is the NATS connection: its state and the server it is on
// (name, URL with secrets hidden, cluster name). On JetStream storage the
// stream's cluster (leader, replicas with current, offline, active_ms and
// lag) is in store.detail.cluster.
type natsState struct {
	Connected bool   `json:"connected"`
	Status    string `json:"status"`
	URL       string `json:"url,omitempty"`
	Server    string `json:"server,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	body := healthBody{Status: "ok"}
	h, err := a.store.Health(ctx)
	body.Store = storeState{OK: err == nil && h.OK, Backend: h.Backend, RTTMS: float64(h.RTT) / float64(time.Millisecond), Detail: h.Detail}
	if err != nil {
		body.Store.Error = err.Error()
	}
	if a.nc != nil {
		st := a.nc.Status()
		body.NATS = &natsState{Connected: a.nc.IsConnected(), Status: st.String(), URL: a.nc.ConnectedUrlRedacted(),
			Server: a.nc.ConnectedServerName(), Cluster: a.nc.ConnectedClusterName()}
	}
	status := http.StatusOK
	if !body.Store.OK || (body.NATS != nil && !body.NATS.Connected) {
		body.Status = "unavailable"
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}
