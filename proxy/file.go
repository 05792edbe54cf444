package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice"
)

// File is a sluice configuration file with a `proxy:` section: the
// pipeline settings at the top level, as sluice.LoadConfig reads them, and
// the proxy's own under `proxy`.
type File struct {
	sluice.Config `yaml:",inline"`
	// Proxy is the proxy section.
	Proxy Config `yaml:"proxy"`
}

// LoadFile reads and validates a configuration file strictly (unknown
// fields are errors). The returned Config has Pipeline set.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("proxy: load config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("proxy: %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a configuration file's YAML strictly and validates both the
// pipeline and the proxy section.
func Parse(data []byte) (Config, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c := f.Proxy
	c.Pipeline = f.Config // the proxy section names its routes
	if err := errors.Join(f.Config.Validate(), c.Validate()); err != nil {
		return Config{}, err
	}
	return c, nil
}

func joinErrs(errs []error) error { return errors.Join(errs...) }
