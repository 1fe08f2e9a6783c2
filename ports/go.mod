module github.com/naq-go/events/ports

go 1.26.0

require github.com/naq-go/events/domain v0.0.0

replace github.com/naq-go/events/domain => ../domain
