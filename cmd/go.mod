module github.com/naq-go/events/cmd

go 1.26.0

require (
	github.com/naq-go/events/domain v0.0.0
	github.com/naq-go/events/ports v0.0.0
)

replace (
	github.com/naq-go/events/domain => ../domain
	github.com/naq-go/events/ports => ../ports
)

require (
	github.com/naq-go/events/adapters v0.0.0
	github.com/naq-go/events/app v0.0.0
)

replace (
	github.com/naq-go/events/adapters => ../adapters
	github.com/naq-go/events/app => ../app
)
