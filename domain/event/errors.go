package event

import "errors"

// ErrInvalid is wrapped by every error about a malformed event, type, wire
// document or subject token. The wrapping error names the field and value.
var ErrInvalid = errors.New("invalid event")
