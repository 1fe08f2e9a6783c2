package jsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-go/events/ports"
)

type purgeRequest struct {
	Subject string `json:"filter,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
}

type purgeResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Success bool                `json:"success"`
	Purged  uint64              `json:"purged"`
}

// DeleteJob purges every event of jobID in the Store's environment and
// service ("naq.events.{env}.{svc}.{job}.*") and returns how many it
// removed; an unknown job gives 0, nil. A purge by subject moves no
// consumer's position: other readers go on where they were.
func (s *Store) DeleteJob(ctx context.Context, jobID string) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	filter, err := s.scheme.Job(s.cfg.env, s.cfg.svc, jobID)
	if err != nil {
		return 0, fmt.Errorf("jsstore: delete job: %w", err)
	}
	n, err := s.purge(ctx, purgeRequest{Subject: filter})
	if err != nil {
		return 0, fmt.Errorf("jsstore: delete job %s: %w", jobID, err)
	}
	return int(n), nil
}

// Cleanup removes events stored longer ago than MaxAge and returns how many
// it removed. The server already expires them on its own (limits
// retention), so Cleanup normally finds nothing and returns 0; it is an
// explicit purge for what the server has not expired yet. Retention by
// MaxMsgs and MaxBytes is the server's alone and never counted here. With
// MaxAge 0 (unlimited) it returns 0.
func (s *Store) Cleanup(ctx context.Context) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	if s.cfg.maxAge == 0 {
		return 0, nil
	}
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	// Info first: every message up to its last sequence was stored before
	// the direct get below looks for the first one at or after the cutoff.
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("jsstore: cleanup: stream info: %w", classify(err))
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	cutoff := time.Now().Add(-s.cfg.maxAge).UTC()
	body, _ := json.Marshal(getRequest{StartTime: &cutoff})
	resp, err := s.nc.RequestWithContext(ctx, s.apiDirectGet, body)
	if err != nil {
		return 0, fmt.Errorf("jsstore: cleanup: find first event after %s: %w", cutoff.Format(time.RFC3339), classify(err))
	}
	var keepFrom uint64
	switch status := resp.Header.Get("Status"); status {
	case "":
		keepFrom, err = strconv.ParseUint(resp.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("jsstore: cleanup: direct get without a sequence: %w", err)
		}
	case "404":
		keepFrom = info.State.LastSeq + 1
	default:
		return 0, fmt.Errorf("jsstore: cleanup: direct get: status %s %s", status, resp.Header.Get("Description"))
	}
	if keepFrom <= info.State.FirstSeq {
		return 0, nil
	}
	n, err := s.purge(ctx, purgeRequest{Seq: keepFrom})
	if err != nil {
		return 0, fmt.Errorf("jsstore: cleanup: %w", err)
	}
	// Only messages that existed at the Info above can have gone (keepFrom
	// is at most its LastSeq+1); the server's expiry racing this purge must
	// not make the count larger than that.
	return int(min(n, info.State.Msgs)), nil
}

// purge sends a stream purge request and returns how many messages it
// removed. (jetstream.Stream.Purge does not return the count.)
func (s *Store) purge(ctx context.Context, req purgeRequest) (uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	body, _ := json.Marshal(&req)
	var msg *nats.Msg
	// A purge the server refuses the user ends at once (an error wrapping
	// ErrPermission), not at the timeout.
	err := s.refusableRequest(ctx, strconv.Quote(s.apiPurge), s.refusedOneOf(s.apiPurge), func(ctx context.Context) (err error) {
		msg, err = s.nc.RequestWithContext(ctx, s.apiPurge, body)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purge %+v: %w", req, classify(err))
	}
	if msg.Header.Get("Status") == "503" {
		return 0, fmt.Errorf("purge %+v: %w", req, classify(nats.ErrNoResponders))
	}
	var resp purgeResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return 0, fmt.Errorf("purge %+v: bad response %q: %w", req, msg.Data, err)
	}
	if resp.Error != nil {
		return 0, fmt.Errorf("purge %+v: %w", req, classify(resp.Error))
	}
	return resp.Purged, nil
}

// DeleteService purges every event of the Store's environment and service
// ("naq.events.{env}.{svc}.>") with one purge request, whatever the number
// of jobs, and returns how many it removed.
func (s *Store) DeleteService(ctx context.Context) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	filter, err := s.scheme.Service(s.cfg.env, s.cfg.svc)
	if err != nil {
		return 0, fmt.Errorf("jsstore: delete service: %w", err)
	}
	n, err := s.purge(ctx, purgeRequest{Subject: filter})
	if err != nil {
		return 0, fmt.Errorf("jsstore: delete service %s/%s: %w", s.cfg.env, s.cfg.svc, err)
	}
	return int(n), nil
}

var _ ports.ServiceDeleter = (*Store)(nil)
