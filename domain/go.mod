module github.com/naq-go/events/domain

go 1.26.0
