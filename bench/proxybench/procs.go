package main

import (
	"os"
	"runtime"

	"github.com/sluicehq/sluice"
)

func envProcs() int { return runtime.GOMAXPROCS(0) }

func limits() []sluice.LimitConfig {
	if os.Getenv("PB_NOLIMIT") != "" {
		return []sluice.LimitConfig{}
	}
	return []sluice.LimitConfig{{Rate: "1000000/s", Burst: 100000}}
}

func quotaCfg() *sluice.QuotaConfig {
	if os.Getenv("PB_NOQUOTA") != "" {
		return &sluice.QuotaConfig{Disabled: true}
	}
	return nil
}
