// Package tmpdeps pins deps.
package tmpdeps

import (
	_ "github.com/naq-go/events/adapters/tmpdeps"
	_ "go.uber.org/fx"
)
