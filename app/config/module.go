package config

import "go.uber.org/fx"

// Module supplies cfg to an fx graph. cfg should have passed Validate.
func Module(cfg Config) fx.Option {
	return fx.Module("config", fx.Supply(cfg))
}
